/**
 * The dashboard at GET / in a real browser: Debian's chromium driven by playwright-core against
 * the built daemon (local analyzer, real SQLite) holding a few hundred conversations spread over
 * two months. Screenshots land in test/artifacts/ (git-ignored) for a person to look at.
 */

// What the callbacks passed to page.evaluate/waitForFunction use of the browser: they run in
// chromium, but are type-checked here, where the DOM library is not loaded (the tests use Node's).
interface HTMLCanvasElement {
  readonly width: number
  readonly height: number
  getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { readonly data: Uint8ClampedArray } } | null
}
interface HTMLElement {
  readonly dataset: Record<string, string | undefined>
}
declare const window: unknown
declare const document: {
  readonly body: { readonly dataset: Record<string, string | undefined>; readonly scrollWidth: number }
  readonly documentElement: { readonly scrollWidth: number; readonly clientWidth: number }
  querySelectorAll<E>(selector: string): Iterable<E>
}
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { type Browser, type BrowserContext, type Page, chromium } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeGrok, type FakeGrok } from "../support/fake-grok.mjs"
import { getJson, postJson, repoRoot, type RunningDaemon, startDaemon, waitFor } from "../support/server.js"

const CHROMIUM = "/usr/bin/chromium"
const artifacts = join(repoRoot, "test/artifacts")

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

