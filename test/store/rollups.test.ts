/**
 * The rollup tables (migration 0004) answer total_count and the summary for time / label / cluster
 * filters: on a real SQLite file, after a few hundred insights over three days (several analyzers,
 * clusters, re-analyses replacing insights, a duplicate within one batch), every count and every
 * summary field must equal a plain recount of the final insights, with range edges inside hours.
 * Paging (cluster-driven and time-order walks) must return each match exactly once, in order.
 * The score-bucket rollups (migration 0005) answer score-range total_counts: checked against a
 * recount with scores and bounds on, just beside and inside bucket edges, re-analyses moving
 * scores across buckets, and the rollups kept in step equal to the ones rebuilt from the rows.
 * The range rollups (migration 0008) answer summaries by day over a score or confidence range:
 * checked the same way, with values crowded on a bound (a model's 0.9 confidences).
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Context, Effect, Layer } from "effect"
import type { Insight, SentimentLabel } from "../../src/domain/insight.js"
import { RANGE_BUCKETS, SCORE_BUCKETS } from "../../src/store/migrations.js"
import { SqliteStoreLive, splitRange } from "../../src/store/sqlite.js"
import { type InsightQuery, type InsightSummary, Store, type StoreShape, type SummaryQuery } from "../../src/store/Store.js"
import { newConversation, tempDbPath } from "../support/layers.js"

type Filters = Omit<InsightQuery, "order" | "limit" | "after">
interface Final {
  readonly id: string
  readonly timestamp: string
  readonly author: string
  readonly insight: Insight
}

let seed = 7
const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

const CLUSTERS = ["delivery_delay", "refund_request", "billing_error", "app_crash", "account_access", "praise", "shipping", "checkout", "password_reset", "subscription", "agent_feedback", "other"]
const ANALYZERS = ["local:lexicon-v1", "grok:grok-4-fast-non-reasoning", "grok:grok-4"]
const AUTHORS = ["@ana", "@bo", "@cy", "@di", "@ed"]
const DAY0 = Date.parse("2026-03-01T00:00:00.000Z")

/**
 * `count` conversations over three days from five authors, stored; `record` records insights for
 * them and keeps, per conversation, the last insight recorded (what a recount must find).
 */
const seedConversations = (store: StoreShape, count: number, text: string) =>
  Effect.gen(function* () {
    const conversations = Array.from({ length: count }, (_, i) =>
      newConversation({
        timestamp: new Date(DAY0 + Math.floor(random() * 3 * 86_400_000)).toISOString(),
        author: AUTHORS[i % AUTHORS.length],
        text: `${text} ${i}`
      })
    )
    yield* store.submit([{ conversations }])
    const finals = new Map<string, Final>()
    const record = (insights: ReadonlyArray<Insight>) =>
      Effect.gen(function* () {
        yield* store.record(insights.map((insight) => ({ _tag: "Completed" as const, insight })))
        for (const insight of insights) {
          const c = conversations.find((x) => x.id === insight.conversation_id)!
          finals.set(c.id, { id: c.id, timestamp: c.timestamp, author: c.author, insight })
        }
      })
    return { conversations, finals, record }
  })

const label = (score: number): SentimentLabel => (score < -0.1 ? "negative" : score > 0.1 ? "positive" : "neutral")

const makeInsight = (id: string): Insight => {
  const score = Math.round((random() * 2 - 1) * 1000) / 1000
  const analyzer = pick(ANALYZERS)
  const grok = analyzer.startsWith("grok")
  // Skewed so the top-10 cut and its ties matter; sometimes a repeated label.
  const clusters = [CLUSTERS[Math.floor(random() * random() * CLUSTERS.length)]!]
  if (random() < 0.4) clusters.push(pick(CLUSTERS))
  if (random() < 0.1) clusters.push(clusters[0]!)
  return {
    conversation_id: id as Insight["conversation_id"],
    sentiment_score: score,
    sentiment: label(score),
    confidence: Math.round(random() * 1000) / 1000,
    clusters,
    reasoning: "r",
    analyzer,
    raw_response: "{}",
    prompt_tokens: grok ? 100 + Math.floor(random() * 300) : null,
    completion_tokens: grok ? 20 + Math.floor(random() * 50) : null,
    cost_usd: grok ? Math.round(random() * 1e6) / 1e9 : null,
    analyzed_at: "2026-03-05T00:00:00.000Z"
  }
}

