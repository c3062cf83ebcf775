/**
 * GET /metrics: Effect's metric registry, read by @effect/opentelemetry's MetricProducer into an
 * OpenTelemetry PrometheusExporter (a MetricReader that never starts its own server) and
 * serialised in the Prometheus text format on our own route.
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as OtelResource from "@effect/opentelemetry/Resource"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import type { MetricReader } from "@opentelemetry/sdk-metrics"
import { Effect, Layer } from "effect"
import { Analyzer } from "../analyzer/Analyzer.js"
import { Store } from "../store/Store.js"
import { initializeSeries, recordAnalyzerPaused, recordAnalyzerUnreachable, recordBacklog } from "./metrics.js"

/**
 * The OpenTelemetry serializer writes a histogram's `_count` and `_sum` before its buckets; the
 * Prometheus clients (and simpler parsers, which depend on it) write buckets, then `_sum`, then
 * `_count`. Same samples, conventional order.
 */
/** The serializer's (untyped, private) writer of one histogram data point. */
type HistogramWriter = (name: string, data: unknown, dataPoint: unknown, attributes: unknown) => string

class ConventionalOrderSerializer extends PrometheusSerializer {
  constructor() {
    // No prefix, no timestamps, resource attributes only on target_info, no scope labels.
    super(undefined, false, undefined, false, true)
    const self = this as unknown as { _serializeHistogramDataPoint: HistogramWriter }
    const original = self._serializeHistogramDataPoint.bind(this)
    self._serializeHistogramDataPoint = (name, data, dataPoint, attributes) => {
      const lines = original(name, data, dataPoint, attributes).split("\n").filter((line) => line !== "")
      const isCount = (line: string) => line.startsWith(`${name}_count`)
      const isSum = (line: string) => line.startsWith(`${name}_sum`)
      const buckets = lines.filter((line) => !isCount(line) && !isSum(line))
      return `${[...buckets, ...lines.filter(isSum), ...lines.filter(isCount)].join("\n")}\n`
    }
  }
}

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

/**
 * Effect's own fiber metrics (effect_fiber_*) carry no description, so the
 * serializer wrote "description missing" as their HELP; these say what they count.
 */
const RUNTIME_METRIC_HELP: Readonly<Record<string, string>> = {
  effect_fiber_started_total: "Fibers started by the Effect runtime",
  effect_fiber_active: "Fibers started and not yet ended",
  effect_fiber_successes_total: "Fibers that ended with success",
  effect_fiber_failures_total: "Fibers that ended with a failure or defect",
  effect_fiber_lifetimes: "How long fibers ran, in milliseconds"
}
const MISSING_HELP = /^# HELP (\S+) description missing$/gm
// The serializer adds OpenMetrics' `# UNIT name 1` lines: not part of text format 0.0.4 (what the
// content type says), and "1" (dimensionless) was wrong for the `_seconds` histograms.
const UNIT_LINE = /^# UNIT .*\n/gm
const withRuntimeHelp = (text: string): string =>
  text.replace(UNIT_LINE, "").replace(MISSING_HELP, (line, name: string) => (name in RUNTIME_METRIC_HELP ? `# HELP ${name} ${RUNTIME_METRIC_HELP[name]}` : line))

export class PrometheusMetrics extends Effect.Service<PrometheusMetrics>()("insightd/PrometheusMetrics", {
  scoped: Effect.gen(function* () {
    const store = yield* Store
    const analyzer = yield* Analyzer
    // No scope label on every sample: all of them come from the one Effect producer.
    const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true })
    const serializer = new ConventionalOrderSerializer()
    const producer = yield* OtelMetrics.makeProducer
    // The exporter bundles its own copy of sdk-metrics (2.12.0 beside our 2.12.1): the same class at
    // run time, two declarations to the type checker.
    yield* OtelMetrics.registerProducer(producer, () => exporter as unknown as MetricReader)
    // Series exist from the first scrape on, so rates start at zero instead of at the first event.
    initializeSeries(analyzer.name, analyzer.name.startsWith("grok:"))

    /** Reads the gauges that are state (backlog, pause) at scrape time, then serialises everything. */
    const render: Effect.Effect<string> = Effect.gen(function* () {
      const counts = yield* Effect.either(store.statusCounts)
      if (counts._tag === "Right") recordBacklog(counts.right)
      else yield* Effect.logWarning("metrics: backlog not read").pipe(Effect.annotateLogs({ reason: counts.left.message }))
      recordAnalyzerPaused((yield* analyzer.notReadyReason) !== null)
      recordAnalyzerUnreachable((yield* analyzer.degradedReason) !== null)
      const collected = yield* Effect.promise(() => exporter.collect())
      return withRuntimeHelp(serializer.serialize(collected.resourceMetrics))
    })
    return { render }
  })
}) {}

/** The service with the OpenTelemetry resource it reports (service.name insightd). */
export const PrometheusMetricsLive: Layer.Layer<PrometheusMetrics, never, Store | Analyzer> = PrometheusMetrics.Default.pipe(
  Layer.provide(OtelResource.layer({ serviceName: "insightd" }))
)
