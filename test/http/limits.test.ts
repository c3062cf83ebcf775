import { describe, expect, it } from "vitest"
import { conversation, postJson, startDaemon } from "../support/daemon.js"

describe("bearer API keys", () => {
  it("401 without a valid key on the API; health, ready and docs stay open; keys never leak", async () => {
    const daemon = await startDaemon({ env: { INSIGHTD_API_KEYS: "s3cret-key-one,s3cret-key-two" } })
    try {
      const attempts: Array<Record<string, string>> = [{}, { authorization: "Bearer wrong" }, { authorization: "s3cret-key-one" }]
      for (const headers of attempts) {
        const response = await fetch(`${daemon.baseUrl}/api/v1/insights`, { headers })
        expect(response.status).toBe(401)
        const body = (await response.json()) as { error: string; message: string }
        expect(body.error).toBe("unauthorized")
        expect(JSON.stringify(body)).not.toContain("s3cret")
      }
      expect((await postJson(daemon.baseUrl, "/api/v1/conversations", conversation())).status).toBe(401)
      const ok = await postJson(daemon.baseUrl, "/api/v1/conversations", conversation(), { authorization: "Bearer s3cret-key-two" })
      expect(ok.status).toBe(202)
      expect((await fetch(`${daemon.baseUrl}/api/v1/insights`, { headers: { authorization: "Bearer s3cret-key-one" } })).status).toBe(200)
      for (const open of ["/health", "/ready", "/openapi.json"]) expect((await fetch(`${daemon.baseUrl}${open}`)).status).toBe(200)
    } finally {
      expect(await daemon.stop()).toBe(0)
    }
    expect(daemon.stderr()).not.toContain("s3cret")
  })
})

describe("inbound rate limit", () => {
  it("429 with Retry-After beyond the limit; every 202 is stored", async () => {
    const daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "5" } })
    try {
      const responses = await Promise.all(
        Array.from({ length: 30 }, (_, i) => postJson(daemon.baseUrl, "/api/v1/conversations", conversation({ id: `conv_burst_${i}` })))
      )
      const limited = responses.filter((r) => r.status === 429)
      const accepted = responses.filter((r) => r.status === 202)
      expect(limited.length).toBeGreaterThan(0)
      expect(accepted.length).toBeGreaterThan(0)
      expect(accepted.length + limited.length).toBe(30)
      for (const response of limited) {
        const retryAfter = Number(response.headers.get("retry-after"))
        expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true)
        const body = (await response.json()) as { error: string; retry_after: number }
        expect(body.error).toBe("rate_limit_exceeded")
        expect(body.retry_after).toBeGreaterThanOrEqual(1)
      }
      for (const response of accepted) {
        const { conversation_id } = (await response.json()) as { conversation_id: string }
        expect((await fetch(`${daemon.baseUrl}/api/v1/conversations/${conversation_id}`)).status).toBe(200)
      }
      // GETs are not limited.
      expect((await fetch(`${daemon.baseUrl}/api/v1/insights`)).status).toBe(200)
    } finally {
      expect(await daemon.stop()).toBe(0)
    }
  })

  it("0 turns the limit off", async () => {
    const daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
    try {
      const responses = await Promise.all(Array.from({ length: 300 }, () => postJson(daemon.baseUrl, "/api/v1/conversations", conversation())))
      expect(responses.filter((r) => r.status !== 202)).toHaveLength(0)
    } finally {
      expect(await daemon.stop()).toBe(0)
    }
  })
})
