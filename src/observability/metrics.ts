/**
 * Every Prometheus metric insightd exports (README "Metrics"), as Effect `Metric`s. They live in
 * Effect's global registry; ./prometheus.ts reads that registry through @effect/opentelemetry and
 * serialises it with the OpenTelemetry Prometheus exporter on GET /metrics.
 *
 * Hot paths (every HTTP request, every ingested conversation) update them synchronously through
 * the helpers below: `unsafeUpdate` with a label array built once per label combination hits
 * Effect's hook cache, so a request pays a map lookup and an addition, not an extra effect step.
 */
import { Metric, MetricBoundaries, MetricLabel } from "effect"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

// ---- Ingestion ----
export const conversationsReceived = counter(
  "insightd_conversations_received_total",
  "Conversations received, accepted or not, by source (http|stdin); an HTTP request refused before its body was read counts as one"
)
export const conversationsAccepted = counter("insightd_conversations_accepted_total", "Conversations committed to the database (idempotent resubmissions included), by source")
export const conversationsRejected = counter(
  "insightd_conversations_rejected_total",
  "Conversations refused, by source and reason; an HTTP request refused as a whole (bad bulk, 413, 415, 429, 503) counts as one"
)
export const inboundRateLimited = counter("insightd_inbound_rate_limited_total", "POST requests refused by the inbound rate limit (429)")

// ---- Analysis ----
export const insightsWritten = counter("insightd_insights_written_total", "Insights written, by analyzer")
export const conversationsFailed = counter("insightd_conversations_failed_total", "Conversations marked failed, by error class")
export const batchSize = Metric.histogram(
  "insightd_analyzed_batch_size",
  MetricBoundaries.fromIterable([1, 2, 5, 10, 20, 50, 100]),
  "Conversations per analysed batch"
)
export const batchDuration = Metric.histogram(
  "insightd_analyzed_batch_duration_seconds",
  MetricBoundaries.fromIterable([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60]),
  "Time to analyse one batch, retries included"
)

// ---- Grok ----
export const grokCalls = counter("insightd_grok_calls_total", "Grok chat-completions calls (retries and probes included), by outcome: 2xx, 4xx, 5xx, timeout, network")
export const grokRetries = counter("insightd_grok_retries_total", "Grok calls scheduled for another attempt")
export const grokTokens = counter("insightd_grok_tokens_total", "Tokens reported by Grok, by kind (prompt|completion)")
export const grokCostUsd = counter("insightd_grok_cost_usd_total", "Cost reported by Grok in USD (usage.cost_in_usd_ticks / 1e10)")
export const grokCallDuration = Metric.histogram(
  "insightd_grok_call_duration_seconds",
  MetricBoundaries.fromIterable([0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60]),
  "Duration of one Grok call attempt, from sending to the full answer (or the failure)"
)
export const grokBatchSize = Metric.histogram(
  "insightd_grok_batch_size",
  MetricBoundaries.fromIterable([1, 2, 5, 10, 20, 50]),
  "Conversations per Grok call"
)
export const grokCallsInFlight = Metric.gauge("insightd_grok_calls_in_flight", { description: "Grok calls sent and not yet answered" })

// ---- State, read at scrape time ----
export const backlog = Metric.gauge("insightd_conversations", { description: "Conversations in the database by status (pending|processing|completed|failed)" })
export const analyzerPaused = Metric.gauge("insightd_analyzer_paused", { description: "1 while the analyzer cannot work (e.g. Grok rejected the key), else 0" })
export const analyzerUnreachable = Metric.gauge("insightd_analyzer_unreachable", {
  description: "1 while the latest Grok calls got no answer (refused, timed out; /ready says grok_unreachable), else 0"
})

// ---- HTTP ----
export const httpRequests = counter("insightd_http_requests_total", "HTTP requests answered, by route, method and status")
export const httpRequestDuration = Metric.histogram(
  "insightd_http_request_duration_seconds",
  MetricBoundaries.fromIterable([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]),
  "HTTP request duration until the response is written, by route, method and status"
)

// ---- Label arrays, built once per combination (Effect caches hooks by array identity) ----
const labelCache = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
const labels = (...pairs: ReadonlyArray<string>): ReadonlyArray<MetricLabel.MetricLabel> => {
  const key = pairs.join("\u0000")
  let cached = labelCache.get(key)
  if (cached === undefined) {
    const built: Array<MetricLabel.MetricLabel> = []
    for (let i = 0; i < pairs.length; i += 2) built.push(MetricLabel.make(pairs[i], pairs[i + 1]))
    cached = built
    labelCache.set(key, cached)
  }
  return cached
}
const NO_LABELS: ReadonlyArray<MetricLabel.MetricLabel> = []

