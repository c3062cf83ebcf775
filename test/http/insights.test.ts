/**
 * SPEC §4 GET /api/v1/insights against the real daemon: every filter (bounds inclusive, time
 * range start ≤ t < end), order, limit bounds, 400 invalid_parameter for bad values, metadata,
 * and cursor paging over 300 insights (many sharing a timestamp, so ties must be broken) that
 * never skips or repeats, in both orders and combined with filters.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { conversation, type RunningDaemon, startDaemon, waitFor } from "../support/server.js"
import { expectError, makeClient } from "./helpers.js"

interface Item {
  conversation_id: string
  timestamp: string
  author: string
  text: string
  sentiment_score: number
  sentiment: "positive" | "negative" | "neutral"
  confidence: number
  clusters: Array<string>
  reasoning: string
  analyzer: string
  analyzed_at: string
}
interface Page {
  insights: Array<Item>
  metadata: { total_count: number; returned_count: number; start_time: string | null; end_time: string | null; next_cursor: string | null }
}

const ITEM_KEYS = ["analyzed_at", "analyzer", "author", "clusters", "confidence", "conversation_id", "reasoning", "sentiment", "sentiment_score", "text", "timestamp"]
const TOTAL = 300
const TEXTS = [
  "My package still hasn't arrived after three weeks, this is terrible",
  "Thanks so much, you fixed it quickly! Great support",
  "I was charged twice for my order and want a refund",
  "on hold for 2 hours, awful customer service",
  "Love the new app, it works perfectly",
  "Where can I find my invoice?",
  "The app keeps crashing when I log in",
  "ok"
]

let daemon: RunningDaemon
const client = makeClient(() => daemon)
let all: Array<Item> = [] // every insight, newest first, as one page

const query = (params: string) => client.getJson<Page>(`/api/v1/insights?${params}`)

/** Follows next_cursor with limit 7 until the end, checking each page on the way. */
const pageAll = async (params: string) => {
  const seen: Array<Item> = []
  let cursor: string | null = null
  let total: number | undefined
  for (let pages = 0; ; pages++) {
    if (pages > 200) throw new Error("paging does not end")
    const page: Page = await query(`${params}&limit=7${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`)
    expect(page.metadata.returned_count).toBe(page.insights.length)
    expect(page.insights.length).toBeLessThanOrEqual(7)
    total ??= page.metadata.total_count
    expect(page.metadata.total_count).toBe(total)
    seen.push(...page.insights)
    cursor = page.metadata.next_cursor
    if (cursor === null) break
    expect(page.insights.length).toBe(7)
  }
  expect(seen.length).toBe(total)
  return seen
}

const ids = (items: ReadonlyArray<Item>) => items.map((i) => i.conversation_id)
const sortedIds = (items: ReadonlyArray<Item>) => ids(items).sort()

beforeAll(async () => {
  daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
  // 30 distinct instants, 10 conversations each: the cursor has to break timestamp ties.
  // Every 7th one is written with a +02:00 offset for the same instant (stored as UTC).
  const items = Array.from({ length: TOTAL }, (_, i) => {
    const day = String(1 + (i % 10)).padStart(2, "0")
    const hour = i % 3
    const timestamp = i % 7 === 0 ? `2024-05-${day}T0${hour + 2}:30:00+02:00` : `2024-05-${day}T0${hour}:30:00Z`
    return conversation({ id: `conv_page_${String(i).padStart(4, "0")}`, author: `@author${i % 5}`, timestamp, text: TEXTS[i % TEXTS.length] })
  })
  const response = await client.post("/api/v1/conversations/bulk", items)
  expect(response.status).toBe(202)
  await waitFor(async () => (await query("limit=1")).metadata.total_count === TOTAL, 30_000, "all 300 insights")
  all = (await query("limit=1000")).insights
  expect(all).toHaveLength(TOTAL)
})
afterAll(async () => {
  if (daemon === undefined) return
  expect(await daemon.stop()).toBe(0)
  daemon.cleanup()
  expect(client.serverErrors(), "no response may be a 500").toEqual([])
})

