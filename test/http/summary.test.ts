/**
 * GET /api/v1/insights/summary against the real daemon (/work/notes/summary-contract.md): on a
 * few hundred generated conversations spread over three days, every number agrees with the
 * insights GET /api/v1/insights returns for the same filters (counts per bucket and label, mean
 * sentiment, cluster counts and means, analyzers, status counts); bad parameters are 400.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type RunningDaemon, startDaemon, waitFor } from "../support/server.js"
import { expectError, makeClient } from "./helpers.js"

type Label = "positive" | "neutral" | "negative"
interface Item {
  conversation_id: string
  timestamp: string
  sentiment_score: number
  sentiment: Label
  confidence: number
  clusters: Array<string>
  analyzer: string
}
interface Labels {
  positive: number
  neutral: number
  negative: number
}
interface Summary {
  start_time: string | null
  end_time: string | null
  bucket: "hour" | "day"
  total: number
  mean_sentiment: number | null
  buckets: Array<{ start: string; count: number; mean_sentiment: number; labels: Labels }>
  labels: Labels
  top_clusters: Array<{ cluster: string; count: number; mean_sentiment: number }>
  analyzers: Array<{ analyzer: string; count: number; prompt_tokens: number; completion_tokens: number; cost_usd: number }>
  status_counts: { pending: number; processing: number; completed: number; failed: number }
}

const TOTAL = 360
const TEXTS = [
  "My package still hasn't arrived after three weeks, this is terrible",
  "Thanks so much, you fixed it quickly! Great support",
  "I was charged twice for my order and want a refund",
  "on hold for 2 hours, awful customer service",
  "Love the new app, it works perfectly",
  "Where can I find my invoice?",
  "The app keeps crashing when I log in",
  "I cannot log in to my account, password reset never arrives",
  "The delivery was late again and the box was damaged",
  "ok"
]
const DAY0 = Date.parse("2026-03-01T00:00:00.000Z")

let daemon: RunningDaemon
const client = makeClient(() => daemon)
let all: Array<Item> = []

const summary = (params = "") => client.getJson<Summary>(`/api/v1/insights/summary${params === "" ? "" : `?${params}`}`)

/** What the summary must say about `items`, computed from the list endpoint's own answer. */
const expected = (items: ReadonlyArray<Item>, bucket: "hour" | "day") => {
  const empty = (): Labels => ({ positive: 0, neutral: 0, negative: 0 })
  const buckets = new Map<string, { count: number; sum: number; labels: Labels }>()
  const clusters = new Map<string, { count: number; sum: number }>()
  const labels = empty()
  let sum = 0
  for (const item of items) {
    const start = bucket === "hour" ? `${item.timestamp.slice(0, 13)}:00:00.000Z` : `${item.timestamp.slice(0, 10)}T00:00:00.000Z`
    const b = buckets.get(start) ?? { count: 0, sum: 0, labels: empty() }
    b.count++
    b.sum += item.sentiment_score
    b.labels[item.sentiment]++
    buckets.set(start, b)
    labels[item.sentiment]++
    sum += item.sentiment_score
    for (const cluster of new Set(item.clusters)) {
      const c = clusters.get(cluster) ?? { count: 0, sum: 0 }
      c.count++
      c.sum += item.sentiment_score
      clusters.set(cluster, c)
    }
  }
  return {
    total: items.length,
    mean: items.length === 0 ? null : sum / items.length,
    labels,
    buckets: [...buckets.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([start, b]) => ({ start, count: b.count, mean: b.sum / b.count, labels: b.labels })),
    clusters: [...clusters.entries()]
      .sort(([a, x], [b, y]) => y.count - x.count || (a < b ? -1 : 1))
      .slice(0, 10)
      .map(([cluster, c]) => ({ cluster, count: c.count, mean: c.sum / c.count }))
  }
}

const expectAgrees = (got: Summary, items: ReadonlyArray<Item>, bucket: "hour" | "day") => {
  const want = expected(items, bucket)
  expect(got.bucket).toBe(bucket)
  expect(got.total).toBe(want.total)
  if (want.mean === null) expect(got.mean_sentiment).toBeNull()
  else expect(Math.abs(got.mean_sentiment! - want.mean)).toBeLessThan(1e-9)
  expect(got.labels).toEqual(want.labels)
  expect(got.buckets.map((b) => [b.start, b.count, b.labels])).toEqual(want.buckets.map((b) => [b.start, b.count, b.labels]))
  got.buckets.forEach((b, i) => expect(Math.abs(b.mean_sentiment - want.buckets[i].mean)).toBeLessThan(1e-9))
  expect(got.top_clusters.map((c) => [c.cluster, c.count])).toEqual(want.clusters.map((c) => [c.cluster, c.count]))
  got.top_clusters.forEach((c, i) => expect(Math.abs(c.mean_sentiment - want.clusters[i].mean)).toBeLessThan(1e-9))
  const byAnalyzer = new Map<string, number>()
  for (const item of items) byAnalyzer.set(item.analyzer, (byAnalyzer.get(item.analyzer) ?? 0) + 1)
  expect(new Map(got.analyzers.map((a) => [a.analyzer, a.count]))).toEqual(byAnalyzer)
}

/** Every insight matching `params`, from the list endpoint (one page holds them all). */
const listAll = async (params: string) => {
  const page = await client.getJson<{ insights: Array<Item>; metadata: { next_cursor: string | null } }>(`/api/v1/insights?limit=1000&${params}`)
  expect(page.metadata.next_cursor).toBeNull()
  return page.insights
}

