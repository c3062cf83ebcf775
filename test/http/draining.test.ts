/**
 * SPEC §4 503 `unavailable` while draining on shutdown, against a real daemon with a backlog of
 * 10,000 conversations being analysed. Also: `insight` is null while a conversation is still
 * pending, and a pending conversation cannot be retried (409).
 *
 * Timing: the drain of a local-analyzer daemon is short (the in-flight batch finishes, the rest
 * of the backlog stays pending), so a 503 for a *new* request is a race. What makes the test
 * deterministic is a request whose body is still being uploaded when SIGTERM arrives: the
 * daemon must answer it 503 (it refuses bodies still arriving once draining starts). On top of
 * that, eight clients keep POSTing through the shutdown; any answer they get must be a 202 or a
 * 503 (never a 500), and every 202 must be in the database afterwards.
 */
import Database from "better-sqlite3"
import { request as httpRequest } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { conversation, type RunningDaemon, startDaemon, waitFor } from "../support/server.js"
import { expectError, makeClient, sleep } from "./helpers.js"

const BACKLOG = 10_000

let daemon: RunningDaemon
const client = makeClient(() => daemon)
let lastBacklogId = ""

beforeAll(async () => {
  daemon = await startDaemon({ env: { INSIGHTD_GRACE_PERIOD_MS: "3000", INSIGHTD_RATE_LIMIT: "0" } })
  for (let b = 0; b < BACKLOG / 1000; b++) {
    const items = Array.from({ length: 1000 }, (_, i) => conversation({ text: `backlog ${b}-${i}: my order is late and nobody answers` }))
    const response = await client.post("/api/v1/conversations/bulk", items)
    expect(response.status).toBe(202)
    const body = (await response.json()) as { conversation_ids: Array<string> }
    lastBacklogId = body.conversation_ids[body.conversation_ids.length - 1]
  }
})
afterAll(async () => {
  if (daemon === undefined) return
  await daemon.stop()
  daemon.cleanup()
  expect(client.serverErrors(), "no response may be a 500").toEqual([])
})

/**
 * Starts a POST whose body never finishes uploading; resolves with the response. A declared
 * length over 64 KiB is read by the HttpApi handler, a small one by the hot ingest route.
 */
const stalledUpload = (declaredLength: number) => {
  let settle!: (value: { status: number; body: string; headers: Record<string, unknown> } | { error: string }) => void
  const result = new Promise<{ status: number; body: string; headers: Record<string, unknown> } | { error: string }>((resolve) => (settle = resolve))
  const req = httpRequest(
    `${daemon.baseUrl}/api/v1/conversations`,
    { method: "POST", headers: { "content-type": "application/json", "content-length": String(declaredLength) } },
    (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (c: string) => (body += c))
      res.on("end", () => settle({ status: res.statusCode ?? 0, body, headers: res.headers }))
      res.on("error", (error) => settle({ error: error.message }))
    }
  )
  req.on("error", (error) => settle({ error: error.message }))
  req.write('{"author":"@slow","timestamp":"2024-05-01T12:00:00Z","text":"')
  return { result, abort: () => req.destroy() }
}

describe("with a backlog being analysed", () => {
  it("a conversation still pending has insight null, and retrying it is a 409", async () => {
    const view = await client.getJson<{ status: string; insight: unknown; attempts: number; last_error: unknown }>(`/api/v1/conversations/${lastBacklogId}`)
    expect(view.status).toBe("pending")
    expect(view.insight).toBeNull()
    expect(view.attempts).toBe(0)
    expect(view.last_error).toBeNull()
    await expectError(await client.post(`/api/v1/conversations/${lastBacklogId}/retry`, ""), 409, "conflict")
  })

  it("/health is 200 {status: ok} and /ready is 200 while the backlog is worked", async () => {
    const health = await client.get("/health")
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: "ok" })
    const ready = await client.get("/ready")
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ status: "ready" })
  })
})