export type IngestSource = "http" | "stdin"

/** Reasons a conversation is refused at the door (listed for the series created at start). */
const REJECT_REASONS = [
  "invalid_json",
  "invalid_schema",
  "conflict",
  "payload_too_large",
  "unsupported_media_type",
  "rate_limited",
  "unauthorized",
  "unavailable"
] as const
export type RejectReason = (typeof REJECT_REASONS)[number]
/** Those a stdin line can meet. */
const STDIN_REJECT_REASONS: ReadonlyArray<RejectReason> = ["invalid_json", "invalid_schema", "conflict", "unavailable"]

export const recordAccepted = (source: IngestSource, count: number): void => {
  const tags = labels("source", source)
  conversationsReceived.unsafeUpdate(count, tags)
  conversationsAccepted.unsafeUpdate(count, tags)
}

export const recordRejected = (source: IngestSource, reason: RejectReason, count = 1): void => {
  conversationsReceived.unsafeUpdate(count, labels("source", source))
  conversationsRejected.unsafeUpdate(count, labels("source", source, "reason", reason))
}

/** An HTTP submission refused with a 400: its body was not JSON, or not conversations. */
export const recordInvalidBody = (notJson: boolean): void => recordRejected("http", notJson ? "invalid_json" : "invalid_schema")

/** Error classes of failed conversations (a bounded set: the message itself would be unbounded). */
const FAILURE_CLASSES = ["abandoned", "retries_exhausted", "grok_rejected", "invalid_reply", "analyzer_error", "other"] as const
export type FailureClass = (typeof FAILURE_CLASSES)[number]

export const failureClass = (error: string): FailureClass => {
  if (/did not finish in \d+ attempts/.test(error)) return "abandoned"
  if (/gave up after \d+/.test(error)) return "retries_exhausted"
  if (/^grok answered HTTP 4/.test(error)) return "grok_rejected"
  if (/^local analyzer failed/.test(error)) return "analyzer_error"
  if (/reply|chat completion|schema|decode|json/i.test(error)) return "invalid_reply"
  return "other"
}

export const recordInsightWritten = (analyzer: string, count = 1): void => insightsWritten.unsafeUpdate(count, labels("analyzer", analyzer))

export const recordFailed = (error: string): void => conversationsFailed.unsafeUpdate(1, labels("error_class", failureClass(error)))

export const recordBatch = (size: number, durationMs: number): void => {
  batchSize.unsafeUpdate(size, NO_LABELS)
  batchDuration.unsafeUpdate(durationMs / 1000, NO_LABELS)
}

/** Outcome of one Grok call attempt: the answer's status class, or how it failed to get one. */
const GROK_OUTCOMES = ["2xx", "4xx", "5xx", "timeout", "network"] as const
export type GrokOutcome = (typeof GROK_OUTCOMES)[number]

export const statusClass = (status: number): GrokOutcome => (status >= 500 ? "5xx" : status >= 400 ? "4xx" : "2xx")

let grokInFlight = 0
export const grokCallStarted = (): void => {
  grokInFlight++
  grokCallsInFlight.unsafeUpdate(grokInFlight, NO_LABELS)
}
export const recordGrokBatch = (size: number): void => grokBatchSize.unsafeUpdate(size, NO_LABELS)
export const grokCallEnded = (outcome: GrokOutcome, durationMs: number): void => {
  grokInFlight--
  grokCallsInFlight.unsafeUpdate(grokInFlight, NO_LABELS)
  grokCalls.unsafeUpdate(1, labels("outcome", outcome))
  grokCallDuration.unsafeUpdate(durationMs / 1000, NO_LABELS)
}
export const grokCallAbandoned = (): void => {
  grokInFlight--
  grokCallsInFlight.unsafeUpdate(grokInFlight, NO_LABELS)
}
export const recordGrokRetry = (): void => grokRetries.unsafeUpdate(1, NO_LABELS)
export const recordGrokUsage = (promptTokens: number | undefined, completionTokens: number | undefined, costUsd: number | undefined): void => {
  if (promptTokens !== undefined) grokTokens.unsafeUpdate(promptTokens, labels("kind", "prompt"))
  if (completionTokens !== undefined) grokTokens.unsafeUpdate(completionTokens, labels("kind", "completion"))
  if (costUsd !== undefined) grokCostUsd.unsafeUpdate(costUsd, NO_LABELS)
}