describe("GET /api/v1/insights: shape and defaults", () => {
  it("returns {insights, metadata} with the SPEC fields; limit defaults to 100, newest first", async () => {
    const page = await query("")
    expect(Object.keys(page).sort()).toEqual(["insights", "metadata"])
    expect(Object.keys(page.metadata).sort()).toEqual(["end_time", "next_cursor", "returned_count", "start_time", "total_count"])
    expect(page.metadata).toMatchObject({ total_count: TOTAL, returned_count: 100, start_time: null, end_time: null })
    expect(typeof page.metadata.next_cursor).toBe("string")
    expect(page.insights).toHaveLength(100)
    for (const item of page.insights) {
      expect(Object.keys(item).sort()).toEqual(ITEM_KEYS)
      expect(item.analyzer).toMatch(/^local:/)
    }
    expect(ids(page.insights)).toEqual(ids(all).slice(0, 100))
  })

  it("desc is the default (newest first); asc is oldest first", async () => {
    const timestamps = all.map((i) => i.timestamp)
    expect(timestamps).toEqual([...timestamps].sort().reverse())
    expect(ids((await query("order=desc&limit=1000")).insights)).toEqual(ids(all))
    const asc = (await query("order=asc&limit=1000")).insights
    expect(asc.map((i) => i.timestamp)).toEqual([...timestamps].sort())
    expect(sortedIds(asc)).toEqual(sortedIds(all))
  })

  it("the data set exercises every label, several clusters and several confidences", () => {
    for (const label of ["positive", "negative", "neutral"]) expect(all.some((i) => i.sentiment === label), label).toBe(true)
    expect(new Set(all.flatMap((i) => i.clusters)).size).toBeGreaterThanOrEqual(3)
    expect(new Set(all.map((i) => i.confidence)).size).toBeGreaterThanOrEqual(3)
    // timestamps submitted with an offset are stored in UTC
    expect(all.find((i) => i.conversation_id === "conv_page_0000")!.timestamp).toBe("2024-05-01T00:30:00.000Z")
  })

  it("limit=1 and limit=1000 are the accepted bounds", async () => {
    expect((await query("limit=1")).insights).toHaveLength(1)
    expect((await query("limit=1000")).insights).toHaveLength(TOTAL)
  })
})

describe("GET /api/v1/insights: filters", () => {
  /** The filtered query returns exactly the items of `all` matching `predicate`, in order. */
  const check = async (params: string, predicate: (i: Item) => boolean, atLeast = 1) => {
    const page = await query(`${params}&limit=1000`)
    const expected = all.filter(predicate)
    expect(expected.length, `${params} should match something`).toBeGreaterThanOrEqual(atLeast)
    expect(ids(page.insights), params).toEqual(ids(expected))
    expect(page.metadata.total_count, params).toBe(expected.length)
    expect(page.metadata.returned_count).toBe(expected.length)
    return page
  }

  it("start_time ≤ timestamp < end_time, echoed (as UTC) in metadata", async () => {
    const start = "2024-05-02T01:30:00.000Z" // an instant that 10 conversations have exactly
    const end = "2024-05-04T00:30:00.000Z" // likewise: excluded
    const page = await check(`start_time=${start}&end_time=${end}`, (i) => i.timestamp >= start && i.timestamp < end, 10)
    expect(page.insights.some((i) => i.timestamp === start)).toBe(true)
    expect(page.insights.some((i) => i.timestamp === end)).toBe(false)
    expect(page.metadata.start_time).toBe(start)
    expect(page.metadata.end_time).toBe(end)
    // only one bound; and an offset in the query means the same instant
    await check(`start_time=${start}`, (i) => i.timestamp >= start)
    await check(`end_time=${end}`, (i) => i.timestamp < end)
    const offsetPage = await check(`start_time=${encodeURIComponent("2024-05-02T03:30:00+02:00")}&end_time=${end}`, (i) => i.timestamp >= start && i.timestamp < end)
    expect(offsetPage.metadata.start_time).toBe(start)
    // an empty range
    await check(`start_time=${start}&end_time=${start}`, () => false, 0)
  })

  it("a bound between two milliseconds keeps start ≤ t < end exact (times are stored to the millisecond)", async () => {
    const at = "2024-05-02T01:30:00.000Z" // an instant that 10 conversations have exactly
    // end just after it: those 10 are before the end, so in the range (truncating to .000 left them out)
    const justAfter = await check(`start_time=2024-05-02T01:29:59.9999Z&end_time=2024-05-02T01:30:00.0001Z`, (i) => i.timestamp === at, 10)
    expect(justAfter.metadata.end_time).toBe("2024-05-02T01:30:00.001Z")
    // start just after it: they are before the start, so out of the range
    await check(`start_time=2024-05-02T01:30:00.0001Z&end_time=2024-05-02T01:30:01Z`, () => false, 0)
    // more digits that are all zeros change nothing
    await check(`start_time=2024-05-02T01:30:00.000000Z&end_time=2024-05-02T01:30:00.0010Z`, (i) => i.timestamp === at, 10)
    // past the last millisecond there is nothing to round up to: still a valid bound
    await check(`end_time=9999-12-31T23:59:59.9991Z`, () => true)
  })

  it("min_confidence and max_confidence are inclusive", async () => {
    const values = [...new Set(all.map((i) => i.confidence))].sort((a, b) => a - b)
    const middle = values[Math.floor(values.length / 2)]
    await check(`min_confidence=${middle}`, (i) => i.confidence >= middle)
    await check(`max_confidence=${middle}`, (i) => i.confidence <= middle)
    await check(`min_confidence=${middle}&max_confidence=${middle}`, (i) => i.confidence === middle)
    await check("min_confidence=0&max_confidence=1", () => true, TOTAL)
  })

  it("min_sentiment and max_sentiment are inclusive", async () => {
    const values = [...new Set(all.map((i) => i.sentiment_score))].sort((a, b) => a - b)
    const low = values[1]
    const high = values[values.length - 2]
    await check(`min_sentiment=${low}`, (i) => i.sentiment_score >= low)
    await check(`max_sentiment=${high}`, (i) => i.sentiment_score <= high)
    await check(`min_sentiment=${low}&max_sentiment=${high}`, (i) => i.sentiment_score >= low && i.sentiment_score <= high)
    await check(`min_sentiment=${high}&max_sentiment=${high}`, (i) => i.sentiment_score === high)
    await check("min_sentiment=-1&max_sentiment=1", () => true, TOTAL)
  })

  it("sentiment label filter, consistent with the default thresholds", async () => {
    for (const label of ["positive", "negative", "neutral"] as const) {
      const page = await check(`sentiment=${label}`, (i) => i.sentiment === label)
      for (const item of page.insights) {
        if (label === "negative") expect(item.sentiment_score).toBeLessThan(-0.1)
        if (label === "positive") expect(item.sentiment_score).toBeGreaterThan(0.1)
        if (label === "neutral") expect(Math.abs(item.sentiment_score)).toBeLessThanOrEqual(0.1)
      }
    }
  })

  it("cluster filter matches any of an insight's clusters; an unknown cluster is an empty page", async () => {
    for (const cluster of new Set(all.flatMap((i) => i.clusters))) await check(`cluster=${encodeURIComponent(cluster)}`, (i) => i.clusters.includes(cluster))
    const empty = await check("cluster=no_such_cluster", () => false, 0)
    expect(empty.metadata.next_cursor).toBeNull()
  })

  it("author filter is an exact match", async () => {
    await check("author=%40author3", (i) => i.author === "@author3", 60)
    await check("author=author3", () => false, 0)
  })

  it("filters combine with AND", async () => {
    const start = "2024-05-03T00:00:00.000Z"
    await check(`sentiment=negative&author=%40author1&start_time=${start}`, (i) => i.sentiment === "negative" && i.author === "@author1" && i.timestamp >= start)
  })
})