const POSITIVE = [
  "Thank you so much, the support team was amazing and fixed my issue quickly",
  "Great service, the replacement arrived early and works perfectly. Love it!",
  "Excellent help from Maria, really appreciate the fast refund"
]
const NEUTRAL = ["What are your opening hours on Sunday?", "Please update the shipping address on order 5521", "Is the blue model available in size M?"]
const NEGATIVE = [
  "My package still hasn't arrived after three weeks, this is terrible",
  "The app keeps crashing every time I open it, awful and frustrating",
  "I was charged twice for the same order and nobody answers, worst billing experience",
  "Still waiting for my refund, horrible service and rude agents"
]
/** Untrusted text a page must show as text, never run or render. */
const HOSTILE_TEXT = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> Terrible, awful, horrible: my refund never came and support is useless`
const HOSTILE_AUTHOR = `<b onmouseover="window.__pwned=3">evil</b>`

/**
 * Age windows (ms before now) chosen away from every range edge (1 h, 24 h, 7 d, 30 d), so the
 * page's own "now" and the test's cannot put a conversation on different sides of an edge.
 */
const GROUPS = [
  { name: "hour", count: 20, from: 10 * MINUTE, to: 45 * MINUTE },
  { name: "day", count: 60, from: 2 * HOUR, to: 20 * HOUR },
  { name: "week", count: 120, from: 30 * HOUR, to: 6 * DAY },
  { name: "month", count: 60, from: 8 * DAY, to: 25 * DAY },
  { name: "old", count: 40, from: 40 * DAY, to: 60 * DAY }
] as const
const HOSTILE_COUNT = 3

const generate = (now: number) => {
  const items: Array<Record<string, unknown>> = []
  let n = 0
  for (const group of GROUPS) {
    for (let i = 0; i < group.count; i++, n++) {
      const age = group.from + ((group.to - group.from) * (i + 0.5)) / group.count
      const timestamp = new Date(now - age).toISOString()
      if (group.name === "hour" && i < HOSTILE_COUNT) {
        items.push({ id: `conv_hostile_${i}`, author: HOSTILE_AUTHOR, timestamp, text: HOSTILE_TEXT })
        continue
      }
      // the last hour is calm (so the hostile ones are its most negative); elsewhere a mix
      const pool = group.name === "hour" ? [...POSITIVE, ...NEUTRAL] : n % 5 < 2 ? NEGATIVE : n % 5 < 4 ? POSITIVE : NEUTRAL
      items.push({ author: `@customer${n % 37}`, timestamp, text: `${pool[n % pool.length]} (ticket ${n})` })
    }
  }
  return items
}
const countYoungerThan = (ms: number | null) => GROUPS.filter((g) => ms === null || g.to < ms).reduce((sum, g) => sum + g.count, 0)
const TOTAL = countYoungerThan(null)

interface Summary {
  total: number
  labels: Record<string, number>
  top_clusters: Array<{ cluster: string; count: number; mean_sentiment: number }>
  analyzers?: Array<{ analyzer: string; count: number; cost_usd: number | null }>
  status_counts: Record<string, number>
}

interface Watch {
  readonly consoleErrors: Array<string>
  readonly pageErrors: Array<string>
  readonly requests: Array<string>
}

/** Records console errors, uncaught page errors and every request URL of a page. */
const watch = (page: Page): Watch => {
  const recorded: Watch = { consoleErrors: [], pageErrors: [], requests: [] }
  page.on("console", (message) => {
    if (message.type() === "error") recorded.consoleErrors.push(message.text())
  })
  page.on("pageerror", (error) => recorded.pageErrors.push(error.message))
  page.on("request", (request) => recorded.requests.push(request.url()))
  return recorded
}

const textOf = async (page: Page, selector: string) => ((await page.locator(selector).textContent()) ?? "").trim()

/** Pixels of a canvas close to a colour: the bars/areas of a chart are there only when drawn from data. */
const pixelsNear = (page: Page, selector: string, rgb: readonly [number, number, number]) =>
  page.evaluate(
    ([sel, [r, g, b]]) => {
      let count = 0
      for (const canvas of document.querySelectorAll<HTMLCanvasElement>(sel)) {
        const context = canvas.getContext("2d")
        if (context === null || canvas.width === 0 || canvas.height === 0) continue
        const data = context.getImageData(0, 0, canvas.width, canvas.height).data
        for (let i = 0; i < data.length; i += 4) {
          if (Math.abs(data[i] - r) < 20 && Math.abs(data[i + 1] - g) < 20 && Math.abs(data[i + 2] - b) < 20 && data[i + 3] > 200) count++
        }
      }
      return count
    },
    [selector, rgb] as const
  )

/**
 * Widths (px) of the runs of bar-coloured columns inside a uPlot chart's plot area, left to right:
 * one run per bar.
 */
const barWidths = (page: Page, chart: string) =>
  page.evaluate((sel) => {
    type Box = { getBoundingClientRect(): { left: number; top: number; width: number; height: number } }
    const canvas = [...document.querySelectorAll<HTMLCanvasElement & Box>(`${sel} canvas`)][0]
    const over = [...document.querySelectorAll<Box>(`${sel} .u-over`)][0]
    const context = canvas.getContext("2d")
    if (context === null) return []
    const scale = canvas.width / canvas.getBoundingClientRect().width
    const c = canvas.getBoundingClientRect()
    const o = over.getBoundingClientRect()
    const [x0, y0] = [Math.round((o.left - c.left) * scale), Math.round((o.top - c.top) * scale)]
    const [w, h] = [Math.round(o.width * scale), Math.round(o.height * scale)]
    const data = context.getImageData(x0, y0, w, h).data
    const colours = [[0xe5, 0x48, 0x4d], [0x8b, 0x8d, 0x98], [0x30, 0xa4, 0x6c]]
    const isBar = (i: number) => data[i + 3] > 200 && colours.some(([r, g, b]) => Math.abs(data[i] - r) < 20 && Math.abs(data[i + 1] - g) < 20 && Math.abs(data[i + 2] - b) < 20)
    const widths: Array<number> = []
    let run = 0
    for (let x = 0; x < w; x++) {
      let bar = false
      for (let y = 0; y < h && !bar; y++) bar = isBar((y * w + x) * 4)
      if (bar) run++
      else if (run > 0) {
        widths.push(run)
        run = 0
      }
    }
    if (run > 0) widths.push(run)
    return widths
  }, chart)

const RED: readonly [number, number, number] = [0xe5, 0x48, 0x4d]
const GREEN: readonly [number, number, number] = [0x30, 0xa4, 0x6c]

/** Clicks a range button and waits until the page has rendered that range. */
const pickRange = async (page: Page, range: string) => {
  await page.click(`#range button[data-range="${range}"]`)
  await page.waitForFunction((r) => document.body.dataset.range === r && document.body.dataset.loaded === "true", range)
  // the render for the new range happens in the same task that sets data-range
}

let browser: Browser
beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true })
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] })
})
afterAll(async () => {
  await browser?.close()
})

const newContext = (width: number, height: number): Promise<BrowserContext> =>
  browser.newContext({ viewport: { width, height }, locale: "en-US", timezoneId: "UTC", colorScheme: "light" })

