/**
 * The database commands as real child processes on real SQLite files: `store` (conversations and
 * insights, resubmissions, conflicts), `query` (filters, paging past one page, bad options),
 * `retry-failed` (all, or by error class) and `migrate`; query and retry-failed refuse a database
 * that does not exist.
 */
import Database from "better-sqlite3"
import { Either, Schema } from "effect"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { InsightListItemView } from "../../src/http/api.js"
import { migrations } from "../../src/store/migrations.js"
import { fixture, jsonLines, rejectedLines, runCli, runShell } from "./run.js"

const decodeListItem = Schema.decodeUnknownEither(InsightListItemView, { onExcessProperty: "error" })

const work = mkdtempSync(join(tmpdir(), "insightd-cli-db-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const finished = (logs: ReadonlyArray<Record<string, unknown>>, message: string) => logs.find((log) => log.message === message) ?? {}

const count = (dbPath: string, sql: string): number => {
  const db = new Database(dbPath, { readonly: true })
  try {
    return Number((db.prepare(sql).get() as { n: number }).n)
  } finally {
    db.close()
  }
}

describe("insightd store, then query", () => {
  const dbPath = join(work, "roundtrip.sqlite")
  const env = { INSIGHTD_DB: dbPath }

  it("stores conversations, then the insights of `analyze`, and `query` gives them back", async () => {
    const stored = await runCli(["store"], { input: { file: fixture("conversations.jsonl") }, env })
    expect(stored.code).toBe(0)
    expect(stored.stdout).toBe("")
    expect(finished(stored.logs, "store finished")).toMatchObject({ stored: 12, resubmitted: 0, conflicts: 0, rejected: 0 })
    expect(count(dbPath, "SELECT COUNT(*) AS n FROM conversations WHERE status = 'pending'")).toBe(12)

    const analyzed = await runShell(`insightd analyze < '${fixture("conversations.jsonl")}' | insightd store`, { env })
    expect(analyzed.code).toBe(0)
    expect(finished(analyzed.logs, "store finished")).toMatchObject({ insights: 12, rejected: 0 })
    expect(count(dbPath, "SELECT COUNT(*) AS n FROM conversations WHERE status = 'completed'")).toBe(12)

    const queried = await runCli(["query", "--order", "asc"], { env })
    expect(queried.code).toBe(0)
    const insights = jsonLines(queried)
    for (const insight of insights) expect(Either.isRight(decodeListItem(insight)), JSON.stringify(insight)).toBe(true)
    const ids = readFileSync(fixture("conversations.jsonl"), "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l).id as string)
    expect(insights.map((insight) => insight.conversation_id).sort()).toEqual([...ids].sort())
    const timestamps = insights.map((insight) => String(insight.timestamp))
    expect(timestamps).toEqual([...timestamps].sort())

    const negative = await runCli(["query", "--sentiment", "negative"], { env })
    expect(negative.code).toBe(0)
    const expectedNegative = insights.filter((insight) => insight.sentiment === "negative").length
    expect(expectedNegative).toBeGreaterThan(0)
    expect(jsonLines(negative).map((insight) => insight.sentiment)).toEqual(Array(expectedNegative).fill("negative"))

    const limited = await runCli(["query", "--limit", "3", "--author", "@maria_k", "--start-time", "2024-05-01T00:00:00Z"], { env })
    expect(limited.code).toBe(0)
    expect(jsonLines(limited).map((insight) => insight.conversation_id)).toEqual(["conv_fx09", "conv_fx01"])
  })

  it("commits many lines in one transaction, as the daemon's persist stage does", async () => {
    const result = await runCli(["store"], { input: { file: fixture("conversations.jsonl") }, env: { INSIGHTD_DB: join(work, "group.sqlite"), INSIGHTD_LOG_LEVEL: "debug" } })
    expect(result.code).toBe(0)
    const commits = result.logs.filter((log) => log.message === "conversations committed")
    expect(commits.map((log) => log.submissions)).toEqual([12])
  })

  it("counts the same content again as resubmitted; different content under a stored id is a rejected conflict", async () => {
    const again = await runCli(["store"], { input: { file: fixture("conversations.jsonl") }, env })
    expect(again.code).toBe(0)
    expect(finished(again.logs, "store finished")).toMatchObject({ stored: 0, resubmitted: 12, rejected: 0 })

    const input = [
      JSON.stringify({ id: "conv_new1", author: "@new", timestamp: "2024-07-01T00:00:00Z", text: "brand new" }),
      JSON.stringify({ id: "conv_fx01", author: "@maria_k", timestamp: "2024-05-01T08:12:00Z", text: "edited text" }),
      "{oops",
      JSON.stringify({ conversation_id: "conv_absent", sentiment_score: 0.5, sentiment: "positive", confidence: 0.5, clusters: ["praise"], reasoning: "", analyzer: "local:lexicon-v1", analyzed_at: "2024-07-01T00:00:00Z" })
    ].join("\n")
    const conflicted = await runCli(["store"], { input, env })
    expect(conflicted.code).toBe(1)
    expect(finished(conflicted.logs, "store finished")).toMatchObject({ stored: 1, conflicts: 1, rejected: 3 })
    expect(rejectedLines(conflicted).sort()).toEqual([2, 3, 4])
    expect(String(conflicted.logs.find((log) => log.line === 2)?.reason)).toContain("conv_fx01")
    expect(String(conflicted.logs.find((log) => log.line === 4)?.reason)).toContain("not in the database")
    expect(count(dbPath, "SELECT COUNT(*) AS n FROM conversations")).toBe(13)
  })

  it("refuses an insight whose sentiment label contradicts its score under the configured thresholds", async () => {
    const insight = (score: number, sentiment: string) =>
      JSON.stringify({ conversation_id: "conv_fx02", sentiment_score: score, sentiment, confidence: 0.8, clusters: ["billing_error"], reasoning: "", analyzer: "local:lexicon-v1", analyzed_at: "2024-07-01T00:00:00Z" })
    const result = await runCli(["store"], { input: [insight(-0.5, "positive"), insight(-0.5, "negative")].join("\n"), env })
    expect(result.code).toBe(1)
    expect(finished(result.logs, "store finished")).toMatchObject({ insights: 1, rejected: 1 })
    expect(rejectedLines(result)).toEqual([1])
    expect(String(result.logs.find((log) => log.line === 1)?.reason)).toBe('insight: sentiment is "positive" but sentiment_score -0.5 is "negative" (negative below -0.1, positive above 0.1)')
  })

  it("tells an insight line missing its score from a conversation line carrying an extra conversation_id field", async () => {
    const input = [
      JSON.stringify({ conversation_id: "conv_fx01", sentiment: "negative", confidence: 0.9, clusters: ["billing_error"], reasoning: "", analyzer: "local:lexicon-v1", analyzed_at: "2024-07-01T00:00:00Z" }),
      JSON.stringify({ id: "conv_extra1", conversation_id: "ticket-7", author: "@extra", timestamp: "2024-07-02T00:00:00Z", text: "an extra field" })
    ].join("\n")
    const result = await runCli(["store"], { input, env })
    expect(result.code).toBe(1)
    expect(finished(result.logs, "store finished")).toMatchObject({ stored: 1, insights: 0, rejected: 1 })
    expect(rejectedLines(result)).toEqual([1])
    expect(String(result.logs.find((log) => log.line === 1)?.reason)).toBe("insight: sentiment_score: is missing")
  })

  it("pages through more insights than one page holds, without repeats", async () => {
    const bigDb = join(work, "paging.sqlite")
    const file = join(work, "many.jsonl")
    const lines = Array.from({ length: 1203 }, (_, i) =>
      JSON.stringify({ id: `conv_p${i}`, author: `@user${i % 7}`, timestamp: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(), text: `order ${i} arrived late and damaged` })
    )
    writeFileSync(file, `${lines.join("\n")}\n`)
    const run = await runShell(`insightd store < '${file}' && insightd analyze < '${file}' | insightd store`, { env: { INSIGHTD_DB: bigDb } })
    expect(run.code).toBe(0)
    const all = await runCli(["query"], { env: { INSIGHTD_DB: bigDb } })
    expect(all.code).toBe(0)
    const ids = jsonLines(all).map((insight) => insight.conversation_id)
    expect(ids).toHaveLength(1203)
    expect(new Set(ids).size).toBe(1203)
    expect(ids[0]).toBe("conv_p1202") // newest first by default
    const some = await runCli(["query", "--limit", "1001", "--order", "asc"], { env: { INSIGHTD_DB: bigDb } })
    expect(jsonLines(some).map((insight) => insight.conversation_id)).toEqual(Array.from({ length: 1001 }, (_, i) => `conv_p${i}`))
  })

  it.each([
    [["--min-confidence", "2"], "--min-confidence"],
    [["--max-sentiment", "abc"], "--max-sentiment"],
    [["--sentiment", "angry"], "--sentiment"],
    [["--order", "sideways"], "--order"],
    [["--start-time", "yesterday"], "--start-time"],
    [["--limit", "0"], "--limit"],
    [["--cluster", "Billing"], "--cluster must be a lowercase snake_case label"],
    [["--author", ""], "--author must not be empty"],
    [["--min-sentiment", "0.5", "--max-sentiment", "0.1"], "--min-sentiment"]
  ])("refuses a bad option %j with a message naming it and exit status 2 (a wrong command line)", async (args, name) => {
    const result = await runCli(["query", ...args], { env })
    expect(result.code).toBe(2)
    expect(result.stdout).toBe("")
    expect(result.stderr).toContain(name)
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })
})

describe("insightd query and retry-failed on a database that does not exist", () => {
  it.each([["query"], ["retry-failed"]])("%s says so, exit status 1, and creates no file (a typo in INSIGHTD_DB)", async (command) => {
    const missing = join(work, `typo-${command}.db`)
    const result = await runCli([command], { env: { INSIGHTD_DB: missing } })
    expect(result.code).toBe(1)
    expect(result.stdout).toBe("")
    expect(result.stderr).toContain(`${command}: database ${missing} does not exist`)
    expect(existsSync(missing)).toBe(false)
  })

  it("query names a bad option before a missing database", async () => {
    const result = await runCli(["query", "--limit", "many"], { env: { INSIGHTD_DB: join(work, "typo-options.db") } })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("--limit")
    expect(result.stderr).not.toContain("does not exist")
  })
})

describe("insightd retry-failed", () => {
  it("puts failed conversations back to pending, all or only those of an error class (last_error prefix, case ignored)", async () => {
    const dbPath = join(work, "retry.sqlite")
    const env = { INSIGHTD_DB: dbPath }
    expect((await runCli(["store"], { input: { file: fixture("conversations.jsonl") }, env })).code).toBe(0)
    const db = new Database(dbPath)
    const fail = db.prepare("UPDATE conversations SET status = 'failed', attempts = 4, last_error = ? WHERE id = ?")
    fail.run("grok answered HTTP 503: upstream overloaded (gave up after 4 calls)", "conv_fx01")
    fail.run("grok answered HTTP 502: bad gateway (gave up after 4 calls)", "conv_fx02")
    fail.run("grok did not answer within 30000 ms (gave up after 4 calls)", "conv_fx03")
    fail.run("local analyzer failed: out of memory", "conv_fx04")
    fail.run("100% broken", "conv_fx05")
    db.close()
    const failed = () => count(dbPath, "SELECT COUNT(*) AS n FROM conversations WHERE status = 'failed'")

    const serverErrors = await runCli(["retry-failed", "--error-class", "GROK answered http 5"], { env })
    expect(serverErrors.code).toBe(0)
    expect(serverErrors.stdout.trim()).toBe("2")
    expect(failed()).toBe(3)
    expect(count(dbPath, "SELECT COUNT(*) AS n FROM conversations WHERE id IN ('conv_fx01', 'conv_fx02') AND status = 'pending' AND attempts = 0")).toBe(2)

    // The class is matched literally: `%` is not a wildcard.
    const wildcard = await runCli(["retry-failed", "--error-class", "%"], { env })
    expect(wildcard.stdout.trim()).toBe("0")
    expect(failed()).toBe(3)

    const rest = await runCli(["retry-failed"], { env })
    expect(rest.code).toBe(0)
    expect(rest.stdout.trim()).toBe("3")
    expect(failed()).toBe(0)
  })
})

describe("insightd migrate", () => {
  it("creates the schema on a new database, reports its version, and is idempotent", async () => {
    const dbPath = join(work, "sub", "fresh.sqlite")
    const latest = Object.keys(migrations).sort().at(-1)!
    const version = Number(latest.slice(0, 4))
    const first = await runCli(["migrate"], { env: { INSIGHTD_DB: dbPath } })
    expect(first.code).toBe(0)
    expect(first.stdout).toContain(`schema version ${version} (${latest})`)
    expect(first.stdout).toContain("applied 0001_create_conversations")
    expect(count(dbPath, "SELECT COUNT(*) AS n FROM effect_sql_migrations")).toBe(Object.keys(migrations).length)
    const second = await runCli(["migrate"], { env: { INSIGHTD_DB: dbPath } })
    expect(second.code).toBe(0)
    expect(second.stdout).toContain(`schema version ${version} (${latest}); already up to date`)
  })

  it("query only reads: a database of an older schema is refused with a pointer to migrate, and left as it was", async () => {
    const dbPath = join(work, "older.sqlite")
    expect((await runCli(["migrate"], { env: { INSIGHTD_DB: dbPath } })).code).toBe(0)
    const known = Object.keys(migrations).length
    // As an insightd of one migration less left it.
    const db = new Database(dbPath)
    db.prepare("DELETE FROM effect_sql_migrations WHERE migration_id = ?").run(known)
    // Undo the last migration (0008): its range rollups, and the score sum it added to the cluster score rollup.
    db.exec(`DROP TABLE insight_day_score_rollup; DROP TABLE insight_day_confidence_rollup; DROP TABLE insight_cluster_confidence_rollup;
      DROP TABLE insight_cluster_score_rollup;
      CREATE TABLE insight_cluster_score_rollup (cluster TEXT NOT NULL, bucket INTEGER NOT NULL, sentiment TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (cluster, bucket, sentiment));
      CREATE INDEX insight_cluster_score_rollup_covering ON insight_cluster_score_rollup (cluster, bucket, sentiment, n)`)
    db.close()
    const refused = await runCli(["query"], { env: { INSIGHTD_DB: dbPath } })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(`schema version ${known - 1} is older than this insightd's (${known})`)
    expect(refused.stderr).toContain("insightd migrate")
    expect(count(dbPath, "SELECT COUNT(*) AS n FROM effect_sql_migrations")).toBe(known - 1)
    expect((await runCli(["migrate"], { env: { INSIGHTD_DB: dbPath } })).code).toBe(0)
    const after = await runCli(["query"], { env: { INSIGHTD_DB: dbPath } })
    expect(after.code).toBe(0)
    expect(after.stdout).toBe("")
  })

  it("refuses a database that a newer insightd migrated: migrate, store and serve exit 1 naming both versions, and write nothing", async () => {
    const dbPath = join(work, "newer.sqlite")
    expect((await runCli(["migrate"], { env: { INSIGHTD_DB: dbPath } })).code).toBe(0)
    const known = Object.keys(migrations).length
    const db = new Database(dbPath)
    db.prepare("INSERT INTO effect_sql_migrations (migration_id, name) VALUES (?, 'from_the_future')").run(known + 1)
    db.close()
    const expected = `schema version ${known + 1} is newer than this insightd knows (${known})`
    const migrate = await runCli(["migrate"], { env: { INSIGHTD_DB: dbPath } })
    expect(migrate.code).toBe(1)
    expect(migrate.stderr).toContain(expected)
    const store = await runCli(["store"], { input: { file: fixture("conversations.jsonl") }, env: { INSIGHTD_DB: dbPath } })
    expect(store.code).toBe(1)
    expect(store.stderr).toContain(expected)
    const serve = await runCli(["serve"], { env: { INSIGHTD_DB: dbPath, INSIGHTD_PORT: "0" } })
    expect(serve.code).toBe(1)
    expect(serve.stderr).toContain(expected)
    expect(count(dbPath, "SELECT COUNT(*) AS n FROM conversations")).toBe(0)
  })
})