describe("GET /api/v1/insights: cursor paging", () => {
  it("limit 7 over 300 insights never skips or repeats, in both orders, and the union is the full set", async () => {
    for (const order of ["desc", "asc"] as const) {
      const paged = await pageAll(`order=${order}`)
      expect(paged).toHaveLength(TOTAL)
      expect(new Set(ids(paged)).size).toBe(TOTAL)
      expect(sortedIds(paged)).toEqual(sortedIds(all))
      // exactly the sequence one big page gives
      expect(ids(paged)).toEqual(ids((await query(`order=${order}&limit=1000`)).insights))
      const timestamps = paged.map((i) => i.timestamp)
      expect(timestamps).toEqual(order === "asc" ? [...timestamps].sort() : [...timestamps].sort().reverse())
    }
  })

  it("paging without order is newest first, like order=desc", async () => {
    expect(ids(await pageAll(""))).toEqual(ids(all))
  })

  it("paging combined with filters returns exactly the filtered set", async () => {
    for (const params of ["sentiment=negative&order=asc", "author=%40author1", "min_confidence=0.2&start_time=2024-05-03T00:00:00Z&end_time=2024-05-08T00:00:00Z"]) {
      const paged = await pageAll(params)
      const expected = (await query(`${params}&limit=1000`)).insights
      expect(expected.length, params).toBeGreaterThan(7)
      expect(ids(paged), params).toEqual(ids(expected))
      expect(new Set(ids(paged)).size).toBe(paged.length)
    }
  })

  it("a cursor is refused with other filters or the other order (it would skip or repeat items), and accepted with the same ones in any spelling", async () => {
    const first = await query("sentiment=negative&order=asc&limit=3")
    const cursor = first.metadata.next_cursor!
    for (const other of ["sentiment=negative&order=desc", "order=asc", "sentiment=positive&order=asc", "sentiment=negative&order=asc&author=x"]) {
      const error = await expectError(await client.get(`/api/v1/insights?${other}&limit=3&cursor=${cursor}`), 400, "invalid_parameter")
      expect(error.details.map((d) => d.field), other).toEqual(["cursor"])
      expect(error.message).toContain("cursor belongs to another query")
    }
    // The same query, parameters reordered and limit changed: the next page.
    const next = await query(`limit=5&cursor=${cursor}&order=asc&sentiment=negative`)
    expect(next.insights.length).toBeGreaterThan(0)
    expect(ids(next.insights).some((id) => ids(first.insights).includes(id))).toBe(false)
  })

  it("the last page has next_cursor null", async () => {
    const page = await query("limit=1000")
    expect(page.metadata.next_cursor).toBeNull()
    const exact = await query(`limit=${TOTAL}`)
    expect(exact.metadata.next_cursor).toBeNull()
  })
})