describe("dashboard with a few hundred conversations (local analyzer)", () => {
  let daemon: RunningDaemon
  let summaryAll: Summary

  beforeAll(async () => {
    daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
    const response = await postJson(daemon.baseUrl, "/api/v1/conversations/bulk", generate(Date.now()))
    expect(response.status).toBe(202)
    await waitFor(
      async () => (await getJson<Summary>(daemon.baseUrl, "/api/v1/insights/summary")).status_counts.completed === TOTAL,
      60_000,
      `all ${TOTAL} conversations analysed`,
      200
    )
    summaryAll = await getJson<Summary>(daemon.baseUrl, "/api/v1/insights/summary?bucket=day")
  })
  afterAll(async () => {
    expect(await daemon?.stop()).toBe(0)
    daemon?.cleanup()
  })

  it("is served as one self-contained HTML page under a same-origin-only CSP", async () => {
    const response = await fetch(`${daemon.baseUrl}/`)
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8")
    const csp = response.headers.get("content-security-policy") ?? ""
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("connect-src 'self'")
    expect(csp).not.toContain("unsafe-inline")
    expect(csp).not.toMatch(/https?:/)
    const html = await response.text()
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="(https?:)?\/\//i)
    expect(html).toContain("uplot") // the chart library is inside the page, not fetched
    const etag = response.headers.get("etag")
    expect(etag).toBeTruthy()
    const again = await fetch(`${daemon.baseUrl}/`, { headers: { "if-none-match": etag! } })
    expect(again.status).toBe(304)
  })

  it("draws live data at 1400×1000 with no console error and no request leaving the daemon", async () => {
    const context = await newContext(1400, 1000)
    const page = await context.newPage()
    const seen = watch(page)
    await page.goto(`${daemon.baseUrl}/`)
    await page.waitForFunction(() => document.body.dataset.loaded === "true")

    // default range: the last 7 days
    expect(await textOf(page, "#stat-total")).toBe(String(countYoungerThan(7 * DAY)))
    expect(await textOf(page, "#stat-completed")).toBe(String(TOTAL))
    expect(await textOf(page, "#stat-pending")).toBe("0")

    await pickRange(page, "all")
    expect(summaryAll.total).toBe(TOTAL)
    expect(await textOf(page, "#stat-total")).toBe(String(summaryAll.total))
    for (const label of ["positive", "neutral", "negative"]) {
      expect(await textOf(page, `#labels li[data-label="${label}"] .count`)).toBe(String(summaryAll.labels[label] ?? 0))
    }
    expect(summaryAll.top_clusters.length).toBeGreaterThan(1)
    const shownClusters = await page.locator("#clusters li").evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.cluster))
    expect(shownClusters).toEqual(summaryAll.top_clusters.map((c) => c.cluster))
    await expect.poll(() => textOf(page, "#clusters li:first-child .name")).toBe(summaryAll.top_clusters[0].cluster.replace(/_/g, " "))

    // uPlot charts exist, have a size, and hold bars of each label colour (drawn from data)
    const canvases = await page.locator("#chart-sentiment canvas, #chart-volume canvas").evaluateAll((list) => list.map((c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]))
    expect(canvases.length).toBe(2)
    for (const [width, height] of canvases) {
      expect(width).toBeGreaterThan(300)
      expect(height).toBeGreaterThan(100)
    }
    expect(await pixelsNear(page, "#chart-volume canvas", RED)).toBeGreaterThan(50)
    expect(await pixelsNear(page, "#chart-volume canvas", GREEN)).toBeGreaterThan(50)
    // The oldest and newest days have conversations: their bars are whole, not cut in half at the
    // plot's edges (the time axis has half a bucket of room at each end).
    const widths = await barWidths(page, "#chart-volume")
    expect(widths.length).toBeGreaterThan(5)
    const typical = [...widths].sort((a, b) => a - b)[Math.floor(widths.length / 2)]
    expect(widths[0], `first bar ${widths[0]} px, typical ${typical} px`).toBeGreaterThanOrEqual(typical * 0.8)
    expect(widths[widths.length - 1], `last bar ${widths[widths.length - 1]} px, typical ${typical} px`).toBeGreaterThanOrEqual(typical * 0.8)

    // the most negative conversations, most negative first, each linking to its JSON
    const rows = page.locator("#negatives tbody tr")
    expect(await rows.count()).toBeGreaterThan(0)
    const scores = await page.locator("#negatives tbody .score").allTextContents()
    const numbers = scores.map(Number)
    expect(numbers.every((s) => s < 0)).toBe(true)
    expect([...numbers].sort((a, b) => a - b)).toEqual(numbers)
    const firstId = await rows.first().getAttribute("data-conversation-id")
    expect(await rows.first().locator("a").getAttribute("href")).toBe(`/api/v1/conversations/${firstId}`)
    const linked = await getJson<{ insight: { sentiment: string } }>(daemon.baseUrl, `/api/v1/conversations/${firstId}`)
    expect(linked.insight.sentiment).toBe("negative")

    // local analyzer only: no Grok panel
    expect(await page.locator("#grok-panel").isHidden()).toBe(true)

    await pickRange(page, "7d")
    await page.screenshot({ path: join(artifacts, "dashboard-1400x1000.png") })
    await page.screenshot({ path: join(artifacts, "dashboard-1400-full.png"), fullPage: true })

    expect(seen.pageErrors).toEqual([])
    expect(seen.consoleErrors).toEqual([])
    expect(seen.requests.length).toBeGreaterThan(3)
    for (const url of seen.requests) expect(new URL(url).origin).toBe(daemon.baseUrl)
    await context.close()
  })

  it("changes every panel with the time range", async () => {
    const context = await newContext(1400, 1000)
    const page = await context.newPage()
    const seen = watch(page)
    await page.goto(`${daemon.baseUrl}/#range=all`)
    await page.waitForFunction(() => document.body.dataset.range === "all" && document.body.dataset.loaded === "true")
    expect(await textOf(page, "#stat-total")).toBe(String(TOTAL))

    const cases: Array<[string, number | null]> = [
      ["24h", DAY],
      ["30d", 30 * DAY],
      ["1h", HOUR],
      ["7d", 7 * DAY],
      ["all", null]
    ]
    for (const [range, ms] of cases) {
      await pickRange(page, range)
      const expected = countYoungerThan(ms)
      expect(await textOf(page, "#stat-total"), range).toBe(String(expected))
      const labelSum = (await page.locator("#labels .count").allTextContents()).reduce((sum, t) => sum + Number(t.replace(/,/g, "")), 0)
      expect(labelSum, range).toBe(expected)
      expect(await page.locator(`#range button[data-range="${range}"]`).getAttribute("aria-pressed")).toBe("true")
      expect(await textOf(page, "#bucket-word")).toBe(range === "1h" || range === "24h" || range === "7d" ? "hour" : "day")
    }

    // the last hour holds the hostile conversations: the most negative there, shown as plain text
    await pickRange(page, "1h")
    const hostileRows = page.locator('#negatives tbody tr[data-conversation-id^="conv_hostile_"]')
    expect(await hostileRows.count()).toBe(HOSTILE_COUNT)
    expect(await hostileRows.first().locator(".c-text").textContent()).toBe(HOSTILE_TEXT)
    expect(await hostileRows.first().locator(".c-author").textContent()).toBe(HOSTILE_AUTHOR)
    expect(await page.locator("#negatives img, #negatives script, #negatives b").count()).toBe(0)
    await hostileRows.first().locator(".c-author").hover()
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined()

    expect(seen.pageErrors).toEqual([])
    expect(seen.consoleErrors).toEqual([])
    for (const url of seen.requests) expect(new URL(url).origin).toBe(daemon.baseUrl)
    await context.close()
  })

  it("fits a 390 px wide phone screen without horizontal scrolling", async () => {
    const context = await newContext(390, 844)
    const page = await context.newPage()
    const seen = watch(page)
    await page.goto(`${daemon.baseUrl}/#range=7d`)
    await page.waitForFunction(() => document.body.dataset.loaded === "true")
    expect(await textOf(page, "#stat-total")).toBe(String(countYoungerThan(7 * DAY)))
    const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth, client: document.documentElement.clientWidth }))
    expect(widths.client).toBe(390)
    expect(widths.scroll).toBeLessThanOrEqual(390)
    expect(widths.body).toBeLessThanOrEqual(390)
    // every chart fits the screen
    const chartWidths = await page.locator(".uplot canvas").evaluateAll((list) => list.map((c) => c.getBoundingClientRect().right))
    expect(chartWidths.length).toBeGreaterThanOrEqual(2)
    for (const right of chartWidths) expect(right).toBeLessThanOrEqual(390)
    await page.screenshot({ path: join(artifacts, "dashboard-390.png"), fullPage: true })
    expect(seen.pageErrors).toEqual([])
    expect(seen.consoleErrors).toEqual([])
    await context.close()
  })
})

