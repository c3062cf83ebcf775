/**
 * SPEC §4 401 (bearer API keys) and 429 (inbound rate limit) against real daemons, one per
 * concern. (The limit-off case, INSIGHTD_RATE_LIMIT=0 with a burst of 300, is in
 * conversations.test.ts, whose daemon runs that way.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { conversation, type RunningDaemon, startDaemon } from "../support/server.js"
import { expectError, makeClient, sleep } from "./helpers.js"

const KEYS = ["s3cret-key-one", "s3cret-key-two"]

describe("401 unauthorized when API keys are configured", () => {
  let daemon: RunningDaemon
  const client = makeClient(() => daemon)
  /** Every response body and header seen in this block, to prove no key is ever echoed. */
  const transcript: Array<string> = []
  const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const response = await client.request(method, path, {
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await response.text()
    transcript.push(`${response.status} ${JSON.stringify([...response.headers])} ${text}`)
    return { status: response.status, text, headers: response.headers }
  }
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

  beforeAll(async () => {
    // Spaces and an empty entry are ignored (an empty key must never let "Bearer " through).
    daemon = await startDaemon({ env: { INSIGHTD_API_KEYS: ` ${KEYS[0]} , ${KEYS[1]} ,,`, INSIGHTD_RATE_LIMIT: "0" } })
  })
  afterAll(async () => {
    if (daemon === undefined) return
    expect(await daemon.stop()).toBe(0)
    daemon.cleanup()
    expect(client.serverErrors()).toEqual([])
    // The keys never appear in any log line (start-up config included) nor in any response.
    for (const key of KEYS) {
      expect(daemon.stderr()).not.toContain(key)
      for (const line of transcript) expect(line).not.toContain(key)
    }
  })

  const routes: Array<[string, string, unknown?]> = [
    ["POST", "/api/v1/conversations", conversation()],
    ["POST", "/api/v1/conversations/bulk", [conversation()]],
    ["GET", "/api/v1/conversations/conv_anything"],
    ["POST", "/api/v1/conversations/conv_anything/retry", {}],
    ["GET", "/api/v1/insights"],
    ["GET", "/api/v1/insights?limit=0"]
  ]
  const badCredentials: Array<[string, Record<string, string>]> = [
    ["no header", {}],
    ["wrong key", bearer("wrong-key")],
    ["empty bearer", { authorization: "Bearer " }],
    ["key without scheme", { authorization: KEYS[0] }],
    ["basic scheme", { authorization: `Basic ${Buffer.from(`user:${KEYS[0]}`).toString("base64")}` }],
    ["prefix of a key", bearer(KEYS[0].slice(0, -1))],
    ["key plus extra", bearer(`${KEYS[0]}x`)],
    ["both keys joined", bearer(KEYS.join(","))]
  ]

  it("every /api/v1 route answers 401 unauthorized without a valid bearer key, before any other check", async () => {
    for (const [method, path, body] of routes) {
      for (const [what, headers] of badCredentials) {
        const response = await client.request(method, path, {
          headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
          body: body === undefined ? undefined : JSON.stringify(body)
        })
        const error = await expectError(response.clone(), 401, "unauthorized")
        expect(error.details).toEqual([])
        transcript.push(`${response.status} ${JSON.stringify([...response.headers])} ${await response.text()}`)
        expect(error.message, `${method} ${path} with ${what}`).not.toContain("wrong-key")
      }
    }
  })

  it("a path spelt another way (case, percent-encoding, doubled slash, trailing slash) gets no further without a key", async () => {
    const spellings = ["/API/v1/insights", "/Api/V1/insights/summary", "/%61pi/v1/insights", "/api/v1/%69nsights", "//api/v1/insights", "/api/v1/insights/", "/api//v1/insights"]
    for (const path of spellings) {
      const response = await client.request("GET", path)
      expect(response.status, path).toBe(401)
      await response.text()
    }
    const stored = await client.request("POST", "/API/v1/conversations", {
      headers: { "content-type": "application/json" },
      body: JSON.stringify(conversation({ id: "conv_sneaked_in" }))
    })
    expect(stored.status).toBe(401)
    await stored.text()
    const lookup = await call("GET", "/api/v1/conversations/conv_sneaked_in", bearer(KEYS[0]))
    expect(lookup.status).toBe(404)
    // With a key, a path in other letters is simply not an endpoint.
    expect((await call("GET", "/API/v1/insights", bearer(KEYS[0]))).status).toBe(404)
  })

  it("either configured key is accepted on every route", async () => {
    for (const key of KEYS) {
      const created = await call("POST", "/api/v1/conversations", bearer(key), conversation())
      expect(created.status).toBe(202)
      const id = (JSON.parse(created.text) as { conversation_id: string }).conversation_id
      expect((await call("POST", "/api/v1/conversations/bulk", bearer(key), [conversation()])).status).toBe(202)
      expect((await call("GET", `/api/v1/conversations/${id}`, bearer(key))).status).toBe(200)
      expect((await call("GET", "/api/v1/conversations/conv_unknown", bearer(key))).status).toBe(404)
      expect((await call("POST", "/api/v1/conversations/conv_unknown/retry", bearer(key), {})).status).toBe(404)
      expect((await call("GET", "/api/v1/insights", bearer(key))).status).toBe(200)
      expect((await call("GET", "/api/v1/insights?limit=0", bearer(key))).status).toBe(400)
    }
  })

  it("the scheme name is case-insensitive (RFC 7235 §2.1): `bearer KEY` is accepted", async () => {
    expect((await call("GET", "/api/v1/insights", { authorization: `bearer ${KEYS[0]}` })).status).toBe(200)
    expect((await call("GET", "/api/v1/insights", { authorization: `BEARER ${KEYS[1]}` })).status).toBe(200)
  })

  it("/health, /ready, /metrics, the docs and the dashboard page stay open", async () => {
    const health = await call("GET", "/health", {})
    expect(health.status).toBe(200)
    expect(JSON.parse(health.text)).toEqual({ status: "ok" })
    expect((await call("GET", "/ready", {})).status).toBe(200)
    expect((await call("GET", "/health", bearer("wrong-key"))).status).toBe(200)
    for (const path of ["/metrics", "/docs", "/openapi.json", "/"]) expect((await call("GET", path, {})).status, path).toBe(200)
    // As the router reads them: a trailing slash, or `;` ending the path (a probe configured so).
    for (const path of ["/health/", "/ready/", "/metrics/", "/health;x"]) expect((await call("GET", path, {})).status, path).toBe(200)
  })
})

