/**
 * `insightd ingest --url` against the real daemon (a child process on a loopback port): a low
 * inbound rate limit is waited out (429 Retry-After) until every line is accepted, lines the
 * daemon refuses are reported by number while the rest of their chunk is sent again, API keys,
 * and an unreachable daemon.
 */
import Database from "better-sqlite3"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningDaemon, startDaemon } from "../support/server.js"
import { generateTwcs } from "../../bench/gen-twcs.mjs"
import { fixture, rejectedLines, runCli } from "./run.js"

const work = mkdtempSync(join(tmpdir(), "insightd-cli-ingest-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const storedCount = (dbPath: string, where = "1 = 1"): number => {
  const db = new Database(dbPath, { readonly: true })
  try {
    return Number((db.prepare(`SELECT COUNT(*) AS n FROM conversations WHERE ${where}`).get() as { n: number }).n)
  } finally {
    db.close()
  }
}

const summary = (logs: ReadonlyArray<Record<string, unknown>>) => logs.find((log) => log.message === "ingest finished") ?? {}

const conversationsFile = (name: string, count: number, prefix: string): string => {
  const file = join(work, name)
  const lines = Array.from({ length: count }, (_, i) =>
    JSON.stringify({ id: `conv_${prefix}${i}`, author: `@ing${i}`, timestamp: "2024-08-01T10:00:00Z", text: `ticket ${i}: my refund has not arrived yet` })
  )
  writeFileSync(file, `${lines.join("\n")}\n`)
  return file
}

describe("insightd ingest against a rate-limited daemon", () => {
  let daemon: RunningDaemon
  beforeAll(async () => {
    daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "2" } })
  })
  afterAll(async () => {
    expect(await daemon.stop()).toBe(0)
    daemon.cleanup()
  })

  it("sends a twcs CSV as import-csv rebuilds it: one conversation per thread, all accepted, idempotent on a second run", async () => {
    const file = join(work, "twcs.csv")
    const truth = (await generateTwcs({ tweets: 1_500, out: file, seed: 11, keepTruth: true })) as { threads: ReadonlyArray<unknown> }
    const result = await runCli(["ingest", "--url", daemon.baseUrl, "--batch-size", "1000", file])
    expect(result.code, result.stderr.slice(-2000)).toBe(0)
    expect(summary(result.logs)).toMatchObject({ accepted: truth.threads.length, rejected: 0, not_delivered: 0 })
    expect(storedCount(daemon.dbPath, "id LIKE 'conv_twcs_%'")).toBe(truth.threads.length)
    const again = await runCli(["ingest", "--url", daemon.baseUrl, "--batch-size", "1000", file])
    expect(again.code).toBe(0)
    expect(storedCount(daemon.dbPath, "id LIKE 'conv_twcs_%'")).toBe(truth.threads.length)
  })

  it("a --url where nothing takes conversations (404) stops at once with one message, blaming no line", async () => {
    const file = conversationsFile("wrong-url.jsonl", 6, "wu")
    const result = await runCli(["ingest", "--url", `${daemon.baseUrl}/api`, "--batch-size", "2", "--concurrency", "1", file])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("answered HTTP 404")
    expect(result.stderr).toContain("--url must be the daemon's base URL")
    expect(rejectedLines(result)).toEqual([])
  })

  it("waits out the 429s and gets every line accepted", async () => {
    const file = conversationsFile("forty.jsonl", 40, "rl")
    const result = await runCli(["ingest", "--url", daemon.baseUrl, "--batch-size", "4", "--concurrency", "4", file])
    expect(result.code).toBe(0)
    expect(result.stdout).toBe("")
    const counts = summary(result.logs)
    expect(counts).toMatchObject({ accepted: 40, rejected: 0 })
    // 10 requests at 4 at a time against 2 per second: the daemon answered 429 and was waited out.
    expect(Number(counts.rate_limited)).toBeGreaterThan(0)
    expect(storedCount(daemon.dbPath, "id LIKE 'conv_rl%'")).toBe(40)
  })

  it("reports refused lines by number, sends the rest of their chunk again, exits 1 (stdin input)", async () => {
    const before = storedCount(daemon.dbPath)
    const result = await runCli(["ingest", "--url", daemon.baseUrl, "--batch-size", "100", "-"], { input: { file: fixture("mixed.jsonl") } })
    expect(result.code).toBe(1)
    expect(rejectedLines(result).sort((a, b) => a - b)).toEqual([3, 4, 6, 8, 9, 10])
    expect(String(result.logs.find((log) => log.line === 6)?.reason)).toContain("timestamp")
    // The daemon numbers the lines of the body it got, which differ from the input's once blank
    // lines are dropped or a chunk is sent again: only the input's line numbers may appear.
    const notJson = String(result.logs.find((log) => log.line === 3)?.message)
    expect(notJson).toMatch(/^line 3 rejected: not valid JSON/)
    expect(notJson).not.toMatch(/line \d+ is not valid JSON/)
    expect(summary(result.logs)).toMatchObject({ accepted: 4, rejected: 6 })
    expect(storedCount(daemon.dbPath) - before).toBe(4)
    expect(storedCount(daemon.dbPath, "id IN ('conv_mx01', 'conv_mx07', 'conv_mx11')")).toBe(3)
  })

  it("rejects a line whose id exists with different content (409) and stores the others of its chunk", async () => {
    const lines = [
      JSON.stringify({ id: "conv_rl0", author: "@someone-else", timestamp: "2024-08-01T10:00:00Z", text: "different content" }),
      JSON.stringify({ id: "conv_cf1", author: "@new", timestamp: "2024-08-02T10:00:00Z", text: "fresh one" }),
      JSON.stringify({ id: "conv_rl1", author: "@ing1", timestamp: "2024-08-01T10:00:00Z", text: "ticket 1: my refund has not arrived yet" })
    ]
    const result = await runCli(["ingest", "--url", daemon.baseUrl], { input: `${lines.join("\n")}\n` })
    expect(result.code).toBe(1)
    expect(rejectedLines(result)).toEqual([1])
    expect(summary(result.logs)).toMatchObject({ accepted: 2, rejected: 1 })
    expect(storedCount(daemon.dbPath, "id = 'conv_cf1'")).toBe(1)
  })

  it("refuses a batch size above 1000 before sending anything", async () => {
    const result = await runCli(["ingest", "--url", daemon.baseUrl, "--batch-size", "5000"], { input: "" })
    expect(result.code).toBe(2) // a wrong command line, not rejected input
    expect(result.stderr).toContain("--batch-size")
  })
})

