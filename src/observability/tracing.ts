/**
 * Traces: Effect spans (`Effect.withSpan` / `Effect.fn`) exported over OTLP/HTTP through
 * @effect/opentelemetry, only when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces-only
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Otherwise the tracer is disabled altogether: spans
 * are then no-ops, and the HTTP server skips its per-request span (measured: a quarter of a
 * request's CPU when it was on).
 */
import { Effect, Layer } from "effect"

/** Where traces go, or null when tracing is off. The exporter itself reads the same variables. */
export const otlpTracesEndpoint = (env: NodeJS.ProcessEnv = process.env): string | null => {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()
  if (traces) return traces
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()
  return base ? `${base.replace(/\/+$/, "")}/v1/traces` : null
}

export const tracingEnabled = (env: NodeJS.ProcessEnv = process.env): boolean => otlpTracesEndpoint(env) !== null

/**
 * The OTLP tracer when configured; else tracing disabled. Spans still in the batch are flushed on
 * shutdown. The OpenTelemetry SDK and exporter are loaded only when tracing is on: a few MB of
 * resident memory that a daemon without a collector should not carry.
 */
export const tracingLayer = (env: NodeJS.ProcessEnv = process.env): Layer.Layer<never> =>
  tracingEnabled(env)
    ? Layer.unwrapEffect(
        Effect.promise(async () => {
          const [NodeSdk, { OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
            import("@effect/opentelemetry/NodeSdk"),
            import("@opentelemetry/exporter-trace-otlp-http"),
            import("@opentelemetry/sdk-trace-base")
          ])
          return NodeSdk.layer(() => ({
            resource: { serviceName: env.OTEL_SERVICE_NAME?.trim() || "insightd" },
            // Short delay: a trace shows up within a second, and a short-lived run still exports.
            spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 500 })
          })).pipe(Layer.discard)
        })
      )
    : Layer.setTracerEnabled(false)