/**
 * Creates at 0 the counter series whose labels are known in advance, so they exist from the first
 * scrape: `rate()` and `increase()` then count the first event too (a series that appears at 1
 * has no increase), and an alert on failures or 429s has a series to watch. `grok`: the
 * analyzer's call series too. Histograms and per-route HTTP series appear with their first
 * observation.
 */
export const initializeSeries = (analyzerName: string, grok: boolean): void => {
  for (const source of ["http", "stdin"] as const) recordAccepted(source, 0)
  for (const reason of REJECT_REASONS) conversationsRejected.unsafeUpdate(0, labels("source", "http", "reason", reason))
  for (const reason of STDIN_REJECT_REASONS) conversationsRejected.unsafeUpdate(0, labels("source", "stdin", "reason", reason))
  inboundRateLimited.unsafeUpdate(0, NO_LABELS)
  insightsWritten.unsafeUpdate(0, labels("analyzer", analyzerName))
  for (const failure of FAILURE_CLASSES) conversationsFailed.unsafeUpdate(0, labels("error_class", failure))
  if (!grok) return
  for (const outcome of GROK_OUTCOMES) grokCalls.unsafeUpdate(0, labels("outcome", outcome))
  grokRetries.unsafeUpdate(0, NO_LABELS)
  grokTokens.unsafeUpdate(0, labels("kind", "prompt"))
  grokTokens.unsafeUpdate(0, labels("kind", "completion"))
  grokCostUsd.unsafeUpdate(0, NO_LABELS)
  grokCallsInFlight.unsafeUpdate(grokInFlight, NO_LABELS)
}

export const recordBacklog = (counts: Readonly<Record<"pending" | "processing" | "completed" | "failed", number>>): void => {
  for (const status of ["pending", "processing", "completed", "failed"] as const) backlog.unsafeUpdate(counts[status], labels("status", status))
}
export const recordAnalyzerPaused = (paused: boolean): void => analyzerPaused.unsafeUpdate(paused ? 1 : 0, NO_LABELS)
export const recordAnalyzerUnreachable = (unreachable: boolean): void => analyzerUnreachable.unsafeUpdate(unreachable ? 1 : 0, NO_LABELS)

/**
 * The route label: the route pattern, never the raw path (ids would make a series per
 * conversation). Anything unknown is `other`.
 */
const KNOWN_PATHS = new Set([
  "/",
  "/health",
  "/ready",
  "/metrics",
  "/openapi.json",
  "/docs",
  "/api/v1/conversations",
  "/api/v1/conversations/bulk",
  "/api/v1/insights",
  "/api/v1/insights/summary"
])
export const routeOf = (url: string): string => {
  const query = url.indexOf("?")
  const path = query === -1 ? url : url.slice(0, query)
  if (KNOWN_PATHS.has(path)) return path
  if (path.startsWith("/api/v1/conversations/")) return path.endsWith("/retry") ? "/api/v1/conversations/{id}/retry" : "/api/v1/conversations/{id}"
  return "other"
}

// A 400's reason (invalid_json or invalid_schema) depends on the error, not the status: the
// ingest handlers count it where the error is known (recordInvalidBody).
const REJECTED_BY_STATUS: Partial<Record<number, RejectReason>> = {
  401: "unauthorized",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
  503: "unavailable"
}

/** route → method → status → labels, without building a key string per request. */
const httpLabelCache = new Map<string, Map<string, Map<number, ReadonlyArray<MetricLabel.MetricLabel>>>>()
const httpLabels = (route: string, method: string, status: number): ReadonlyArray<MetricLabel.MetricLabel> => {
  let byMethod = httpLabelCache.get(route)
  if (byMethod === undefined) httpLabelCache.set(route, (byMethod = new Map()))
  let byStatus = byMethod.get(method)
  if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()))
  let tags = byStatus.get(status)
  if (tags === undefined) byStatus.set(status, (tags = labels("route", route, "method", method, "status", String(status))))
  return tags
}

/** Called once per HTTP response: duration by route and status; refused submissions by reason. */
export const recordHttpResponse = (method: string, url: string, status: number, durationMs: number): void => {
  const route = routeOf(url)
  const tags = httpLabels(route, method, status)
  httpRequests.unsafeUpdate(1, tags)
  httpRequestDuration.unsafeUpdate(durationMs / 1000, tags)
  if (method === "POST" && status >= 400 && (route === "/api/v1/conversations" || route === "/api/v1/conversations/bulk")) {
    const reason = REJECTED_BY_STATUS[status]
    if (reason !== undefined) recordRejected("http", reason)
    if (status === 429) inboundRateLimited.unsafeUpdate(1, NO_LABELS)
  }
}