describe("dashboard edge cases", () => {
  it("shows an empty state on a fresh database", async () => {
    const daemon = await startDaemon()
    try {
      const context = await newContext(1400, 1000)
      const page = await context.newPage()
      const seen = watch(page)
      await page.goto(`${daemon.baseUrl}/`)
      await page.waitForFunction(() => document.body.dataset.loaded === "true")
      expect(await textOf(page, "#stat-total")).toBe("0")
      expect(await page.locator("#chart-sentiment .empty").isVisible()).toBe(true)
      expect(await page.locator("#clusters-empty").isVisible()).toBe(true)
      expect(await page.locator("#negatives-empty").isVisible()).toBe(true)
      // nothing analysed anywhere: no hint to look at other times
      expect(await page.locator("#range-hint").isVisible()).toBe(false)
      await page.screenshot({ path: join(artifacts, "dashboard-empty.png") })
      expect(seen.pageErrors).toEqual([])
      expect(seen.consoleErrors).toEqual([])
      await context.close()
    } finally {
      await daemon.stop()
      daemon.cleanup()
    }
  })

  it("says where the data is when the range holds none of it (a twcs import is from 2017)", async () => {
    const daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
    try {
      const old = Array.from({ length: 12 }, (_, i) => ({ author: `@cust${i}`, timestamp: `2017-10-${String(10 + i).padStart(2, "0")}T12:00:00Z`, text: `@sprintcare my bill is wrong again, order ${i}` }))
      expect((await postJson(daemon.baseUrl, "/api/v1/conversations/bulk", old)).status).toBe(202)
      await waitFor(async () => (await getJson<Summary>(daemon.baseUrl, "/api/v1/insights/summary")).status_counts.completed === 12, 30_000, "12 analysed")
      const context = await newContext(1400, 1000)
      const page = await context.newPage()
      const seen = watch(page)
      await page.goto(`${daemon.baseUrl}/#range=7d`)
      await page.waitForFunction(() => document.body.dataset.loaded === "true")
      expect(await textOf(page, "#stat-total")).toBe("0")
      expect(await page.locator("#range-hint").isVisible()).toBe(true)
      expect(await textOf(page, "#range-hint-text")).toContain("12 analysed conversations happened at other times")
      await page.screenshot({ path: join(artifacts, "dashboard-range-hint.png") })
      await page.click("#range-hint-all")
      await page.waitForFunction(() => document.body.dataset.range === "all" && document.body.dataset.loaded === "true")
      await expect.poll(() => textOf(page, "#stat-total")).toBe("12")
      expect(await page.locator("#range-hint").isVisible()).toBe(false)
      expect(new URL(page.url()).hash).toBe("#range=all")
      expect(seen.pageErrors).toEqual([])
      expect(seen.consoleErrors).toEqual([])
      await context.close()
    } finally {
      await daemon.stop()
      daemon.cleanup()
    }
  })

  it("asks for the API key when /api/v1 needs one, and keeps it", async () => {
    const daemon = await startDaemon({ env: { INSIGHTD_API_KEYS: "dash-key-1" } })
    try {
      const auth = { authorization: "Bearer dash-key-1" }
      expect((await postJson(daemon.baseUrl, "/api/v1/conversations", { author: "@a", timestamp: new Date(Date.now() - HOUR * 2).toISOString(), text: "Terrible service, my order is lost" }, auth)).status).toBe(202)
      await waitFor(async () => (await getJson<Summary>(daemon.baseUrl, "/api/v1/insights/summary", 200, auth)).status_counts.completed === 1, 20_000, "analysis", 100)

      const context = await newContext(1400, 1000)
      const page = await context.newPage()
      const seen = watch(page)
      await page.goto(`${daemon.baseUrl}/`)
      await page.locator("#keyform").waitFor({ state: "visible" })
      await page.fill("#api-key", "wrong-key")
      await page.click("#keyform-form button[type=submit]")
      await page.locator("#keyform-error").waitFor({ state: "visible" })
      await page.fill("#api-key", "dash-key-1")
      await page.click("#keyform-form button[type=submit]")
      await page.waitForFunction(() => document.body.dataset.loaded === "true")
      expect(await page.locator("#keyform").isHidden()).toBe(true)
      expect(await textOf(page, "#stat-total")).toBe("1")

      // kept in localStorage: a reload needs no form
      await page.reload()
      await page.waitForFunction(() => document.body.dataset.loaded === "true")
      expect(await page.locator("#keyform").isHidden()).toBe(true)
      expect(await textOf(page, "#stat-total")).toBe("1")

      expect(seen.pageErrors).toEqual([])
      // the only console errors are the browser's own notes about the 401 answers
      for (const text of seen.consoleErrors) expect(text).toMatch(/401/)
      for (const url of seen.requests) expect(new URL(url).origin).toBe(daemon.baseUrl)
      await context.close()
    } finally {
      await daemon.stop()
      daemon.cleanup()
    }
  })

  it("shows Grok calls and cost when the Grok analyzer is used", async () => {
    const fake: FakeGrok = await startFakeGrok()
    const daemon = await startDaemon({
      env: { INSIGHTD_ANALYZER: "grok", XAI_API_KEY: "xai-dashboard", XAI_BASE_URL: fake.baseUrl, INSIGHTD_RATE_LIMIT: "0", INSIGHTD_GROK_PROBE_INTERVAL_MS: "500" }
    })
    try {
      const now = Date.now()
      const items = Array.from({ length: 40 }, (_, i) => ({ author: `@g${i}`, timestamp: new Date(now - (i + 1) * 30 * MINUTE).toISOString(), text: `Grok conversation ${i}` }))
      expect((await postJson(daemon.baseUrl, "/api/v1/conversations/bulk", items)).status).toBe(202)
      await waitFor(async () => (await getJson<Summary>(daemon.baseUrl, "/api/v1/insights/summary")).status_counts.completed === 40, 30_000, "grok analysis", 100)
      const summary = await getJson<Summary>(daemon.baseUrl, "/api/v1/insights/summary")
      const grok = (summary.analyzers ?? []).filter((a) => a.analyzer.startsWith("grok"))
      expect(grok.length).toBeGreaterThan(0)

      const context = await newContext(1400, 1000)
      const page = await context.newPage()
      const seen = watch(page)
      await page.goto(`${daemon.baseUrl}/#range=24h`)
      await page.waitForFunction(() => document.body.dataset.loaded === "true")
      await page.locator("#grok-panel").waitFor({ state: "visible" })
      expect(await textOf(page, "#grok-calls")).toBe(String(fake.calls.length))
      expect(await textOf(page, "#grok-note")).toContain(grok[0].analyzer)
      expect(await page.locator("#chart-grok canvas").count()).toBeGreaterThan(0)
      await page.screenshot({ path: join(artifacts, "dashboard-grok.png"), fullPage: true })
      expect(await page.locator("#banner").isVisible()).toBe(false)

      // The key is refused from now on: analysis pauses, and the page says so (not just "Updated").
      fake.acceptKey("another-key")
      expect((await postJson(daemon.baseUrl, "/api/v1/conversations", { author: "@late", timestamp: new Date().toISOString(), text: "Grok conversation after the key broke" })).status).toBe(202)
      await page.locator("#banner").waitFor({ state: "visible", timeout: 20_000 })
      expect(await textOf(page, "#banner")).toContain("Analysis is paused: Grok refused the API key")
      // The key works again: the daemon resumes by itself and the notice goes.
      fake.acceptKey(undefined)
      await page.locator("#banner").waitFor({ state: "hidden", timeout: 20_000 })
      expect(seen.pageErrors).toEqual([])
      expect(seen.consoleErrors).toEqual([])
      for (const url of seen.requests) expect(new URL(url).origin).toBe(daemon.baseUrl)
      await context.close()
    } finally {
      await daemon.stop()
      daemon.cleanup()
      await fake.close()
    }
  })
})