describe("429 rate_limit_exceeded beyond INSIGHTD_RATE_LIMIT", () => {
  let daemon: RunningDaemon
  const client = makeClient(() => daemon)

  beforeAll(async () => {
    daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "5" } })
  })
  afterAll(async () => {
    if (daemon === undefined) return
    expect(await daemon.stop()).toBe(0)
    daemon.cleanup()
    expect(client.serverErrors()).toEqual([])
  })

  it("a burst of 30 concurrent POSTs: some 429 with Retry-After ≥ 1 (header and body); every 202 is stored", async () => {
    const started = Date.now()
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => client.post("/api/v1/conversations", conversation({ id: `conv_burst_${i}` }))))
    const elapsedSeconds = (Date.now() - started) / 1000
    const limited = responses.filter((r) => r.status === 429)
    const accepted = responses.filter((r) => r.status === 202)
    expect(accepted.length + limited.length).toBe(30)
    expect(limited.length).toBeGreaterThan(0)
    expect(accepted.length).toBeGreaterThan(0)
    // at most 5 in any second (not a bucket of 5 refilled while the burst lasts)
    expect(accepted.length).toBeLessThanOrEqual(5 * (Math.floor(elapsedSeconds) + 1))
    for (const response of limited) {
      const header = response.headers.get("retry-after")
      expect(header).toMatch(/^\d+$/)
      expect(Number(header)).toBeGreaterThanOrEqual(1)
      const error = await expectError(response, 429, "rate_limit_exceeded")
      expect(Number.isInteger(error.retry_after)).toBe(true)
      expect(error.retry_after!).toBeGreaterThanOrEqual(1)
      expect(error.retry_after).toBe(Number(header))
    }
    for (const response of accepted) {
      const { conversation_id } = (await response.json()) as { conversation_id: string }
      expect((await client.getJson<{ id: string }>(`/api/v1/conversations/${conversation_id}`)).id).toBe(conversation_id)
    }
    // And a refused one was really not stored.
    const refusedIndex = responses.findIndex((r) => r.status === 429)
    await expectError(await client.get(`/api/v1/conversations/conv_burst_${refusedIndex}`), 404, "not_found")
  })

  it("a POST to the path spelt in other letters is limited too (and not served)", async () => {
    await sleep(1_100)
    const responses = await Promise.all(Array.from({ length: 20 }, () => client.post("/API/v1/conversations", conversation())))
    const statuses = responses.map((r) => r.status)
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(15)
    expect(statuses.filter((status) => status !== 429).every((status) => status === 404)).toBe(true)
    await sleep(1_100)
  })

  it("bulk and retry POSTs count too; GETs are never limited", async () => {
    await sleep(1200) // refill
    const posts = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? client.post("/api/v1/conversations/bulk", [conversation()]) : client.post("/api/v1/conversations/conv_nope/retry", "")))
    )
    expect(posts.filter((r) => r.status === 429).length).toBeGreaterThan(0)
    for (const r of posts) expect([202, 404, 429]).toContain(r.status)
    const gets = await Promise.all(Array.from({ length: 50 }, () => client.get("/api/v1/insights?limit=1")))
    expect(gets.filter((r) => r.status !== 200).map((r) => r.status)).toEqual([])
  })

  it("after waiting Retry-After seconds a POST is accepted again", async () => {
    let retryAfter = 1
    for (let i = 0; i < 20; i++) {
      const response = await client.post("/api/v1/conversations", conversation())
      if (response.status === 429) {
        retryAfter = Number(response.headers.get("retry-after"))
        break
      }
    }
    await sleep(retryAfter * 1000)
    expect((await client.post("/api/v1/conversations", conversation())).status).toBe(202)
  })
})
