/**
 * One database, several processes: the stage commands run beside a daemon on its database
 * (`insightd store`, `retry-failed`) and the daemon analyses what they commit without a restart;
 * a second daemon on the same file is refused (it would take the first one's claims back and
 * double the Grok call rate), and a daemon killed with -9 never blocks the next one.
 */
import Database from "better-sqlite3"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { generateTwcs } from "../../bench/gen-twcs.mjs"
import { fixture, runCli } from "../cli/run.js"
import { type ChildDaemon, freshDbPath, spawnDaemon, statusCounts, waitUntil } from "../support/child.js"

const daemons: Array<ChildDaemon> = []
const start = async (dbPath: string): Promise<ChildDaemon> => {
  const daemon = await spawnDaemon({ dbPath })
  daemons.push(daemon)
  return daemon
}
afterEach(async () => {
  for (const daemon of daemons.splice(0)) if (daemon.isRunning()) await daemon.stop()
})

const fixtureIds = (): Array<string> =>
  readFileSync(fixture("conversations.jsonl"), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => (JSON.parse(line) as { id: string }).id)

describe("stage commands beside a running daemon", () => {
  it("conversations that `insightd store` commits are analysed by the idle daemon, without a restart or an HTTP request", async () => {
    const dbPath = freshDbPath()
    const daemon = await start(dbPath)
    await daemon.waitForLog((entry) => entry.message === "insightd ready", 10_000, "insightd ready")

    const stored = await runCli(["store"], { input: { file: fixture("conversations.jsonl") }, env: { INSIGHTD_DB: dbPath } })
    expect(stored.code).toBe(0)
    const total = fixtureIds().length
    await waitUntil(() => statusCounts(dbPath).completed === total, 10_000, `${total} conversations completed`)
    expect(statusCounts(dbPath)).toEqual({ pending: 0, processing: 0, completed: total, failed: 0 })
    const insights = await fetch(`${daemon.baseUrl}/api/v1/insights?limit=100`).then((r) => r.json() as Promise<{ insights: Array<{ conversation_id: string }> }>)
    expect(insights.insights.map((insight) => insight.conversation_id).sort()).toEqual(fixtureIds().sort())
  })

  it("conversations that `insightd retry-failed` puts back to pending are analysed by the idle daemon", async () => {
    const dbPath = freshDbPath()
    expect((await runCli(["store"], { input: { file: fixture("conversations.jsonl") }, env: { INSIGHTD_DB: dbPath } })).code).toBe(0)
    // As a run with a broken analyzer would have left them.
    const db = new Database(dbPath)
    db.prepare("UPDATE conversations SET status = 'failed', attempts = 3, last_error = 'grok: HTTP 500 after 3 attempts'").run()
    db.close()
    const total = fixtureIds().length

    const daemon = await start(dbPath)
    await daemon.waitForLog((entry) => entry.message === "insightd ready", 10_000, "insightd ready")
    expect(statusCounts(dbPath).failed).toBe(total)

    const retried = await runCli(["retry-failed"], { env: { INSIGHTD_DB: dbPath } })
    expect(retried.code).toBe(0)
    await waitUntil(() => statusCounts(dbPath).completed === total, 10_000, `${total} retried conversations completed`)
  })
})

describe("writers side by side", () => {
  it("`import-csv --store` beside a daemon that is analysing, and two `store` runs at once, store every line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "insightd-writers-"))
    try {
      const csv = join(dir, "twcs.csv")
      const { threads } = (await generateTwcs({ tweets: 60_000, out: csv, seed: 11 })) as { threads: number }
      const dbPath = freshDbPath()
      const daemon = await start(dbPath)
      await daemon.waitForLog((entry) => entry.message === "insightd ready", 10_000, "insightd ready")
      // The daemon analyses what the import commits, writing insights while the import writes.
      const imported = await runCli(["import-csv", "--store", csv], { env: { INSIGHTD_DB: dbPath }, timeoutMs: 120_000 })
      expect(imported.code, imported.stderr.slice(-2000)).toBe(0)
      expect(imported.logs.find((log) => log.message === "import-csv finished")).toMatchObject({ stored: threads, rejected: 0 })
      await waitUntil(() => statusCounts(dbPath).completed === threads, 60_000, `${threads} imported threads completed`)
      expect(daemon.logs().filter((log) => log.level === "error")).toEqual([])

      // Two stage commands writing the same database at the same time.
      const lines = readFileSync(fixture("conversations.jsonl"), "utf8").split("\n").filter((line) => line.trim() !== "")
      const batchFile = (name: string, prefix: string) => {
        const file = join(dir, name)
        const out: Array<string> = []
        for (let i = 0; i < 3_000; i++) {
          const item = JSON.parse(lines[i % lines.length]) as Record<string, unknown>
          out.push(JSON.stringify({ ...item, id: `conv_${prefix}_${i}` }))
        }
        writeFileSync(file, `${out.join("\n")}\n`)
        return file
      }
      const [a, b] = await Promise.all([
        runCli(["store"], { input: { file: batchFile("a.jsonl", "a") }, env: { INSIGHTD_DB: dbPath } }),
        runCli(["store"], { input: { file: batchFile("b.jsonl", "b") }, env: { INSIGHTD_DB: dbPath } })
      ])
      for (const result of [a, b]) {
        expect(result.code, result.stderr.slice(-2000)).toBe(0)
        expect(result.logs.find((log) => log.message === "store finished")).toMatchObject({ stored: 3_000, rejected: 0 })
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("one daemon per database", () => {
  it("refuses a second `serve` on the same file, naming the file and the holder; after kill -9 the next one starts at once", async () => {
    const dbPath = freshDbPath()
    const first = await start(dbPath)
    await first.waitForLog((entry) => entry.message === "insightd ready", 10_000, "insightd ready")

    await expect(start(dbPath)).rejects.toThrow(`database ${dbPath} is in use by another insightd serve (pid ${first.pid})`)
    // The refused daemon touched nothing: the first still answers and owns its claims.
    expect((await fetch(`${first.baseUrl}/health`)).status).toBe(200)

    await first.stop("SIGKILL")
    const next = await start(dbPath)
    expect((await fetch(`${next.baseUrl}/health`)).status).toBe(200)
  })

  it("lets the next daemon start once the previous one has shut down gracefully", async () => {
    const dbPath = freshDbPath()
    const first = await start(dbPath)
    expect((await first.stop("SIGTERM")).code).toBe(0)
    const next = await start(dbPath)
    expect((await fetch(`${next.baseUrl}/health`)).status).toBe(200)
  })
})