describe("SIGTERM while busy", () => {
  it("answers 503 unavailable to submissions while draining, then exits 0 with every 202 stored", async () => {
    const stalled = stalledUpload(100_000)
    const stalledSmall = stalledUpload(2_000)
    await sleep(100) // the stalled request is in the handler, reading its body

    const accepted: Array<string> = []
    const statuses: Array<number> = []
    const unavailableBodies: Array<string> = []
    let transportErrors = 0
    let stop = false
    const hammer = async (worker: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const response = await fetch(`${daemon.baseUrl}/api/v1/conversations`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(conversation({ text: `during shutdown ${worker}-${i}` }))
          })
          statuses.push(response.status)
          const text = await response.text()
          if (response.status === 202) accepted.push((JSON.parse(text) as { conversation_id: string }).conversation_id)
          if (response.status === 503) unavailableBodies.push(text)
        } catch {
          transportErrors++ // the server has closed: expected at the end
          await sleep(5)
        }
      }
    }
    const workers = Array.from({ length: 8 }, (_, w) => hammer(w))
    // SIGTERM only once the clients are well under way (some 202s already in).
    await waitFor(() => accepted.length >= 8, 15_000, "the clients' first 202s")

    const exitCode = daemon.stop("SIGTERM", 20_000)
    const refused = await stalled.result
    // While draining, /ready (if still answered) must say so.
    const ready = await fetch(`${daemon.baseUrl}/ready`).then(
      async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }),
      () => undefined
    )
    expect(await exitCode).toBe(0)
    stop = true
    await Promise.all(workers)

    // The uploads in progress when SIGTERM arrived are refused with 503 (deterministic), on the
    // HttpApi handler (large body) and on the hot route (small body) alike, with Retry-After.
    for (const upload of [refused, await stalledSmall.result]) {
      if ("error" in upload) throw new Error(`stalled upload got no response: ${upload.error}`)
      expect(upload.status).toBe(503)
      expect(upload.headers["retry-after"]).toBe("5")
      const body = JSON.parse(upload.body) as { error: string; message: string; details: Array<unknown> }
      expect(Object.keys(body).sort()).toEqual(["details", "error", "message"])
      expect(body.error).toBe("unavailable")
      expect(body.details).toEqual([{ reason: "draining" }])
    }

    if (ready !== undefined) {
      expect(ready.status).toBe(503)
      expect(ready.body).toMatchObject({ status: "not_ready", reason: "draining" })
    }

    // The concurrent clients got only 202s (before) and 503s (during); never anything else.
    expect(statuses.filter((s) => s !== 202 && s !== 503)).toEqual([])
    for (const text of unavailableBodies) expect(JSON.parse(text)).toMatchObject({ error: "unavailable" })
    expect(accepted.length).toBeGreaterThan(0)

    // 202 means durable; nothing is left processing; the backlog is still there (pending).
    const db = new Database(daemon.dbPath, { readonly: true })
    try {
      const count = db.prepare(`SELECT COUNT(*) AS n FROM conversations WHERE id IN (${accepted.map(() => "?").join(",")})`).get(...accepted) as { n: number }
      expect(count.n).toBe(accepted.length)
      const byStatus = Object.fromEntries(
        (db.prepare("SELECT status, COUNT(*) AS n FROM conversations GROUP BY status").all() as Array<{ status: string; n: number }>).map((r) => [r.status, r.n])
      )
      expect(byStatus.processing ?? 0).toBe(0)
      const total = Object.values(byStatus).reduce((a, b) => a + b, 0)
      // (a request whose 202 was lost with its connection at close could add rows we never heard of)
      expect(total).toBeGreaterThanOrEqual(BACKLOG + accepted.length)
      expect(total).toBeLessThanOrEqual(BACKLOG + accepted.length + transportErrors)
    } finally {
      db.close()
    }
    const messages = daemon.logs().map((l) => l.message)
    expect(messages).toContain("shutdown: signal received, draining")
    expect(messages).toContain("shutdown: complete")
    console.info(`drain: ${unavailableBodies.length} hammer 503s, ${accepted.length} 202s, ${transportErrors} transport errors after close`)
  })
})