const matches = (f: Final, q: Filters) =>
  (q.startTime === undefined || f.timestamp >= q.startTime) &&
  (q.endTime === undefined || f.timestamp < q.endTime) &&
  (q.minConfidence === undefined || f.insight.confidence >= q.minConfidence) &&
  (q.maxConfidence === undefined || f.insight.confidence <= q.maxConfidence) &&
  (q.minSentiment === undefined || f.insight.sentiment_score >= q.minSentiment) &&
  (q.maxSentiment === undefined || f.insight.sentiment_score <= q.maxSentiment) &&
  (q.sentiment === undefined || f.insight.sentiment === q.sentiment) &&
  (q.author === undefined || f.author === q.author) &&
  (q.cluster === undefined || f.insight.clusters.includes(q.cluster))

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** The summary recomputed from the final insights, as the contract defines it. */
const recount = (finals: ReadonlyArray<Final>, q: SummaryQuery): InsightSummary => {
  const rows = finals.filter((f) => matches(f, q))
  const labels = { positive: 0, neutral: 0, negative: 0 }
  const buckets = new Map<string, { count: number; score: number; labels: Record<SentimentLabel, number> }>()
  const clusters = new Map<string, { count: number; score: number }>()
  const analyzers = new Map<string, { count: number; promptTokens: number; completionTokens: number; costUsd: number }>()
  let score = 0
  for (const { insight, timestamp } of rows) {
    score += insight.sentiment_score
    labels[insight.sentiment]++
    const key = q.bucket === "hour" ? `${timestamp.slice(0, 13)}:00:00.000Z` : `${timestamp.slice(0, 10)}T00:00:00.000Z`
    const bucket = buckets.get(key) ?? { count: 0, score: 0, labels: { positive: 0, neutral: 0, negative: 0 } }
    bucket.count++
    bucket.score += insight.sentiment_score
    bucket.labels[insight.sentiment]++
    buckets.set(key, bucket)
    for (const cluster of new Set(insight.clusters)) {
      const c = clusters.get(cluster) ?? { count: 0, score: 0 }
      c.count++
      c.score += insight.sentiment_score
      clusters.set(cluster, c)
    }
    const a = analyzers.get(insight.analyzer) ?? { count: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 }
    a.count++
    a.promptTokens += insight.prompt_tokens ?? 0
    a.completionTokens += insight.completion_tokens ?? 0
    a.costUsd += insight.cost_usd ?? 0
    analyzers.set(insight.analyzer, a)
  }
  return {
    total: rows.length,
    meanSentiment: rows.length === 0 ? null : score / rows.length,
    buckets: [...buckets.entries()]
      .sort(([a], [b]) => byName(a, b))
      .map(([start, b]) => ({ start, count: b.count, meanSentiment: b.score / b.count, labels: b.labels })),
    labels,
    topClusters: [...clusters.entries()]
      .sort(([a, x], [b, y]) => y.count - x.count || byName(a, b))
      .slice(0, 10)
      .map(([cluster, c]) => ({ cluster, count: c.count, meanSentiment: c.score / c.count })),
    analyzers: [...analyzers.entries()].sort(([a, x], [b, y]) => y.count - x.count || byName(a, b)).map(([analyzer, s]) => ({ analyzer, ...s }))
  }
}

/** Integers exactly, floats to 1e-9 (sums taken in another order round differently). */
const expectSame = (actual: unknown, expected: unknown, path: string): void => {
  if (typeof expected === "number" && !Number.isInteger(expected)) {
    expect(typeof actual, path).toBe("number")
    expect(Math.abs((actual as number) - expected), `${path}: ${String(actual)} vs ${expected}`).toBeLessThan(1e-9)
  } else if (Array.isArray(expected)) {
    expect(Array.isArray(actual), path).toBe(true)
    expect((actual as Array<unknown>).length, `${path}.length`).toBe(expected.length)
    expected.forEach((e, i) => expectSame((actual as Array<unknown>)[i], e, `${path}[${i}]`))
  } else if (typeof expected === "object" && expected !== null) {
    expect(Object.keys(actual as object).sort(), path).toEqual(Object.keys(expected).sort())
    for (const [key, e] of Object.entries(expected)) expectSame((actual as Record<string, unknown>)[key], e, `${path}.${key}`)
  } else expect(actual, path).toBe(expected)
}