describe("GET /api/v1/insights: 400 invalid_parameter", () => {
  const LIMIT_MESSAGE = "limit must be an integer between 1 and 1000"
  const cases: Array<[string, string, string]> = [
    ["limit=0", "limit", LIMIT_MESSAGE],
    ["limit=1001", "limit", LIMIT_MESSAGE],
    ["limit=abc", "limit", LIMIT_MESSAGE],
    ["limit=2.5", "limit", LIMIT_MESSAGE],
    ["limit=-1", "limit", LIMIT_MESSAGE],
    ["limit=", "limit", LIMIT_MESSAGE],
    ["limit=1&limit=2", "limit", "limit"],
    ["limit=1e2", "limit", LIMIT_MESSAGE],
    ["limit=0x10", "limit", LIMIT_MESSAGE],
    ["min_sentiment=0x1", "min_sentiment", "min_sentiment"],
    ["min_confidence=0b1", "min_confidence", "min_confidence"],
    ["max_confidence=%200.5", "max_confidence", "max_confidence"],
    ["min_confidence=2", "min_confidence", "min_confidence"],
    ["min_confidence=-0.1", "min_confidence", "min_confidence"],
    ["max_confidence=1.5", "max_confidence", "max_confidence"],
    ["max_confidence=high", "max_confidence", "max_confidence"],
    ["min_sentiment=-1.5", "min_sentiment", "min_sentiment"],
    ["max_sentiment=2", "max_sentiment", "max_sentiment"],
    ["min_sentiment=NaN", "min_sentiment", "min_sentiment"],
    ["sentiment=happy", "sentiment", 'sentiment must be one of positive, negative, neutral (got "happy")'],
    ["order=sideways", "order", 'order must be one of asc, desc (got "sideways")'],
    ["start_time=yesterday", "start_time", "start_time"],
    // `+` unencoded in a query string is a space: the message says to send %2B.
    ["start_time=2024-05-01T00:00:00+02:00", "start_time", "a + in a query string must be sent as %2B"],
    ["end_time=2024-13-45T00:00:00Z", "end_time", "end_time"],
    ["sentimnet=negative", "sentimnet", "sentimnet is not a parameter of this endpoint; it takes start_time, end_time,"],
    ["LIMIT=5", "LIMIT", "LIMIT is not a parameter of this endpoint"],
    ["author=a&author=b", "author", "author must be given once"],
    ["cluster=billing&cluster=refund", "cluster", "cluster must be given once"],
    ["sentiment=negative&sentiment=positive", "sentiment", "sentiment must be given once"],
    ["order=asc&order=desc", "order", "order must be given once"],
    ["author=", "author", "author must not be empty"],
    ["author=%20%20", "author", "author must not be empty"],
    ["cluster=", "cluster", 'cluster must be a lowercase snake_case label such as delivery_delay (got "")'],
    ["cluster=Billing", "cluster", 'cluster must be a lowercase snake_case label such as delivery_delay (got "Billing")'],
    ["cluster=delivery%20delay", "cluster", "cluster must be a lowercase snake_case label"],
    ["cursor=garbage", "cursor", "cursor"],
    [`cursor=${Buffer.from('{"a":1}').toString("base64url")}`, "cursor", "cursor"],
    ["min_confidence=0.9&max_confidence=0.1", "min_confidence", "min_confidence"],
    ["start_time=2024-05-05T00:00:00Z&end_time=2024-05-01T00:00:00Z", "start_time", "start_time"]
  ]

  it.each(cases)("%s → 400 naming %s", async (params, field, text) => {
    const error = await expectError(await client.get(`/api/v1/insights?${params}`), 400, "invalid_parameter")
    expect(error.message).toContain(text)
    expect(error.details.map((d) => d.field)).toContain(field)
    // One issue per bad parameter, in the client's terms (not one per allowed value in Schema's).
    expect(error.details.filter((d) => d.field === field)).toHaveLength(1)
    expect(error.message).not.toMatch(/Expected|actual/)
  })
})
