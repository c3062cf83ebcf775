import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { conversation, type Daemon, postJson, startDaemon, waitFor } from "../support/daemon.js"

interface Item {
  conversation_id: string
  timestamp: string
  author: string
  sentiment_score: number
  sentiment: string
  confidence: number
  clusters: Array<string>
}
interface Page {
  insights: Array<Item>
  metadata: { total_count: number; returned_count: number; start_time: string | null; end_time: string | null; next_cursor: string | null }
}

let daemon: Daemon
const TOTAL = 300
const texts = [
  "My package still hasn't arrived, this is terrible",
  "Thanks so much, you fixed it!",
  "I was charged twice for my order",
  "on hold for 2 hours, awful service",
  "Love the new app, works perfectly",
  "Where can I find my invoice?"
]

const query = async (params: string) => {
  const response = await fetch(`${daemon.baseUrl}/api/v1/insights?${params}`)
  expect(response.status).toBe(200)
  return (await response.json()) as Page
}

const pageAll = async (params: string) => {
  const seen: Array<Item> = []
  let cursor: string | null = null
  for (let i = 0; i < 1000; i++) {
    const page: Page = await query(`${params}&limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`)
    expect(page.metadata.returned_count).toBe(page.insights.length)
    seen.push(...page.insights)
    cursor = page.metadata.next_cursor
    if (cursor === null) break
  }
  return seen
}

beforeAll(async () => {
  daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
  // Few distinct timestamps, so many insights share one: the cursor must break ties.
  const items = Array.from({ length: TOTAL }, (_, i) =>
    conversation({
      id: `conv_page_${String(i).padStart(4, "0")}`,
      author: `@author${i % 5}`,
      timestamp: `2024-05-${String(1 + (i % 10)).padStart(2, "0")}T0${i % 3}:00:00Z`,
      text: texts[i % texts.length]
    })
  )
  const response = await postJson(daemon.baseUrl, "/api/v1/conversations/bulk", items)
  expect(response.status).toBe(202)
  await waitFor(async () => (await query("limit=1")).metadata.total_count === TOTAL, 30_000, "all insights")
})
afterAll(async () => {
  expect(await daemon.stop()).toBe(0)
})

describe("GET /api/v1/insights", () => {
  it("cursor paging never skips or repeats, in both orders", async () => {
    for (const order of ["desc", "asc"]) {
      const items = await pageAll(`order=${order}`)
      expect(items).toHaveLength(TOTAL)
      expect(new Set(items.map((i) => i.conversation_id)).size).toBe(TOTAL)
      const keys = items.map((i) => `${i.timestamp} ${i.conversation_id}`)
      const sorted = [...keys].sort()
      expect(keys).toEqual(order === "asc" ? sorted : sorted.reverse())
    }
  })

  it("desc (newest first) is the default, limit defaults to 100", async () => {
    const page = await query("")
    expect(page.insights).toHaveLength(100)
    expect(page.insights[0].timestamp >= page.insights[99].timestamp).toBe(true)
    expect(page.metadata.total_count).toBe(TOTAL)
  })

  it("paging combined with a filter returns exactly the filtered set", async () => {
    const all = await pageAll("order=desc")
    const paged = await pageAll("sentiment=negative&author=%40author1")
    const expected = all.filter((i) => i.sentiment === "negative" && i.author === "@author1").map((i) => i.conversation_id)
    expect(paged.map((i) => i.conversation_id)).toEqual(expected)
    expect(expected.length).toBeGreaterThan(0)
  })

  it("time range is start ≤ timestamp < end and echoed in metadata", async () => {
    const page = await query("start_time=2024-05-02T00:00:00Z&end_time=2024-05-03T00:00:00Z&limit=1000")
    expect(page.insights.length).toBe(30)
    expect(page.insights.every((i) => i.timestamp >= "2024-05-02T00:00:00.000Z" && i.timestamp < "2024-05-03T00:00:00.000Z")).toBe(true)
    expect(page.metadata.start_time).toBe("2024-05-02T00:00:00.000Z")
    expect(page.metadata.end_time).toBe("2024-05-03T00:00:00.000Z")
  })

  it("confidence, sentiment, label, cluster and author filters", async () => {
    const all = (await query("limit=1000")).insights
    const check = async (params: string, predicate: (i: Item) => boolean) => {
      const page = await query(`${params}&limit=1000`)
      const expected = all.filter(predicate)
      expect(page.insights.map((i) => i.conversation_id).sort()).toEqual(expected.map((i) => i.conversation_id).sort())
      expect(page.metadata.total_count).toBe(expected.length)
    }
    const someConfidence = all[17].confidence
    await check(`min_confidence=${someConfidence}`, (i) => i.confidence >= someConfidence)
    await check(`max_confidence=${someConfidence}`, (i) => i.confidence <= someConfidence)
    await check("min_sentiment=-0.2&max_sentiment=0.5", (i) => i.sentiment_score >= -0.2 && i.sentiment_score <= 0.5)
    await check("sentiment=positive", (i) => i.sentiment === "positive")
    await check("sentiment=neutral", (i) => i.sentiment === "neutral")
    await check("cluster=billing_issue", (i) => i.clusters.includes("billing_issue"))
    await check("author=%40author3", (i) => i.author === "@author3")
  })

  it("400 invalid_parameter naming the parameter", async () => {
    const cases: Array<[string, string]> = [
      ["limit=0", "limit must be an integer between 1 and 1000"],
      ["limit=1001", "limit must be an integer between 1 and 1000"],
      ["limit=abc", "limit"],
      ["min_confidence=2", "min_confidence"],
      ["max_sentiment=-3", "max_sentiment"],
      ["sentiment=happy", "sentiment"],
      ["order=sideways", "order"],
      ["start_time=yesterday", "start_time"],
      ["cursor=garbage", "cursor"],
      ["min_confidence=0.9&max_confidence=0.1", "min_confidence"]
    ]
    for (const [params, text] of cases) {
      const response = await fetch(`${daemon.baseUrl}/api/v1/insights?${params}`)
      expect(response.status, params).toBe(400)
      const body = (await response.json()) as { error: string; message: string; details: Array<{ field: string }> }
      expect(body.error).toBe("invalid_parameter")
      expect(body.message, params).toContain(text)
      expect(Array.isArray(body.details)).toBe(true)
    }
  })
})
