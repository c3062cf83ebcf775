// @ts-check
/**
 * The dashboard's client: reads the daemon's own API (same origin only; the page's CSP allows
 * nothing else) and draws it. Bundled with uPlot into the page by scripts/build-dashboard.mjs.
 * Plain JavaScript checked by TypeScript (src/dashboard/tsconfig.json) because the server's
 * compilation has no DOM types. Data from the API (conversation text, authors, cluster names)
 * is untrusted: it only ever reaches the page through textContent and attributes, never HTML.
 */
import uPlot from "uplot"

/**
 * @typedef {"positive" | "neutral" | "negative"} Label
 * @typedef {{ start: string, count: number, mean_sentiment: number | null, labels: Partial<Record<Label, number>> }} Bucket
 * @typedef {{ cluster: string, count: number, mean_sentiment: number | null }} ClusterStat
 * @typedef {{ analyzer: string, count: number, prompt_tokens: number | null, completion_tokens: number | null, cost_usd: number | null }} AnalyzerStat
 * @typedef {{
 *   start_time: string | null, end_time: string | null, bucket: "hour" | "day", total: number, mean_sentiment: number | null,
 *   buckets: Bucket[], labels: Partial<Record<Label, number>>, top_clusters: ClusterStat[], analyzers?: AnalyzerStat[],
 *   status_counts: Partial<Record<"pending" | "processing" | "completed" | "failed", number>>
 * }} Summary
 * @typedef {{ conversation_id: string, timestamp: string, author: string, text: string, sentiment_score: number, sentiment: Label, clusters: string[] }} InsightItem
 * @typedef {{ insights: InsightItem[], metadata: { total_count: number } }} InsightsPage
 * @typedef {{ calls: number, costUsd: number, found: boolean }} GrokMetrics
 */

const REFRESH_MS = 5000
const KEY_STORAGE = "insightd.apiKey"
const RANGE_STORAGE = "insightd.range"
const NEGATIVE_ROWS = 12
/** @type {Label[]} */
const LABELS = ["negative", "neutral", "positive"]
const HOUR = 3600
const DAY = 86400

/** @type {Record<string, { seconds: number | null, bucket: "hour" | "day", text: string }>} */
const RANGES = {
  "1h": { seconds: HOUR, bucket: "hour", text: "last hour" },
  "24h": { seconds: DAY, bucket: "hour", text: "last 24 hours" },
  "7d": { seconds: 7 * DAY, bucket: "hour", text: "last 7 days" },
  "30d": { seconds: 30 * DAY, bucket: "day", text: "last 30 days" },
  all: { seconds: null, bucket: "day", text: "all time" }
}
const DEFAULT_RANGE = "7d"

// ---------------------------------------------------------------------------------------------
// Small DOM helpers

/** @param {string} id */
const byId = (id) => {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`dashboard: #${id} is missing`)
  return element
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
const make = (tag, className, text) => {
  const element = document.createElement(tag)
  if (className) element.className = className
  if (text !== undefined) element.textContent = text
  return element
}

/** @param {string} id @param {string} text */
const setText = (id, text) => {
  byId(id).textContent = text
}

/** CSS variables, so the canvas charts follow the light/dark theme. @param {string} name */
const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()

const storage = {
  /** @param {string} key */
  get: (key) => {
    try {
      return window.localStorage.getItem(key)
    } catch {
      return null // storage disabled (private mode, policy): behave as if nothing was stored
    }
  },
  /** @param {string} key @param {string | null} value */
  set: (key, value) => {
    try {
      if (value === null) window.localStorage.removeItem(key)
      else window.localStorage.setItem(key, value)
    } catch {
      // storage disabled: the value lives for this page view only
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 })
/** @param {number | null | undefined} value */
const formatCount = (value) => (typeof value === "number" ? integer.format(value) : "–")
/** @param {number | null | undefined} value */
const formatScore = (value) => (typeof value === "number" ? `${value > 0 ? "+" : ""}${value.toFixed(2)}` : "–")
/** @param {number} value */
const formatUsd = (value) => (value >= 1 ? `$${value.toFixed(2)}` : `$${value.toFixed(4)}`)
/** @param {number} value */
const formatRate = (value) => (value >= 10 ? value.toFixed(0) : value.toFixed(2))
/** @param {string} iso */
const formatWhen = (iso) => {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
}

/** @param {string} hex "#rrggbb" @returns {[number, number, number]} */
const rgbOf = (hex) => {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex)
  return match === null ? [128, 128, 128] : [parseInt(match[1], 16), parseInt(match[2], 16), parseInt(match[3], 16)]
}