describe("insightd ingest with API keys", () => {
  it("needs the key: refused without it, accepted with --api-key or INSIGHTD_API_KEY", async () => {
    const daemon = await startDaemon({ env: { INSIGHTD_API_KEYS: "key-one,key-two" } })
    try {
      const file = conversationsFile("keyed.jsonl", 5, "key")
      const without = await runCli(["ingest", "--url", daemon.baseUrl, file])
      expect(without.code).toBe(1)
      expect(without.stderr).toContain("--api-key")
      expect(without.stderr).not.toContain("key-one")
      // A file of two chunks, the first ~0.5 MB: refused while the rest of the file is unread. It
      // used to hang in 3 runs of 4 (reading the file could not be interrupted), SIGTERM too.
      const big = join(work, "keyed-big.jsonl")
      const padding = "my refund has not arrived yet. ".repeat(30)
      writeFileSync(big, `${Array.from({ length: 561 }, (_, i) => JSON.stringify({ id: `conv_keybig${i}`, author: "@a", timestamp: "2024-08-01T10:00:00Z", text: `${i}: ${padding}` })).join("\n")}\n`)
      for (let run = 0; run < 4; run++) {
        const refused = await runCli(["ingest", "--url", daemon.baseUrl, big], { timeoutMs: 20_000 })
        expect(refused.code, `run ${run}: ${refused.stderr.slice(-500)}`).toBe(1)
        expect(refused.stderr).toContain("HTTP 401")
      }
      const withOption = await runCli(["ingest", "--url", daemon.baseUrl, "--api-key", "key-two", file])
      expect(withOption.code).toBe(0)
      expect(withOption.stderr).not.toContain("key-two")
      const withEnv = await runCli(["ingest", "--url", daemon.baseUrl, file], { env: { INSIGHTD_API_KEY: "key-one" } })
      expect(withEnv.code).toBe(0)
      expect(summary(withEnv.logs)).toMatchObject({ accepted: 5, rejected: 0 })
      expect(storedCount(daemon.dbPath, "id LIKE 'conv_key%'")).toBe(5)
    } finally {
      expect(await daemon.stop()).toBe(0)
      daemon.cleanup()
    }
  })
})

describe("insightd ingest without a daemon", () => {
  const closedPort = () =>
    new Promise<number>((done) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const address = server.address()
        server.close(() => done(typeof address === "object" && address !== null ? address.port : 0))
      })
    })

  it("retries, then reports the lines it could not deliver (not as rejected) and exits 1", async () => {
    const port = await closedPort()
    const file = conversationsFile("nowhere.jsonl", 3, "nw")
    const result = await runCli(["ingest", "--url", `http://127.0.0.1:${port}`, "--retries", "2", file])
    expect(result.code).toBe(1)
    expect(summary(result.logs)).toMatchObject({ accepted: 0, rejected: 0, not_delivered: 3, retries: 2, requests: 3 })
    // One warning per retry that happens, with its delay; none for the attempt it gives up after.
    const retryLogs = result.logs.filter((log) => log.message === "request failed; retrying with backoff")
    expect(retryLogs).toHaveLength(2)
    for (const log of retryLogs) expect(log.delay_ms).toBeGreaterThan(0)
    expect(result.stderr).toContain("lines 1-3 not delivered")
    expect(result.stderr).toContain("gave up after 3 attempts")
    expect(result.stderr).toContain("3 lines not delivered, the first of them line 1")
  })

  it("stops sending once a chunk could not be delivered, instead of retrying every chunk", async () => {
    const port = await closedPort()
    const file = conversationsFile("nowhere-many.jsonl", 40, "nwm")
    const result = await runCli(["ingest", "--url", `http://127.0.0.1:${port}`, "--retries", "1", "--batch-size", "2", "--concurrency", "1", file])
    expect(result.code).toBe(1)
    // One chunk was tried twice (--retries 1); the other 19 were never sent.
    expect(summary(result.logs)).toMatchObject({ accepted: 0, rejected: 0, not_delivered: 40, requests: 2 })
    expect(result.stderr).toContain("40 lines not delivered, the first of them line 1")
  })
})
