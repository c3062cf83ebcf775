// GET /api/v1/insights/summary at scale: fills a temp database (the real migrations, then rows
// written directly with better-sqlite3) with N insights spread over 90 days, then times the real
// Store.summarize (dist/, through Effect) for the queries the dashboard makes.
//
//   npm run build && node bench/summary.mjs [--rows=1000000] [--runs=20]
//
// Writes bench/results/summary.json.
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { performance } from "node:perf_hooks"
import { SqliteStoreLive } from "../dist/store/sqlite.js"
import { Store } from "../dist/store/Store.js"
import { parseArgs, writeResult } from "./lib.mjs"

const args = parseArgs()
const ROWS = Number(args.rows ?? 1_000_000)
const RUNS = Number(args.runs ?? 20)
const DAYS = 90
const END = Date.parse("2026-11-01T00:00:00.000Z")
const START = END - DAYS * 86_400_000

// --keep=DIR keeps (and reuses) the filled database there, for experiments with the queries.
const dir = args.keep ? String(args.keep) : fs.mkdtempSync(path.join(os.tmpdir(), "insightd-summary-"))
fs.mkdirSync(dir, { recursive: true })
const file = path.join(dir, "db.sqlite")
const reuse = Boolean(args.keep) && fs.existsSync(file)

const withStore = (use) => Effect.runPromise(Effect.scoped(Effect.flatMap(Layer.build(SqliteStoreLive(file)), (context) => use(context.unsafeMap.get(Store.key)))))

// 1. Schema from the real migrations.
await withStore(() => Effect.void)
if (reuse) console.error(`reusing ${file}`)