/** The colour of a sentiment score: grey at zero, blending into red below and green above. @param {number | null} score */
const sentimentColor = (score) => {
  const neutral = rgbOf(cssVar("--neu"))
  if (score === null) return `rgb(${neutral.join(" ")})`
  const clamp = Math.max(-1, Math.min(1, score))
  const target = rgbOf(cssVar(clamp < 0 ? "--neg" : "--pos"))
  // reach the full colour by |score| 0.6: most real means sit well inside -1..1
  const weight = Math.min(1, Math.abs(clamp) / 0.6)
  const mix = neutral.map((channel, i) => Math.round(channel + (target[i] - channel) * weight))
  return `rgb(${mix.join(" ")})`
}

// ---------------------------------------------------------------------------------------------
// Talking to the daemon (same origin only)

class Unauthorized extends Error {}

/** @param {string} path @returns {Promise<Response>} */
const request = (path) => {
  /** @type {Record<string, string>} */
  const headers = { accept: "application/json" }
  const key = storage.get(KEY_STORAGE)
  if (key) headers.authorization = `Bearer ${key}`
  return fetch(path, { headers, cache: "no-store", credentials: "omit" })
}

/** @param {string} path @returns {Promise<any>} */
const getJson = async (path) => {
  const response = await request(path)
  if (response.status === 401) throw new Unauthorized("unauthorized")
  if (!response.ok) {
    let detail = ""
    try {
      const body = await response.json()
      if (body && typeof body.message === "string") detail = `: ${body.message}`
    } catch {
      // not JSON: the status alone says enough
    }
    throw new Error(`${path.split("?")[0]} answered ${response.status}${detail}`)
  }
  return response.json()
}

/**
 * Grok call and cost counters from the Prometheus text at /metrics: every sample of a counter
 * whose name mentions grok and calls (or cost) is summed over its labels.
 * @param {string} text
 * @returns {GrokMetrics}
 */
const grokFromMetrics = (text) => {
  let calls = 0
  let costUsd = 0
  let found = false
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (match === null) continue
    const name = match[1]
    const value = Number(match[3])
    if (!Number.isFinite(value) || !name.includes("grok")) continue
    if (/calls?_total$/.test(name) && !name.includes("retr")) {
      calls += value
      found = true
    } else if (/cost.*usd.*_total$|usd.*cost.*_total$/.test(name)) {
      costUsd += value
      found = true
    }
  }
  return { calls, costUsd, found }
}

/**
 * Whether analysis is held up, from the daemon's gauges: the page otherwise looked healthy (a
 * green "Updated", Calls/s 0.00) while the backlog waited on a refused key or an unreachable Grok.
 * @param {string} text Prometheus text format
 * @returns {string | null} what to tell the user, or null when analysis runs
 */
