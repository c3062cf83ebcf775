/**
 * SPEC §5 "Graceful shutdown" whatever the signals: a supervisor that repeats SIGTERM, Ctrl-C
 * pressed twice, or SIGHUP (the terminal closed) must not end the daemon half-way with
 * conversations left `processing`. The Grok calls in flight (a slow fake Grok) are what the drain
 * waits for while the extra signals arrive.
 */
import { once } from "node:events"
import http from "node:http"
import net from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { type FakeGrok, startFakeGrok } from "../support/fake-grok.mjs"
import { type ChildDaemon, conversation, spawnDaemon, statusCounts, waitUntil, withDb } from "../support/child.js"

const GRACE_MS = 4_000
let fake: FakeGrok | undefined
const daemons: Array<ChildDaemon> = []
afterEach(async () => {
  for (const daemon of daemons.splice(0)) if (daemon.isRunning()) daemon.proc.kill("SIGKILL")
  await fake?.close()
  fake = undefined
})

/** A daemon on a fake Grok that answers after `latencyMs`, with 30 conversations being analysed. */
const busyDaemon = async (latencyMs: number): Promise<ChildDaemon> => {
  fake = await startFakeGrok({ latencyMs })
  const daemon = await spawnDaemon({
    env: { XAI_API_KEY: "xai-test-key", XAI_BASE_URL: fake.baseUrl, INSIGHTD_ANALYZER: "grok", INSIGHTD_RATE_LIMIT: "0", INSIGHTD_GRACE_PERIOD_MS: String(GRACE_MS) }
  })
  daemons.push(daemon)
  const response = await fetch(`${daemon.baseUrl}/api/v1/conversations/bulk`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(Array.from({ length: 30 }, (_, i) => conversation({ id: `conv_signal_${i}` })))
  })
  expect(response.status).toBe(202)
  await waitUntil(() => fake!.calls.length > 0 && statusCounts(daemon.dbPath).processing > 0, 10_000, "calls in flight")
  return daemon
}