const T = (day: number, time: string) => `2026-03-0${1 + day}T${time}Z`

const FILTERS: ReadonlyArray<Filters> = [
  {},
  { sentiment: "negative" },
  { sentiment: "neutral" },
  { cluster: "delivery_delay" },
  { cluster: "other" },
  { cluster: "nonexistent" },
  { cluster: "billing_error", sentiment: "positive" },
  // Edges inside hours, several days apart.
  { startTime: T(0, "05:17:23.456"), endTime: T(2, "19:42:00.001") },
  { startTime: T(0, "05:17:23.456"), endTime: T(2, "19:42:00.001"), sentiment: "positive" },
  { startTime: T(0, "05:17:23.456"), endTime: T(2, "19:42:00.001"), cluster: "delivery_delay" },
  { startTime: T(1, "00:59:59.999"), endTime: T(1, "23:00:00.001"), cluster: "refund_request", sentiment: "negative" },
  // Aligned on hours, open on one side, within one hour, across two neighbouring hours, empty.
  { startTime: T(1, "00:00:00.000"), endTime: T(2, "00:00:00.000") },
  { startTime: T(1, "13:30:00.000") },
  { endTime: T(1, "13:30:00.000"), cluster: "delivery_delay" },
  { startTime: T(1, "10:05:00.000"), endTime: T(1, "10:55:00.000") },
  { startTime: T(1, "10:05:00.000"), endTime: T(1, "11:55:00.000"), sentiment: "negative" },
  { startTime: T(1, "10:05:00.000"), endTime: T(1, "10:05:00.000") },
  // Answered from the rows (filters the rollups do not key).
  { minConfidence: 0.5 },
  { minSentiment: -0.5, maxSentiment: -0.2 },
  { minSentiment: 0.95 },
  { author: "@ana" },
  { author: "@bo", cluster: "delivery_delay" },
  { cluster: "delivery_delay", minSentiment: -0.5, startTime: T(0, "05:17:23.456") },
  // Confidence and score with time bounds, both at once, and with a label (answered from the rows).
  { minConfidence: 0.5, startTime: T(0, "05:17:23.456"), endTime: T(2, "19:42:00.001") },
  { maxConfidence: 0.4, minSentiment: 0 },
  { minConfidence: 0.3, maxConfidence: 0.7, sentiment: "negative" },
  { maxSentiment: -0.2, endTime: T(1, "13:30:00.000") }
]