// 2. Rows, deterministic (a small LCG), in one transaction per 50k.
const CLUSTERS = ["delivery_delay", "refund_request", "billing_issue", "account_access", "product_defect", "shipping", "customer_service", "app_bug", "praise", "general_inquiry", "order_status", "cancellation"]
const ANALYZERS = ["local:lexicon-v1", "grok:grok-4-fast-non-reasoning"]
let seed = 42
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
const db = new Database(file)
db.pragma("journal_mode = WAL")
db.pragma("synchronous = OFF")
const insertConversation = db.prepare(`INSERT INTO conversations (id, text, author, timestamp, raw, content_hash, status, attempts, received_at, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, 'completed', 1, ?, ?)`)
const insertInsight = db.prepare(`INSERT INTO insights (conversation_id, timestamp, author, sentiment_score, sentiment, confidence, clusters, reasoning, analyzer, raw_response, prompt_tokens, completion_tokens, cost_usd, analyzed_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
const insertCluster = db.prepare(`INSERT INTO insight_clusters (conversation_id, cluster, timestamp, sentiment_score, confidence) VALUES (?, ?, ?, ?, ?)`)
const fillStarted = performance.now()
const text = "My package still hasn't arrived after three weeks and nobody answers my emails, this is really frustrating"
const reasoning = "Negative: the customer reports a delivery delay and unanswered emails; strong frustration words."
const rawResponse = JSON.stringify({ evidence: ["still hasn't arrived", "frustrating", "nobody answers"], score: -0.7 })
const fill = db.transaction((from, to) => {
  for (let i = from; i < to; i++) {
    const id = `conv_bench${String(i).padStart(8, "0")}`
    const timestamp = new Date(START + Math.floor(random() * (END - START))).toISOString()
    const author = `@user${Math.floor(random() * 50_000)}`
    const score = Math.round((random() * 2 - 1) * 1000) / 1000
    const sentiment = score < -0.1 ? "negative" : score > 0.1 ? "positive" : "neutral"
    const analyzer = random() < 0.2 ? ANALYZERS[1] : ANALYZERS[0]
    const grok = analyzer.startsWith("grok")
    const clusters = [CLUSTERS[Math.floor(random() * CLUSTERS.length)]]
    if (random() < 0.5) {
      const second = CLUSTERS[Math.floor(random() * CLUSTERS.length)]
      if (second !== clusters[0]) clusters.push(second)
    }
    insertConversation.run(id, text, author, timestamp, JSON.stringify({ author, timestamp, text }), id, timestamp, timestamp)
    const confidence = Math.round(random() * 1000) / 1000
    insertInsight.run(id, timestamp, author, score, sentiment, confidence, JSON.stringify(clusters), reasoning, analyzer, rawResponse,
      grok ? 300 : null, grok ? 60 : null, grok ? 0.0001 : null, timestamp)
    for (const cluster of clusters) insertCluster.run(id, cluster, timestamp, score, confidence)
  }
})
if (!reuse) for (let from = 0; from < ROWS; from += 50_000) fill(from, Math.min(ROWS, from + 50_000))
db.pragma("wal_checkpoint(TRUNCATE)")
db.exec("ANALYZE")
const fillSeconds = (performance.now() - fillStarted) / 1000

// 3. Query plans, for the README and to catch a plan that stops using the index.
const plans = {}
for (const [name, where] of [["unfiltered", ""], ["time range", "WHERE i.timestamp >= '2026-10-25T00:00:00.000Z' AND i.timestamp < '2026-11-01T00:00:00.000Z'"]]) {
  plans[name] = {
    buckets: db.prepare(`EXPLAIN QUERY PLAN SELECT substr(i.timestamp, 1, 13) AS b, i.analyzer AS a, i.sentiment AS s, COUNT(*) AS n, SUM(i.sentiment_score),
      SUM(i.prompt_tokens), SUM(i.completion_tokens), SUM(i.cost_usd) FROM insights i ${where} GROUP BY b, a, s`).all().map((row) => row.detail),
    clusters: db.prepare(`EXPLAIN QUERY PLAN SELECT c.cluster, COUNT(*) AS n, SUM(c.sentiment_score) FROM insight_clusters c
      ${where.replaceAll("i.", "c.")} GROUP BY c.cluster ORDER BY n DESC, c.cluster ASC LIMIT 10`).all().map((row) => row.detail)
  }
}
const sizeMb = Math.round(fs.statSync(file).size / 1e6)
// An author the data holds (the insights are spread over 50 k of them).
const AN_AUTHOR = db.prepare("SELECT author FROM insights ORDER BY conversation_id LIMIT 1").pluck().get()
db.close()

// 4. Timings through the real Store.
const day = 86_400_000
const queries = {
  "all, by day": { bucket: "day" },
  "all, by hour": { bucket: "hour" },
  "last 7 days, by hour": { bucket: "hour", startTime: new Date(END - 7 * day).toISOString(), endTime: new Date(END).toISOString() },
  "last 24 hours, by hour": { bucket: "hour", startTime: new Date(END - day).toISOString(), endTime: new Date(END).toISOString() },
  "last 7 days, cluster delivery_delay": { bucket: "hour", cluster: "delivery_delay", startTime: new Date(END - 7 * day).toISOString(), endTime: new Date(END).toISOString() },
  // The other filters the API takes, over all time (the slowest case: no time bound narrows them).
  "all, sentiment=negative, by day": { bucket: "day", sentiment: "negative" },
  "all, min_confidence=0.9, by day": { bucket: "day", minConfidence: 0.9 },
  "all, sentiment -0.5..-0.2, by day": { bucket: "day", minSentiment: -0.5, maxSentiment: -0.2 },
  // A range by day with partial days at both ends; by hour (answered from the rows, not the
  // per-day range rollups): over a week, the dashboard's hourly view, and over all time.
  "30 days from mid-day, min_confidence=0.75, by day": { bucket: "day", minConfidence: 0.75, startTime: new Date(END - 30 * day - 43_210_123).toISOString(), endTime: new Date(END - 3_600_000 * 5.5).toISOString() },
  "last 7 days, min_confidence=0.9, by hour": { bucket: "hour", minConfidence: 0.9, startTime: new Date(END - 7 * day).toISOString(), endTime: new Date(END).toISOString() },
  "all, min_confidence=0.9, by hour": { bucket: "hour", minConfidence: 0.9 },
  "all, one author, by day": { bucket: "day", author: AN_AUTHOR }
}
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const timings = await withStore((store) =>
  Effect.promise(async () => {
    const out = {}
    for (const [name, query] of Object.entries(queries)) {
      await Effect.runPromise(store.summarize(query)) // warm the page cache
      const ms = []
      let total = 0
      for (let i = 0; i < RUNS; i++) {
        const started = performance.now()
        const summary = await Effect.runPromise(store.summarize(query))
        ms.push(performance.now() - started)
        total = summary.total
      }
      ms.sort((a, b) => a - b)
      out[name] = { matched: total, p50_ms: Math.round(percentile(ms, 50)), p95_ms: Math.round(percentile(ms, 95)), runs: RUNS }
      console.error(`${name}: ${total} insights, p50 ${out[name].p50_ms} ms, p95 ${out[name].p95_ms} ms`)
    }
    return out
  })
)

if (!args.keep) fs.rmSync(dir, { recursive: true, force: true })
const result = { rows: ROWS, days: DAYS, database_mb: sizeMb, fill_seconds: reuse ? null : Math.round(fillSeconds), node: process.version, cpus: os.cpus().length, plans, timings }
console.error(`results: ${writeResult("summary", result)}`)