describe("signals during shutdown", () => {
  it.each([
    ["SIGTERM", "SIGTERM"],
    ["SIGINT", "SIGINT"],
    ["SIGTERM", "SIGINT"]
  ] as const)("%s then %s during the drain: the second is logged and ignored, exit 0, nothing left processing", async (first, second) => {
    const daemon = await busyDaemon(1_500)
    const stopping = daemon.stop(first, GRACE_MS + 5_000)
    await daemon.waitForLog((entry) => entry.message === "shutdown: sources stopped, draining", 5_000, "draining")
    daemon.proc.kill(second)
    const stopped = await stopping
    expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 0, signal: null })
    expect(daemon.logsWith("shutdown: already draining; signal ignored").map((entry) => entry.signal)).toEqual([second])
    expect(daemon.logsWith("shutdown: complete").length).toBe(1)
    expect(statusCounts(daemon.dbPath).processing).toBe(0)
  }, 30_000)

  it("SIGHUP drains like SIGTERM: exit 0, the calls in flight are stored, nothing left processing", async () => {
    const daemon = await busyDaemon(1_000)
    const stopped = await daemon.stop("SIGHUP", GRACE_MS + 5_000)
    expect({ code: stopped.code, signal: stopped.signal }).toEqual({ code: 0, signal: null })
    expect(daemon.logsWith("shutdown: signal received, draining").length).toBe(1)
    expect(daemon.logsWith("shutdown: complete").length).toBe(1)
    const counts = statusCounts(daemon.dbPath)
    expect(counts.processing).toBe(0)
    expect(counts.completed).toBeGreaterThan(0)
  }, 30_000)

  it("while draining, every answer closes its connection, so a keep-alive client never sends into a socket about to be reset", async () => {
    const daemon = await busyDaemon(2_000)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const post = () =>
      new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const request = http.request(
          { host: "127.0.0.1", port: daemon.port, path: "/api/v1/conversations", method: "POST", agent, headers: { "content-type": "application/json" } },
          (response) => {
            response.resume()
            response.on("end", () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection }))
          }
        )
        request.on("error", reject)
        request.end(JSON.stringify(conversation()))
      })
    expect(await post()).toEqual({ status: 202, connection: "keep-alive" })
    const stopping = daemon.stop("SIGTERM", GRACE_MS + 5_000)
    await daemon.waitForLog((entry) => entry.message === "shutdown: sources stopped, draining", 5_000, "draining")
    expect(await post()).toEqual({ status: 503, connection: "close" })
    agent.destroy()
    expect((await stopping).code).toBe(0)
  }, 30_000)

  it("a request still arriving when the drain ends is answered 503 with Connection: close, not reset, and not stored", async () => {
    const daemon = await spawnDaemon({ env: { INSIGHTD_RATE_LIMIT: "0", INSIGHTD_GRACE_PERIOD_MS: String(GRACE_MS) } })
    daemons.push(daemon)
    const socket = net.connect(daemon.port, "127.0.0.1")
    await once(socket, "connect")
    let received = ""
    let failure: string | undefined
    socket.setEncoding("utf8").on("data", (chunk: string) => (received += chunk))
    socket.on("error", (error: NodeJS.ErrnoException) => (failure = error.code))
    const closed = once(socket, "close")
    const body = JSON.stringify(conversation({ id: "conv_late_request" }))
    socket.write("POST /api/v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    const stopping = daemon.stop("SIGTERM", GRACE_MS + 5_000)
    await daemon.waitForLog((entry) => entry.message === "shutdown: complete", 5_000, "the drain to end")
    await new Promise((done) => setTimeout(done, 30))
    socket.write(`Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    await closed
    expect(failure).toBeUndefined()
    expect(received).toMatch(/^HTTP\/1\.1 503 /)
    expect(received.toLowerCase()).toContain("connection: close")
    expect((await stopping).code).toBe(0)
    expect(withDb(daemon.dbPath, (db) => db.prepare("SELECT count(*) AS n FROM conversations WHERE id = 'conv_late_request'").get())).toEqual({ n: 0 })
  }, 30_000)

  it("a shutdown whose grace period cuts off calls already sent keeps their attempt; claims still waiting for a call slot get theirs back", async () => {
    fake = await startFakeGrok({ latencyMs: 8_000 })
    const daemon = await spawnDaemon({
      env: { XAI_API_KEY: "xai-test-key", XAI_BASE_URL: fake.baseUrl, INSIGHTD_ANALYZER: "grok", INSIGHTD_RATE_LIMIT: "0", INSIGHTD_GRACE_PERIOD_MS: "1000", INSIGHTD_GROK_CALLS_PER_SECOND: "2" }
    })
    daemons.push(daemon)
    const response = await fetch(`${daemon.baseUrl}/api/v1/conversations/bulk`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(Array.from({ length: 200 }, (_, i) => conversation({ id: `conv_cut_${i}` })))
    })
    expect(response.status).toBe(202)
    await waitUntil(() => fake!.calls.length >= 2, 10_000, "two calls in flight")
    const stopped = await daemon.stop("SIGTERM", 15_000)
    expect(stopped.code).toBe(0)
    expect(daemon.logsWith("shutdown: grace period over, interrupting in-flight analysis").length).toBe(1)
    const sent = new Set(fake.calls.flatMap((call) => call.ids))
    const rows = withDb(daemon.dbPath, (db) => db.prepare("SELECT id, status, attempts FROM conversations").all() as Array<{ id: string; status: string; attempts: number }>)
    expect(rows.filter((row) => row.status === "processing")).toEqual([])
    const attemptsOf = (carried: boolean) => new Set(rows.filter((row) => sent.has(row.id) === carried).map((row) => `${row.status}:${row.attempts}`))
    expect(sent.size).toBeGreaterThan(0)
    expect(attemptsOf(true)).toEqual(new Set(["pending:1"]))
    expect(attemptsOf(false)).toEqual(new Set(["pending:0"]))
  }, 30_000)

  it("a conversation handed back by a shutdown after its calls failed keeps the attempt: restarts do not renew its call budget", async () => {
    fake = await startFakeGrok({ fault: () => "500" })
    const daemon = await spawnDaemon({
      env: { XAI_API_KEY: "xai-test-key", XAI_BASE_URL: fake.baseUrl, INSIGHTD_ANALYZER: "grok", INSIGHTD_RATE_LIMIT: "0", INSIGHTD_GRACE_PERIOD_MS: String(GRACE_MS) }
    })
    daemons.push(daemon)
    const created = await fetch(`${daemon.baseUrl}/api/v1/conversations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(conversation({ id: "conv_budget_across_restarts" }))
    })
    expect(created.status).toBe(202)
    // Its first call failed (500); the retry waits its backoff when SIGTERM comes.
    await waitUntil(() => fake!.calls.length >= 1 && fake!.calls[0].status === 500, 10_000, "a failed call")
    expect((await daemon.stop("SIGTERM", GRACE_MS + 5_000)).code).toBe(0)
    const row = withDb(daemon.dbPath, (db) => db.prepare("SELECT status, attempts FROM conversations WHERE id = 'conv_budget_across_restarts'").get())
    expect(row).toEqual({ status: "pending", attempts: 1 })
  }, 30_000)
})