describe("rollups", () => {
  it("splits a range into whole hours and edges", () => {
    expect(splitRange({})).toEqual({ hours: { from: undefined, to: undefined }, edges: [] })
    expect(splitRange({ startTime: "2026-03-01T05:17:23.456Z", endTime: "2026-03-01T08:00:00.000Z" })).toEqual({
      hours: { from: "2026-03-01T06", to: "2026-03-01T08" },
      edges: [{ startTime: "2026-03-01T05:17:23.456Z", endTime: "2026-03-01T06:00:00.000Z" }]
    })
    expect(splitRange({ startTime: "2026-03-01T05:17:23.456Z", endTime: "2026-03-01T06:10:00.000Z" })).toEqual({
      hours: null,
      edges: [{ startTime: "2026-03-01T05:17:23.456Z", endTime: "2026-03-01T06:10:00.000Z" }]
    })
    expect(splitRange({ startTime: "2026-03-01T23:30:00.000Z" })?.hours?.from).toBe("2026-03-02T00")
    expect(splitRange({ startTime: "2026-03-01" })).toBeNull()
  })

  it.scoped("total_count, paging and every summary field equal a recount of the rows, re-analyses included", () =>
    Effect.gen(function* () {
      const db = tempDbPath()
      yield* Effect.addFinalizer(() => Effect.sync(db.cleanup))
      const store = Context.get(yield* Layer.build(SqliteStoreLive(db.path)), Store)
      const { conversations, finals, record } = yield* seedConversations(store, 320, "conversation")
      // The pipeline's batches of ten.
      for (let i = 0; i < conversations.length; i += 10) yield* record(conversations.slice(i, i + 10).map((c) => makeInsight(c.id)))
      // Re-analyses (retry): other label, analyzer, clusters, tokens; one id twice in one call.
      const again = conversations.filter(() => random() < 0.3)
      for (let i = 0; i < again.length; i += 7) yield* record(again.slice(i, i + 7).map((c) => makeInsight(c.id)))
      const twice = conversations[3]!.id
      yield* record([makeInsight(twice), makeInsight(conversations[4]!.id), makeInsight(twice)])
      const all = [...finals.values()]

      const checkAll = (s: StoreShape) =>
        Effect.gen(function* () {
          for (const filters of FILTERS) {
            const expected = all.filter((f) => matches(f, filters))
            const first = yield* s.queryInsights({ ...filters, order: "desc", limit: 1000 })
            expect(first.totalCount, JSON.stringify(filters)).toBe(expected.length)
            for (const bucket of ["hour", "day"] as const) {
              const summary = yield* s.summarize({ ...filters, bucket })
              expectSame(summary, recount(all, { ...filters, bucket }), `summary ${bucket} ${JSON.stringify(filters)}`)
            }
            for (const order of ["desc", "asc"] as const) {
              const ids: Array<string> = []
              let after: InsightQuery["after"]
              do {
                const page = yield* s.queryInsights({ ...filters, order, limit: 37, after })
                expect(page.totalCount).toBe(expected.length)
                ids.push(...page.items.map((item) => item.conversation_id))
                after = page.next ?? undefined
              } while (after !== undefined)
              const sorted = [...expected].sort((a, b) => byName(a.timestamp, b.timestamp) || byName(a.id, b.id)).map((f) => f.id)
              expect(ids, `${order} ${JSON.stringify(filters)}`).toEqual(order === "asc" ? sorted : sorted.reverse())
            }
          }
        })
      yield* checkAll(store)

      // Rows written around the Store (what the benchmarks' fills do) are seen at the next start.
      const direct = new Database(db.path)
      const extra = newConversation({ timestamp: T(1, "10:30:00.000") })
      yield* store.submit([{ conversations: [extra] }])
      direct
        .prepare(
          `INSERT INTO insights (conversation_id, timestamp, author, sentiment_score, sentiment, confidence, clusters, reasoning, analyzer, raw_response, analyzed_at)
          VALUES (?, ?, ?, -0.9, 'negative', 0.5, '["delivery_delay"]', '', 'direct', '{}', ?)`
        )
        .run(extra.id, extra.timestamp, extra.author, extra.timestamp)
      direct.prepare("INSERT INTO insight_clusters (conversation_id, cluster, timestamp) VALUES (?, 'delivery_delay', ?)").run(extra.id, extra.timestamp)
      direct.close()
      all.push({ id: extra.id, timestamp: extra.timestamp, author: extra.author, insight: { ...makeInsight(extra.id), sentiment_score: -0.9, sentiment: "negative", confidence: 0.5, clusters: ["delivery_delay"], analyzer: "direct", prompt_tokens: null, completion_tokens: null, cost_usd: null } })
      const reopened = Context.get(yield* Layer.build(SqliteStoreLive(db.path)), Store)
      yield* checkAll(reopened)
    }),
    60_000
  )

  it.scoped("score-range total_count equals a recount, alone and with time, label, cluster and author filters, across re-analyses", () =>
    Effect.gen(function* () {
      const db = tempDbPath()
      yield* Effect.addFinalizer(() => Effect.sync(db.cleanup))
      const store = Context.get(yield* Layer.build(SqliteStoreLive(db.path)), Store)
      // Bucket k is [k / SCORE_BUCKETS, (k + 1) / SCORE_BUCKETS); TINY moves a score to the neighbour bucket.
      const edge = (k: number) => k / SCORE_BUCKETS
      const TINY = 2 ** -40
      const EDGES = [-SCORE_BUCKETS, -512, -256, -205, -204, -1, 0, 3, 4, 128, 384, SCORE_BUCKETS - 1, SCORE_BUCKETS]
      const SPECIAL = [...EDGES.flatMap((k) => [edge(k), edge(k) - TINY, edge(k) + TINY]), -0.2, 0.3337, edge(3.5)].filter((x) => x >= -1 && x <= 1)
      const scoreOf = () => (random() < 0.5 ? pick(SPECIAL) : Math.round((random() * 2 - 1) * 1000) / 1000)
      // Mostly the label the score implies, sometimes another (an LLM may disagree with itself).
      const insightWith = (id: string, score: number): Insight => ({
        ...makeInsight(id),
        sentiment_score: score,
        sentiment: random() < 0.15 ? pick(["positive", "neutral", "negative"] as const) : label(score)
      })
      const { conversations, finals, record } = yield* seedConversations(store, 400, "scored conversation")
      for (let i = 0; i < conversations.length; i += 10) yield* record(conversations.slice(i, i + 10).map((c) => insightWith(c.id, scoreOf())))

      const BOUNDS: ReadonlyArray<Pick<Filters, "minSentiment" | "maxSentiment">> = [
        { minSentiment: -0.5, maxSentiment: -0.2 }, // the benchmark's: min on an edge, max inside a bucket
        { minSentiment: -0.5, maxSentiment: -0.25 }, // both on edges (max inclusive: a score of -0.25 counts)
        { minSentiment: edge(-205), maxSentiment: -0.2 }, // within one bucket, min on its edge
        { minSentiment: edge(-205) - TINY, maxSentiment: edge(-204) }, // one whole bucket plus a sliver each side
        { minSentiment: edge(3), maxSentiment: edge(4) }, // exactly one bucket, plus the next bucket's first score
        { minSentiment: edge(3) + TINY, maxSentiment: edge(4) - TINY }, // inside one bucket
        { minSentiment: -0.2, maxSentiment: -0.2 },
        { minSentiment: 0, maxSentiment: 0 },
        { minSentiment: -1, maxSentiment: -1 },
        { minSentiment: 1, maxSentiment: 1 },
        { minSentiment: -1, maxSentiment: 1 },
        { minSentiment: 0.3, maxSentiment: 0.2 }, // empty
        { maxSentiment: -0.25 },
        { maxSentiment: 0.3337 },
        { minSentiment: 0.125 },
        { minSentiment: edge(-1) + TINY }
      ]
      const OTHERS: ReadonlyArray<Filters> = [
        {},
        { sentiment: "negative" },
        { sentiment: "neutral" },
        { sentiment: "positive" },
        { cluster: "delivery_delay" },
        { cluster: "billing_error", sentiment: "negative" },
        { cluster: "nonexistent" },
        // Answered from the rows: time ranges (edges inside hours, open on one side), author.
        { startTime: T(0, "05:17:23.456"), endTime: T(2, "19:42:00.001") },
        { startTime: T(1, "00:00:00.000"), sentiment: "positive" },
        { endTime: T(1, "13:30:00.000"), cluster: "delivery_delay" },
        { author: "@cy" }
      ]
      const direct = new Database(db.path, { readonly: true })
      yield* Effect.addFinalizer(() => Effect.sync(() => direct.close()))
      // The same filters as plain SQL on the rows, independent of the Store's query code.
      const sqlRecount = (q: Filters) => {
        const where: Array<string> = ["1 = 1"]
        const params: Array<string | number> = []
        const add = (condition: string, value: string | number | undefined) => {
          if (value === undefined) return
          where.push(condition)
          params.push(value)
        }
        add("i.timestamp >= ?", q.startTime)
        add("i.timestamp < ?", q.endTime)
        add("i.sentiment_score >= ?", q.minSentiment)
        add("i.sentiment_score <= ?", q.maxSentiment)
        add("i.sentiment = ?", q.sentiment)
        add("i.author = ?", q.author)
        add("EXISTS (SELECT 1 FROM insight_clusters c WHERE c.conversation_id = i.conversation_id AND c.cluster = ?)", q.cluster)
        return Number(direct.prepare(`SELECT COUNT(*) FROM insights i WHERE ${where.join(" AND ")}`).pluck().get(...params))
      }
      const checkAll = (s: StoreShape, what: string) =>
        Effect.gen(function* () {
          let nonEmpty = 0
          for (const bounds of BOUNDS) {
            for (const others of OTHERS) {
              const filters = { ...others, ...bounds }
              const expected = [...finals.values()].filter((f) => matches(f, filters)).length
              const page = yield* s.queryInsights({ ...filters, order: "desc", limit: 5 })
              expect(page.totalCount, `${what} ${JSON.stringify(filters)}`).toBe(expected)
              expect(sqlRecount(filters), `rows ${what} ${JSON.stringify(filters)}`).toBe(expected)
              for (const item of page.items) expect(matches(finals.get(item.conversation_id)!, filters)).toBe(true)
              if (expected > 0) nonEmpty++
            }
          }
          // Most combinations match something: the comparisons above are not all 0 = 0.
          expect(nonEmpty).toBeGreaterThan(BOUNDS.length * OTHERS.length * 0.6)
        })
      yield* checkAll(store, "recorded")

      // Re-analyses that move scores across bucket edges (and labels, clusters), one id twice in a call.
      const moves = [...finals.values()].filter(() => random() < 0.4)
      const moved = (score: number) => {
        const k = Math.floor(score * SCORE_BUCKETS)
        const to = pick([edge(k) - TINY, edge(k + 1), edge(k + 1) - TINY, -score, scoreOf()])
        return Math.max(-1, Math.min(1, to))
      }
      for (let i = 0; i < moves.length; i += 9) {
        yield* record(moves.slice(i, i + 9).map((f) => insightWith(f.id, moved(f.insight.sentiment_score))))
      }
      const twice = conversations[5]!.id
      yield* record([insightWith(twice, edge(-205)), insightWith(conversations[6]!.id, -0.2), insightWith(twice, edge(-205) - TINY)])
      expect(finals.get(twice)!.insight.sentiment_score).toBe(edge(-205) - TINY)
      yield* checkAll(store, "re-analysed")

      // What the Store kept in step equals what rebuildRollups computes from the rows (SQL floor =
      // JavaScript floor on every edge score): drop a row so the next start sees a difference and rebuilds.
      const rollups = (file: string) => {
        const conn = new Database(file, { readonly: true })
        try {
          return {
            plain: conn.prepare("SELECT bucket, sentiment, n FROM insight_score_rollup WHERE n <> 0 ORDER BY bucket, sentiment").all(),
            clusters: conn.prepare("SELECT cluster, bucket, sentiment, n FROM insight_cluster_score_rollup WHERE n <> 0 ORDER BY cluster, bucket, sentiment").all()
          }
        } finally {
          conn.close()
        }
      }
      const kept = rollups(db.path)
      expect(kept.plain.length).toBeGreaterThan(EDGES.length)
      const writer = new Database(db.path)
      writer.prepare("DELETE FROM insight_score_rollup WHERE rowid IN (SELECT rowid FROM insight_score_rollup WHERE n > 0 LIMIT 1)").run()
      writer.close()
      const reopened = Context.get(yield* Layer.build(SqliteStoreLive(db.path)), Store)
      expect(rollups(db.path)).toEqual(kept)
      yield* checkAll(reopened, "rebuilt")

      // The count really comes from the rollup: a bucket inflated by hand shows in it.
      const inflate = new Database(db.path)
      const changed = inflate
        .prepare("UPDATE insight_score_rollup SET n = n + 1000 WHERE rowid = (SELECT rowid FROM insight_score_rollup WHERE bucket BETWEEN ? AND ? AND n > 0 LIMIT 1)")
        .run(-0.5 * SCORE_BUCKETS, Math.floor(-0.2 * SCORE_BUCKETS) - 1).changes
      inflate.close()
      expect(changed).toBe(1)
      const inflated = yield* reopened.queryInsights({ minSentiment: -0.5, maxSentiment: -0.2, order: "desc", limit: 1 })
      expect(inflated.totalCount).toBe(sqlRecount({ minSentiment: -0.5, maxSentiment: -0.2 }) + 1000)
    }),
    60_000
  )

  it.scoped("summaries by day over a score or confidence range equal a recount: bucket edges, crowded values, partial days, labels, re-analyses", () =>
    Effect.gen(function* () {
      const db = tempDbPath()
      yield* Effect.addFinalizer(() => Effect.sync(db.cleanup))
      const store = Context.get(yield* Layer.build(SqliteStoreLive(db.path)), Store)
      const TINY = 2 ** -40
      // Values on, just below and just above both bucket sizes' edges, values crowded on 0.9 and
      // -0.2 (so a partial bucket is mostly on one side of the bound), and values anywhere.
      const edges = (buckets: number, ks: ReadonlyArray<number>) => ks.flatMap((k) => [k / buckets, k / buckets - TINY, k / buckets + TINY])
      const near = (lo: number, hi: number) => [...edges(RANGE_BUCKETS, [lo, lo + 1, hi]), ...edges(SCORE_BUCKETS, [lo * 8, hi * 8 - 1])]
      const SCORES = [...near(-64, -25), ...near(0, 1), -0.2, -0.2, -0.2, 0.3337, -1, 1].filter((x) => x >= -1 && x <= 1)
      const CONFIDENCES = [...near(115, 116), ...near(64, 65), 0.9, 0.9, 0.9, 0.9, 0, 1].filter((x) => x >= 0 && x <= 1)
      const value = (special: ReadonlyArray<number>, lo: number) => (random() < 0.6 ? pick(special) : lo + Math.round(random() * (1 - lo) * 1000) / 1000)
      const insightWith = (id: string): Insight => {
        const score = value(SCORES, -1)
        return { ...makeInsight(id), sentiment_score: score, confidence: value(CONFIDENCES, 0), sentiment: random() < 0.15 ? pick(["positive", "neutral", "negative"] as const) : label(score) }
      }
      const { conversations, finals, record } = yield* seedConversations(store, 500, "ranged conversation")
      for (let i = 0; i < conversations.length; i += 10) yield* record(conversations.slice(i, i + 10).map((c) => insightWith(c.id)))

      const BOUNDS: ReadonlyArray<Filters> = [
        { minConfidence: 0.9 }, // the benchmark's, on the crowded value
        { maxConfidence: 0.9 },
        { minConfidence: 0.9, maxConfidence: 0.9 },
        { minConfidence: 0.5, maxConfidence: 0.9 },
        { minConfidence: 115 / RANGE_BUCKETS, maxConfidence: 116 / RANGE_BUCKETS }, // one whole bucket and the next one's first value
        { minConfidence: 115 / RANGE_BUCKETS + TINY, maxConfidence: 116 / RANGE_BUCKETS - TINY }, // inside one bucket
        { minConfidence: 0.5 - TINY },
        { maxConfidence: 1 },
        { minConfidence: 0 },
        { minSentiment: -0.5, maxSentiment: -0.2 }, // the benchmark's
        { minSentiment: -0.2 },
        { maxSentiment: -0.2 },
        { minSentiment: -25 / RANGE_BUCKETS, maxSentiment: 1 / RANGE_BUCKETS },
        { minSentiment: -25 / RANGE_BUCKETS - TINY, maxSentiment: -TINY },
        { minSentiment: -1, maxSentiment: 1 },
        { minSentiment: 0.3, maxSentiment: 0.2 } // empty
      ]
      const OTHERS: ReadonlyArray<Filters> = [
        {},
        { sentiment: "negative" },
        { sentiment: "positive" },
        // Partial days at both ends, whole days, open on one side, within one day.
        { startTime: T(0, "05:17:23.456"), endTime: T(2, "19:42:00.001") },
        { startTime: T(1, "00:00:00.000"), endTime: T(2, "00:00:00.000"), sentiment: "neutral" },
        { startTime: T(1, "13:30:00.000") },
        { endTime: T(1, "13:30:00.000") },
        { startTime: T(1, "10:05:00.000"), endTime: T(1, "22:55:00.000") }
      ]
      const all = () => [...finals.values()]
      const checkAll = (s: StoreShape, what: string) =>
        Effect.gen(function* () {
          let nonEmpty = 0
          for (const bounds of BOUNDS) {
            for (const others of OTHERS) {
              const query = { ...others, ...bounds, bucket: "day" as const }
              const expected = recount(all(), query)
              expectSame(yield* s.summarize(query), expected, `${what} ${JSON.stringify(query)}`)
              if (expected.total > 0) nonEmpty++
            }
          }
          expect(nonEmpty).toBeGreaterThan(BOUNDS.length * OTHERS.length * 0.6)
        })
      yield* checkAll(store, "recorded")

      // Re-analyses moving values across edges (and labels, analyzers, clusters); one id twice in a call.
      const moves = all().filter(() => random() < 0.4)
      for (let i = 0; i < moves.length; i += 9) yield* record(moves.slice(i, i + 9).map((f) => insightWith(f.id)))
      yield* record([insightWith(conversations[5]!.id), insightWith(conversations[6]!.id), insightWith(conversations[5]!.id)])
      yield* checkAll(store, "re-analysed")

      // What the Store kept in step equals the rebuild from the rows (after a row is dropped, the next start rebuilds).
      const TABLES = {
        insight_day_score_rollup: "bucket, day, sentiment, analyzer",
        insight_day_confidence_rollup: "bucket, day, sentiment, analyzer",
        insight_cluster_score_rollup: "cluster, bucket, sentiment",
        insight_cluster_confidence_rollup: "cluster, bucket, sentiment"
      }
      const rollups = () => {
        const conn = new Database(db.path, { readonly: true })
        try {
          return Object.entries(TABLES).map(([table, key]) => conn.prepare(`SELECT * FROM ${table} WHERE n <> 0 ORDER BY ${key}`).all())
        } finally {
          conn.close()
        }
      }
      const kept = rollups()
      for (const rows of kept) expect(rows.length).toBeGreaterThan(20)
      const writer = new Database(db.path)
      writer.prepare("DELETE FROM insight_day_confidence_rollup WHERE (bucket, day, sentiment, analyzer) = (SELECT bucket, day, sentiment, analyzer FROM insight_day_confidence_rollup WHERE n > 0 LIMIT 1)").run()
      writer.close()
      const reopened = Context.get(yield* Layer.build(SqliteStoreLive(db.path)), Store)
      expectSame(rollups(), kept, "rebuilt rollups")
      yield* checkAll(reopened, "rebuilt")

      // The summary really comes from these rollups, the partial bucket of the crowded 0.9 included
      // (its rollup bucket less the few rows below 0.9): inflated by hand, they show in it.
      const before = yield* reopened.summarize({ minConfidence: 0.9, bucket: "day" })
      const inflate = new Database(db.path)
      const edgeBucket = Math.floor(0.9 * RANGE_BUCKETS)
      expect(inflate.prepare("UPDATE insight_day_confidence_rollup SET n = n + 1000 WHERE (bucket, day, sentiment, analyzer) = (SELECT bucket, day, sentiment, analyzer FROM insight_day_confidence_rollup WHERE bucket = ? AND n > 0 LIMIT 1)").run(edgeBucket).changes).toBe(1)
      expect(inflate.prepare("UPDATE insight_day_confidence_rollup SET n = n + 100 WHERE (bucket, day, sentiment, analyzer) = (SELECT bucket, day, sentiment, analyzer FROM insight_day_confidence_rollup WHERE bucket > ? AND n > 0 LIMIT 1)").run(edgeBucket).changes).toBe(1)
      expect(inflate.prepare("UPDATE insight_cluster_confidence_rollup SET n = n + 10000 WHERE (cluster, bucket, sentiment) = (SELECT cluster, bucket, sentiment FROM insight_cluster_confidence_rollup WHERE bucket = ? AND n > 0 LIMIT 1)").run(Math.floor(0.9 * SCORE_BUCKETS)).changes).toBe(1)
      inflate.close()
      const inflated = yield* reopened.summarize({ minConfidence: 0.9, bucket: "day" })
      expect(inflated.total).toBe(before.total + 1100)
      expect(inflated.topClusters[0]!.count).toBeGreaterThan(10000)
    }),
    60_000
  )
})