const analysisHeldUp = (text) => {
  const gauge = (/** @type {string} */ name) => new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+1(?:\\.0*)?\\s*$`, "m").test(text)
  if (gauge("insightd_analyzer_paused")) return "Analysis is paused: Grok refused the API key (401/403). New conversations wait as pending; the daemon retries with a probe call and resumes by itself once the key works (see /ready)."
  if (gauge("insightd_analyzer_unreachable")) return "Grok cannot be reached right now (refused or timed out); calls are being retried and conversations wait as pending (see /ready)."
  return null
}

// ---------------------------------------------------------------------------------------------
// Charts (uPlot)

/** Chart width from its container, height by screen size. @param {HTMLElement} container @param {number} [tall] */
const chartSize = (container, tall = 240) => ({
  width: Math.max(200, Math.floor(container.clientWidth)),
  height: window.innerWidth < 640 ? Math.round(tall * 0.8) : tall
})

const axisStyle = () => {
  const muted = cssVar("--muted")
  const grid = cssVar("--border")
  return { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } }
}

/** The bucket size of the charts' current data, in seconds (set before each setData). */
const bucketStep = { current: HOUR }
/**
 * Half a bucket of room at both ends of the time axis: a bar is centred on its bucket's start,
 * and without it the first and last bars were cut in half at the plot's edges.
 * @type {uPlot.Range.Function}
 */
const paddedBucketRange = (_u, min, max) => (min === null || max === null ? [min, max] : [min - bucketStep.current / 2, max + bucketStep.current / 2])

/** @param {HTMLElement} container */
const makeSentimentChart = (container) => {
  const axis = axisStyle()
  /** @type {uPlot.Options} */
  const options = {
    ...chartSize(container),
    cursor: { points: { size: 7 } },
    scales: { x: { time: true, range: paddedBucketRange }, y: { auto: false, range: [-1, 1] } },
    axes: [
      { ...axis },
      { ...axis, size: 52, values: (_u, splits) => splits.map((v) => formatScore(v)) }
    ],
    series: [
      {},
      {
        label: "Mean sentiment",
        stroke: cssVar("--text"),
        width: 1.5,
        spanGaps: false,
        points: { show: false },
        value: (_u, v) => formatScore(v),
        fillTo: 0,
        // green above zero, red below: a hard stop at the zero line
        fill: (u) => {
          const top = u.valToPos(1, "y", true)
          const bottom = u.valToPos(-1, "y", true)
          // before the first layout (no scale yet) there is nothing to fill
          if (!Number.isFinite(top) || !Number.isFinite(bottom) || top === bottom) return "transparent"
          const gradient = u.ctx.createLinearGradient(0, top, 0, bottom)
          const pos = cssVar("--pos")
          const neg = cssVar("--neg")
          gradient.addColorStop(0, `${pos}66`)
          gradient.addColorStop(0.5, `${pos}22`)
          gradient.addColorStop(0.5, `${neg}22`)
          gradient.addColorStop(1, `${neg}66`)
          return gradient
        }
      }
    ]
  }
  return new uPlot(options, [[], []], container)
}

/**
 * Stacked bars: the plotted series are cumulative (negative, +neutral, +positive) drawn from the
 * top down so each covers the one above it; the legend shows the per-label counts.
 * @param {HTMLElement} container
 * @param {{ current: number[][] }} rawCounts per label, in LABELS order
 */
const makeVolumeChart = (container, rawCounts) => {
  const axis = axisStyle()
  const bars = uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 48], gap: 1 }) : undefined
  const colors = { negative: cssVar("--neg"), neutral: cssVar("--neu"), positive: cssVar("--pos") }
  /** @type {uPlot.Series[]} */
  const series = [{}]
  // drawn in this order: positive (tallest, the total), then neutral, then negative on top
  for (const label of [...LABELS].reverse()) {
    const index = LABELS.indexOf(label)
    series.push({
      label,
      stroke: colors[label],
      fill: colors[label],
      width: 0,
      paths: bars,
      points: { show: false },
      value: (_u, _v, _series, dataIndex) => (dataIndex === null ? "–" : formatCount(rawCounts.current[index]?.[dataIndex] ?? 0))
    })
  }
  /** @type {uPlot.Options} */
  const options = {
    ...chartSize(container),
    scales: { x: { time: true, range: paddedBucketRange }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.08] } },
    axes: [{ ...axis }, { ...axis, size: 44 }],
    series
  }
  return new uPlot(options, [[], [], [], []], container)
}

/** @param {number | null} min @param {number | null} max @returns {uPlot.Range.MinMax} */
const lastMinuteAtLeast = (min, max) => {
  const end = max ?? Date.now() / 1000
  return min === null || end - min < 60 ? [end - 60, end] : [min, end]
}

/** @param {HTMLElement} container */
const makeGrokChart = (container) => {
  const axis = axisStyle()
  /** @type {uPlot.Options} */
  const options = {
    ...chartSize(container, 150),
    legend: { show: false },
    // At least the last minute: with fewer than two readings uPlot's own range spanned years.
    scales: { x: { time: true, range: (_u, min, max) => lastMinuteAtLeast(min, max) }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
    axes: [{ ...axis }, { ...axis, size: 40 }],
    series: [{}, { label: "calls/s", stroke: cssVar("--accent"), fill: `${cssVar("--accent")}22`, width: 1.5, points: { show: false } }]
  }
  return new uPlot(options, [[], []], container)
}

/**
 * Every bucket of the range, zero-filled, so quiet hours show as gaps rather than being skipped.
 * @param {Summary} summary
 * @param {number | null} rangeStart unix seconds
 * @param {number} now unix seconds
 */
const bucketSeries = (summary, rangeStart, now) => {
  const step = summary.bucket === "day" ? DAY : HOUR
  const floor = (/** @type {number} */ t) => Math.floor(t / step) * step
  /** @type {Map<number, Bucket>} */
  const byStart = new Map()
  for (const bucket of summary.buckets) byStart.set(Math.floor(Date.parse(bucket.start) / 1000), bucket)
  const starts = [...byStart.keys()].sort((a, b) => a - b)
  let first = rangeStart !== null ? floor(rangeStart) : starts.length > 0 ? starts[0] : floor(now) - 23 * step
  let last = Math.max(floor(now), starts.length > 0 ? starts[starts.length - 1] : floor(now))
  if (rangeStart === null && starts.length > 0) last = Math.max(starts[starts.length - 1], first)
  /** @type {number[]} */
  let xs = []
  if ((last - first) / step <= 2000) {
    for (let t = first; t <= last; t += step) xs.push(t)
  } else {
    xs = starts // too many to fill (e.g. years of data by day): plot the buckets with data only
  }
  /** @type {(number | null)[]} */
  const mean = []
  /** @type {number[][]} */
  const counts = LABELS.map(() => [])
  for (const t of xs) {
    const bucket = byStart.get(t)
    mean.push(bucket && bucket.count > 0 ? bucket.mean_sentiment : null)
    LABELS.forEach((label, i) => counts[i].push(bucket?.labels[label] ?? 0))
  }
  return { xs, mean, counts }
}

// ---------------------------------------------------------------------------------------------
// Panels

/**
 * A range with no insights while analysed conversations exist: their conversation times lie
 * outside it (an import of 2017 tweets shows nothing in "last 7 days"), so say so and offer
 * all time instead of leaving the page looking empty.
 * @param {Summary} summary @param {string} rangeText
 */
const renderRangeHint = (summary, rangeText) => {
  const completed = summary.status_counts?.completed ?? 0
  const outside = summary.total === 0 && completed > 0 && state.range !== "all"
  byId("range-hint").hidden = !outside
  if (outside) {
    setText("range-hint-text", `No insights in the ${rangeText}, but ${formatCount(completed)} analysed conversation${completed === 1 ? "" : "s"} happened at other times (the range filters on when a conversation happened).`)
  }
}

/** @param {Summary} summary @param {string} rangeText */
const renderTotals = (summary, rangeText) => {
  setText("stat-total", formatCount(summary.total))
  setText("stat-range", rangeText)
  setText("stat-mean", summary.total > 0 ? formatScore(summary.mean_sentiment) : "–")
  const marker = byId("stat-mean-meter")
  marker.hidden = summary.mean_sentiment === null || summary.total === 0
  if (summary.mean_sentiment !== null) marker.style.left = `${((Math.max(-1, Math.min(1, summary.mean_sentiment)) + 1) / 2) * 100}%`
  const status = summary.status_counts ?? {}
  setText("stat-pending", formatCount(status.pending ?? 0))
  setText("stat-processing", formatCount(status.processing ?? 0))
  setText("stat-completed", formatCount(status.completed ?? 0))
  setText("stat-failed", formatCount(status.failed ?? 0))
}

/** @param {Summary} summary */
const renderLabels = (summary) => {
  const list = byId("labels")
  const total = LABELS.reduce((sum, label) => sum + (summary.labels[label] ?? 0), 0)
  list.replaceChildren()
  /** @type {string[]} */
  const stops = []
  let from = 0
  for (const label of LABELS) {
    const share = total > 0 ? (summary.labels[label] ?? 0) / total : 0
    stops.push(`var(--${label.slice(0, 3)}) ${(from * 100).toFixed(2)}% ${((from + share) * 100).toFixed(2)}%`)
    from += share
  }
  byId("label-donut").style.background = total > 0 ? `conic-gradient(${stops.join(", ")})` : ""
  setText("label-total", formatCount(total))
  for (const label of [...LABELS].reverse()) {
    const count = summary.labels[label] ?? 0
    const share = total > 0 ? count / total : 0
    const item = make("li")
    item.dataset.label = label
    item.append(make("span", `swatch bg-${label}`), make("span", "", label[0].toUpperCase() + label.slice(1)), make("span", "count", formatCount(count)), make("span", "pct", total > 0 ? `${(share * 100).toFixed(1)}%` : "–"))
    list.append(item)
  }
}

/** @param {Summary} summary */
const renderClusters = (summary) => {
  const list = byId("clusters")
  list.replaceChildren()
  const clusters = summary.top_clusters ?? []
  byId("clusters-empty").hidden = clusters.length > 0
  const max = clusters.reduce((m, c) => Math.max(m, c.count), 0)
  for (const cluster of clusters) {
    const item = make("li")
    item.dataset.cluster = cluster.cluster
    const name = make("span", "name", cluster.cluster.replace(/_/g, " "))
    name.title = cluster.cluster
    const nums = make("span", "nums")
    nums.append(make("strong", "", formatCount(cluster.count)), document.createTextNode(` · ${formatScore(cluster.mean_sentiment)}`))
    const track = make("span", "track")
    const fill = make("span", "bar")
    fill.style.width = `${max > 0 ? (cluster.count / max) * 100 : 0}%`
    fill.style.background = sentimentColor(cluster.mean_sentiment)
    track.append(fill)
    item.append(name, nums, track)
    list.append(item)
  }
}

/** @param {InsightItem[]} items @param {number} matching */
const renderNegatives = (items, matching) => {
  const body = /** @type {HTMLTableElement} */ (byId("negatives")).tBodies[0]
  const rows = [...items].sort((a, b) => a.sentiment_score - b.sentiment_score).slice(0, NEGATIVE_ROWS)
  body.replaceChildren()
  for (const item of rows) {
    const row = make("tr")
    row.dataset.conversationId = item.conversation_id
    const score = make("td", "c-score")
    const badge = make("span", "score", formatScore(item.sentiment_score))
    badge.style.background = sentimentColor(item.sentiment_score)
    score.append(badge)
    const when = make("td", "c-when muted", formatWhen(item.timestamp))
    when.title = item.timestamp
    const author = make("td", "c-author", item.author)
    const text = make("td", "c-text")
    const quote = make("span", "text", item.text)
    quote.title = item.text.length > 600 ? `${item.text.slice(0, 600)}…` : item.text
    text.append(quote)
    const clusters = make("td", "c-clusters")
    for (const cluster of item.clusters) clusters.append(make("span", "chip", cluster))
    const link = make("td", "c-link")
    const anchor = make("a", "", "JSON")
    anchor.href = `/api/v1/conversations/${encodeURIComponent(item.conversation_id)}`
    anchor.target = "_blank"
    anchor.rel = "noopener noreferrer"
    anchor.title = `Conversation ${item.conversation_id} as JSON`
    link.append(anchor)
    row.append(score, when, author, text, clusters, link)
    body.append(row)
  }
  byId("negatives-empty").hidden = rows.length > 0
  byId("negatives").hidden = rows.length === 0
  const scope = matching <= items.length ? `of ${formatCount(matching)}` : `among the latest ${formatCount(items.length)} of ${formatCount(matching)}`
  setText("negative-note", matching > 0 ? `${rows.length} lowest scores ${scope} negative in range` : "")
}

// ---------------------------------------------------------------------------------------------
// State and the refresh loop

const state = {
  range: DEFAULT_RANGE,
  timer: /** @type {number | undefined} */ (undefined),
  inFlight: false,
  /** bumped on every range change so an answer for an old range is dropped */
  generation: 0,
  /** @type {{ t: number, calls: number } | null} */
  lastGrok: null,
  /** @type {{ xs: number[], rates: number[] }} */
  grokHistory: { xs: [], rates: [] },
  charts: /** @type {{ sentiment?: uPlot, volume?: uPlot, grok?: uPlot }} */ ({}),
  volumeCounts: { current: /** @type {number[][]} */ ([]) }
}

/** @param {"loading" | "live" | "error" | "paused"} mode @param {string} text */
const setStatus = (mode, text) => {
  byId("status").dataset.state = mode
  setText("status-text", text)
}

/** @param {string | null} message */
const setBanner = (message) => {
  const banner = byId("banner")
  banner.hidden = message === null
  banner.textContent = message ?? ""
}

/** @param {Summary} summary @param {GrokMetrics | null} metrics @param {number} now unix seconds */
const renderGrok = (summary, metrics, now) => {
  const grokAnalyzers = (summary.analyzers ?? []).filter((a) => a.analyzer.startsWith("grok"))
  const used = grokAnalyzers.length > 0 || (metrics !== null && metrics.found && metrics.calls > 0)
  const panel = byId("grok-panel")
  const wasHidden = panel.hidden
  panel.hidden = !used
  if (!used) return
  const inRangeCost = grokAnalyzers.reduce((sum, a) => sum + (a.cost_usd ?? 0), 0)
  const inRangeTokens = grokAnalyzers.reduce((sum, a) => sum + (a.prompt_tokens ?? 0) + (a.completion_tokens ?? 0), 0)
  setText("grok-cost-range", formatUsd(inRangeCost))
  setText("grok-tokens", formatCount(inRangeTokens))
  setText("grok-note", grokAnalyzers.map((a) => `${a.analyzer}: ${formatCount(a.count)} insights`).join(" · "))
  if (metrics !== null && metrics.found) {
    setText("grok-calls", formatCount(metrics.calls))
    setText("grok-cost-total", formatUsd(metrics.costUsd))
    if (state.lastGrok !== null && now > state.lastGrok.t) {
      const rate = Math.max(0, (metrics.calls - state.lastGrok.calls) / (now - state.lastGrok.t))
      setText("grok-rate", formatRate(rate))
      state.grokHistory.xs.push(now)
      state.grokHistory.rates.push(rate)
      if (state.grokHistory.xs.length > 180) {
        state.grokHistory.xs.shift()
        state.grokHistory.rates.shift()
      }
    } else setText("grok-rate", "…") // a rate needs two readings, one refresh apart
    state.lastGrok = { t: now, calls: metrics.calls }
  }
  const container = byId("chart-grok")
  if (state.charts.grok === undefined) state.charts.grok = makeGrokChart(container)
  else if (wasHidden) state.charts.grok.setSize(chartSize(container, 150))
  state.charts.grok.setData([state.grokHistory.xs, state.grokHistory.rates])
}

/** @param {Summary} summary @param {number | null} rangeStart @param {number} now */
const renderCharts = (summary, rangeStart, now) => {
  const { xs, mean, counts } = bucketSeries(summary, rangeStart, now)
  const sentimentBox = byId("chart-sentiment")
  const volumeBox = byId("chart-volume")
  if (state.charts.sentiment === undefined) state.charts.sentiment = makeSentimentChart(sentimentBox)
  if (state.charts.volume === undefined) state.charts.volume = makeVolumeChart(volumeBox, state.volumeCounts)
  state.volumeCounts.current = counts
  const negative = counts[0]
  const negNeutral = negative.map((v, i) => v + counts[1][i])
  const all = negNeutral.map((v, i) => v + counts[2][i])
  bucketStep.current = summary.bucket === "day" ? DAY : HOUR
  state.charts.sentiment.setData([xs, mean])
  state.charts.volume.setData([xs, all, negNeutral, negative])
  const empty = summary.total === 0
  for (const box of [sentimentBox, volumeBox]) {
    const note = box.querySelector(".empty")
    if (note instanceof HTMLElement) note.hidden = !empty
  }
  setText("bucket-word", summary.bucket === "day" ? "day" : "hour")
  setText("bucket-note", `per ${summary.bucket}, −1 … +1`)
}

const refresh = async () => {
  if (state.inFlight) return
  state.inFlight = true
  const generation = state.generation
  const range = RANGES[state.range] ?? RANGES[DEFAULT_RANGE]
  const nowMs = Date.now()
  const now = nowMs / 1000
  const rangeStart = range.seconds === null ? null : now - range.seconds
  const summaryQuery = new URLSearchParams({ bucket: range.bucket })
  const negativeQuery = new URLSearchParams({ sentiment: "negative", limit: "200" })
  if (rangeStart !== null) {
    const iso = new Date(rangeStart * 1000).toISOString()
    summaryQuery.set("start_time", iso)
    negativeQuery.set("start_time", iso)
  }
  try {
    const [summary, negatives, metricsText] = await Promise.all([
      /** @type {Promise<Summary>} */ (getJson(`/api/v1/insights/summary?${summaryQuery}`)),
      /** @type {Promise<InsightsPage>} */ (getJson(`/api/v1/insights?${negativeQuery}`)),
      // /metrics is optional for the page: without it the Grok panel relies on the summary alone
      request("/metrics").then((r) => (r.ok ? r.text() : null), () => null)
    ])
    if (generation !== state.generation) return
    byId("keyform").hidden = true
    byId("forget-key-wrap").hidden = storage.get(KEY_STORAGE) === null
    setBanner(metricsText === null ? null : analysisHeldUp(metricsText))
    renderTotals(summary, range.text)
    renderRangeHint(summary, range.text)
    renderCharts(summary, rangeStart, now)
    renderLabels(summary)
    renderClusters(summary)
    renderNegatives(negatives.insights, negatives.metadata.total_count)
    renderGrok(summary, metricsText === null ? null : grokFromMetrics(metricsText), now)
    document.body.dataset.loaded = "true"
    document.body.dataset.range = state.range
    setStatus("live", `Updated ${new Date(nowMs).toLocaleTimeString()}`)
  } catch (error) {
    if (error instanceof Unauthorized) {
      const hadKey = storage.get(KEY_STORAGE) !== null
      byId("keyform").hidden = false
      byId("keyform-error").hidden = !hadKey
      setStatus("error", "API key needed")
    } else {
      setBanner(`Could not load data: ${error instanceof Error ? error.message : String(error)}. Retrying…`)
      setStatus("error", "Update failed")
    }
  } finally {
    state.inFlight = false
  }
}

const schedule = () => {
  window.clearTimeout(state.timer)
  state.timer = undefined
  if (document.hidden) {
    setStatus("paused", "Paused (tab hidden)")
    return
  }
  state.timer = window.setTimeout(async () => {
    await refresh()
    schedule()
  }, REFRESH_MS)
}

const refreshNow = async () => {
  window.clearTimeout(state.timer)
  await refresh()
  schedule()
}

/** @param {string} range */
const selectRange = (range) => {
  state.range = RANGES[range] ? range : DEFAULT_RANGE
  state.generation += 1
  state.inFlight = false
  storage.set(RANGE_STORAGE, state.range)
  for (const button of byId("range").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === state.range))
  }
}

const start = () => {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("range")
  selectRange(fromHash ?? storage.get(RANGE_STORAGE) ?? DEFAULT_RANGE)

  byId("range-hint-all").addEventListener("click", () => {
    selectRange("all")
    history.replaceState(null, "", "#range=all")
    void refreshNow()
  })

  byId("range").addEventListener("click", (event) => {
    const target = event.target
    if (!(target instanceof HTMLButtonElement) || !target.dataset.range) return
    selectRange(target.dataset.range)
    history.replaceState(null, "", `#range=${state.range}`)
    void refreshNow()
  })

  byId("keyform-form").addEventListener("submit", (event) => {
    event.preventDefault()
    const input = /** @type {HTMLInputElement} */ (byId("api-key"))
    const key = input.value.trim()
    if (key === "") return
    storage.set(KEY_STORAGE, key)
    input.value = ""
    void refreshNow()
  })

  byId("forget-key").addEventListener("click", () => {
    storage.set(KEY_STORAGE, null)
    void refreshNow()
  })

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) schedule()
    else void refreshNow()
  })

  const resize = () => {
    for (const [name, chart] of Object.entries(state.charts)) {
      if (chart === undefined) continue
      const container = byId(`chart-${name}`)
      chart.setSize(chartSize(container, name === "grok" ? 150 : 240))
    }
  }
  let resizeFrame = 0
  window.addEventListener("resize", () => {
    cancelAnimationFrame(resizeFrame)
    resizeFrame = requestAnimationFrame(resize)
  })

  void refreshNow()
}

start()
