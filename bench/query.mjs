// GET /api/v1/insights at 1 M insights: latency p50/p95 with no filter, with each filter, and for
// a deep cursor page (~90 % of the way through, constructed exactly as the API issues cursors)
// against the first page. One keep-alive connection (latency = service time, no queueing), wrk
// when installed (else the Node sampler); rounds alternate the queries, medians reported.
// The database: the daemon's migrations, then rows inserted directly (lib.mjs populateInsights);
// the daemon then serves it (ingest-only pipeline: nothing pending, nothing to analyse).
// Targets: p95 ≤ 10 ms for each; deep page ≈ first page (ratio of p50s).
//
//   node bench/query.mjs [--rows=1000000] [--rounds=3] [--seconds=2] [--loadgen=wrk|node]
//                        [--db=path]  (reuse a database populated by an earlier run; kept)
import Database from "better-sqlite3"
import fs from "node:fs"
import path from "node:path"
import { BENCH_DIR, chooseGenerator, fmt, freshDir, median, parseArgs, populateInsights, insightCursor, removeDir, round, sampleGet, startServer, writeResult } from "./lib.mjs"

const args = parseArgs()
const rows = Number(args.rows ?? 1_000_000)
const rounds = Number(args.rounds ?? 3)
const seconds = Number(args.seconds ?? 2)
const generator = chooseGenerator(args)
const TARGET_P95_MS = 10
const INGEST_ONLY = path.join(BENCH_DIR, "pipelines", "ingest-only.json")

const dir = freshDir("query")
const db = args.db ? path.resolve(String(args.db)) : path.join(dir, "bench.db")
let populated = null
if (!args.db || !fs.existsSync(db)) {
  console.log(`query: populating ${fmt(rows)} insights …`)
  populated = await populateInsights({ db, count: rows })
  console.log(`query: populated in ${fmt(populated.ms / 1000, 1)} s`)
}
const conn = new Database(db, { readonly: true })
const count = conn.prepare("SELECT COUNT(*) FROM insights").pluck().get()
const deepOffset = Math.floor(count * 0.9)
const deep = conn.prepare("SELECT timestamp, conversation_id AS id FROM insights ORDER BY timestamp DESC, conversation_id DESC LIMIT 1 OFFSET ?").get(deepOffset - 1)
const sampleAuthor = conn.prepare("SELECT author FROM insights LIMIT 1 OFFSET ?").pluck().get(Math.floor(count / 3))
conn.close()

const queries = [
  ["first page (no filter)", ""],
  // The cursor is completed below with the query fingerprint of page 1's next_cursor (same query).
  [`deep cursor page (after ${fmt(deepOffset)})`, ""],
  ["time range (one week)", "start_time=2024-03-01T00:00:00Z&end_time=2024-03-08T00:00:00Z"],
  ["min_confidence=0.9", "min_confidence=0.9"],
  ["sentiment range -0.5..-0.2", "min_sentiment=-0.5&max_sentiment=-0.2"],
  ["sentiment=negative", "sentiment=negative"],
  ["cluster=billing_error", "cluster=billing_error"],
  [`author=${sampleAuthor}`, `author=${encodeURIComponent(sampleAuthor)}`]
]