beforeAll(async () => {
  daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
  const items = Array.from({ length: TOTAL }, (_, i) => ({
    author: `@customer${i % 7}`,
    // Spread over three days, several per hour, minutes and seconds varying.
    timestamp: new Date(DAY0 + ((i * 7_919_000) % (3 * 86_400_000))).toISOString(),
    text: `${TEXTS[i % TEXTS.length]} (#${i})`
  }))
  for (let i = 0; i < items.length; i += 100) {
    const response = await client.post("/api/v1/conversations/bulk", items.slice(i, i + 100))
    expect(response.status).toBe(202)
  }
  await waitFor(async () => (await summary()).status_counts.completed === TOTAL, 30_000, "every conversation analysed")
  all = await listAll("")
  expect(all.length).toBe(TOTAL)
}, 60_000)

afterAll(async () => {
  expect(client.serverErrors()).toEqual([])
  if (daemon) {
    expect(await daemon.stop()).toBe(0)
    daemon.cleanup()
  }
})

describe("GET /api/v1/insights/summary", () => {
  it("agrees with the insights it summarises, by hour (the default) and by day", async () => {
    const byHour = await summary()
    expect(byHour.start_time).toBeNull()
    expect(byHour.end_time).toBeNull()
    expectAgrees(byHour, all, "hour")
    expect(byHour.buckets.length).toBeGreaterThan(24)
    expect(byHour.status_counts).toEqual({ pending: 0, processing: 0, completed: TOTAL, failed: 0 })
    expect(byHour.analyzers).toEqual([{ analyzer: "local:lexicon-v1", count: TOTAL, prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 }])
    const byDay = await summary("bucket=day")
    expectAgrees(byDay, all, "day")
    expect(byDay.buckets.map((b) => b.start)).toEqual(["2026-03-01T00:00:00.000Z", "2026-03-02T00:00:00.000Z", "2026-03-03T00:00:00.000Z"])
  })

  it("applies the time range (start ≤ t < end) and the insights filters exactly like GET /api/v1/insights", async () => {
    const cluster = (await summary()).top_clusters[0].cluster
    const cases = [
      "start_time=2026-03-01T12:00:00Z&end_time=2026-03-02T12:00:00Z",
      "start_time=2026-03-02T00:00:00Z",
      "sentiment=negative",
      `cluster=${cluster}`,
      `cluster=${cluster}&start_time=2026-03-02T00:00:00Z&end_time=2026-03-03T00:00:00Z`,
      "min_sentiment=-0.2&max_sentiment=0.5",
      "min_confidence=0.5",
      "author=%40customer3&bucket=day",
      "start_time=2030-01-01T00:00:00Z"
    ]
    for (const params of cases) {
      const bucket = params.includes("bucket=day") ? "day" : "hour"
      const got = await summary(params)
      expectAgrees(got, await listAll(params.replace("&bucket=day", "")), bucket)
    }
    const range = await summary("start_time=2026-03-01T12:00:00Z&end_time=2026-03-02T12:00:00Z")
    expect(range.start_time).toBe("2026-03-01T12:00:00.000Z")
    expect(range.end_time).toBe("2026-03-02T12:00:00.000Z")
    const none = await summary("start_time=2030-01-01T00:00:00Z")
    expect(none.total).toBe(0)
    expect(none.mean_sentiment).toBeNull()
    expect(none.buckets).toEqual([])
    expect(none.top_clusters).toEqual([])
    // Status counts are the whole database's, whatever the filters.
    expect(none.status_counts.completed).toBe(TOTAL)
  })

  it("answers 400 invalid_parameter naming the field for a bad bucket, time or bound", async () => {
    for (const [params, field] of [
      ["bucket=week", "bucket"],
      ["start_time=yesterday", "start_time"],
      ["end_time=2026-13-01T00:00:00Z", "end_time"],
      ["min_confidence=2", "min_confidence"],
      ["sentiment=angry", "sentiment"],
      ["start_time=2026-03-02T00:00:00Z&end_time=2026-03-01T00:00:00Z", "start_time"],
      // The list's paging parameters mean nothing here: refused, not silently ignored.
      ["limit=5", "limit"],
      ["cursor=abc", "cursor"],
      ["buckets=day", "buckets"]
    ] as const) {
      const body = await expectError(await client.get(`/api/v1/insights/summary?${params}`), 400, "invalid_parameter")
      expect(body.details.map((d) => String(d.field))).toContain(field)
      expect(body.message).not.toMatch(/Expected|actual/)
    }
    const bucket = await expectError(await client.get("/api/v1/insights/summary?bucket=week"), 400, "invalid_parameter")
    expect(bucket.message).toBe('bucket must be one of hour, day (got "week")')
    expect(bucket.details).toEqual([{ field: "bucket", message: 'bucket must be one of hour, day (got "week")' }])
  })

  it("needs the API key like the other /api/v1 routes when keys are configured", async () => {
    const keyed = await startDaemon({ env: { INSIGHTD_API_KEYS: "k-summary-1" } })
    try {
      await expectError(await fetch(`${keyed.baseUrl}/api/v1/insights/summary`), 401, "unauthorized")
      const ok = await fetch(`${keyed.baseUrl}/api/v1/insights/summary`, { headers: { authorization: "Bearer k-summary-1" } })
      expect(ok.status).toBe(200)
      expect(((await ok.json()) as Summary).total).toBe(0)
    } finally {
      expect(await keyed.stop()).toBe(0)
      keyed.cleanup()
    }
  })
})