const server = await startServer({ kind: "insightd", db, pipeline: INGEST_ONLY })
const runs = []
const problems = []
try {
  // The constructed cursor must be the API's own: page 1's next_cursor decodes to its last item
  // and the fingerprint of the no-filter query, which the deep cursor reuses.
  const page1 = await (await fetch(`${server.base}/api/v1/insights`)).json()
  const last = page1.insights[page1.insights.length - 1]
  const queryKey = JSON.parse(Buffer.from(page1.metadata.next_cursor, "base64url").toString("utf8"))[2]
  if (page1.metadata.next_cursor !== insightCursor(last.timestamp, last.conversation_id, queryKey)) problems.push(`cursor format differs from the API's: ${page1.metadata.next_cursor}`)
  queries[1][1] = `cursor=${insightCursor(deep.timestamp, deep.id, queryKey)}`
  const deepPage = await fetch(`${server.base}/api/v1/insights?${queries[1][1]}`)
  const deepBody = await deepPage.json()
  if (deepPage.status !== 200 || deepBody.insights.length === 0 || deepBody.insights[0].timestamp > deep.timestamp) problems.push(`deep page → ${deepPage.status}, ${deepBody.insights?.length} items`)
  console.log(`query: ${fmt(count)} insights, ${rounds} round(s) × ${queries.length} queries × ${seconds} s, 1 connection, generator ${generator}`)
  for (let r = 1; r <= rounds; r++) {
    for (const [name, qs] of queries) {
      const s = await sampleGet({ generator, url: `${server.base}/api/v1/insights${qs ? `?${qs}` : ""}`, seconds, scratch: dir })
      if (s.non200 > 0) problems.push(`${name}: ${s.non200} non-200 answers`)
      runs.push({ round: r, query: name, ...s })
      console.log(`  round ${r} ${name.padEnd(36)} p50 ${fmt(s.p50Ms, 2).padStart(7)} ms  p95 ${fmt(s.p95Ms, 2).padStart(7)} ms  p99 ${fmt(s.p99Ms, 2).padStart(7)} ms  (${fmt(s.requests)} requests)`)
    }
  }
} finally {
  await server.stop()
}
removeDir(dir) // the scratch directory; a --db file lives elsewhere and is kept

const summary = queries.map(([name]) => {
  const mine = runs.filter((x) => x.query === name)
  return { query: name, p50Ms: round(median(mine.map((x) => x.p50Ms)), 3), p95Ms: round(median(mine.map((x) => x.p95Ms)), 3), perRound: mine.map((x) => ({ p50Ms: x.p50Ms, p95Ms: x.p95Ms, requests: x.requests })) }
})
const first = summary[0]
const deepS = summary[1]
const deepRoundRatios = runs.filter((x) => x.query === deepS.query).map((x) => x.p50Ms / runs.find((y) => y.query === first.query && y.round === x.round).p50Ms)
console.log(`\nquery summary (medians of ${rounds} round(s)), target p95 ≤ ${TARGET_P95_MS} ms:`)
for (const s of summary) console.log(`  ${s.query.padEnd(36)} p50 ${fmt(s.p50Ms, 2).padStart(7)} ms  p95 ${fmt(s.p95Ms, 2).padStart(7)} ms  ${s.p95Ms <= TARGET_P95_MS ? "ok" : "OVER"}`)
console.log(`  deep/first p50 ratio ${fmt(deepS.p50Ms / first.p50Ms, 2)} (rounds ${deepRoundRatios.map((x) => x.toFixed(2)).join(", ")})`)
if (problems.length) console.log(`  PROBLEMS: ${problems.join("; ")}`)
const label = count >= 1_000_000 ? `${fmt(count / 1e6, 1)} M` : fmt(count)
const table = summary.map((s, i) => ({
  measure: `GET /api/v1/insights at ${label} insights, ${s.query}: p95 ms`,
  insightd: s.p95Ms,
  reference: i === 0 ? null : first.p95Ms,
  referenceNote: i === 0 ? null : "first page",
  ratio: i === 0 ? null : round(s.p95Ms / first.p95Ms, 2),
  target: i === 1 ? `≤ ${TARGET_P95_MS} ms, ≈ first page` : `≤ ${TARGET_P95_MS} ms`,
  // "Costs the same as the first": within 1.5× of the first page's p50 (or a fraction of a ms).
  met: s.p95Ms <= TARGET_P95_MS && (i !== 1 || deepS.p50Ms <= Math.max(first.p50Ms * 1.5, first.p50Ms + 0.5))
}))
console.log(
  `wrote ${writeResult("query", { benchmark: "query", settings: { rows: count, rounds, seconds, generator, deepOffset }, populated, summary, deepFirstRatio: round(deepS.p50Ms / first.p50Ms, 3), deepRoundRatios: deepRoundRatios.map((x) => round(x, 3)), table, runs, problems, node: process.version, measuredAt: new Date().toISOString() })}`
)
try {
  fs.rmdirSync(path.join(BENCH_DIR, ".tmp"))
} catch {}
if (problems.length) process.exitCode = 1
