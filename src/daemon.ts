/**
 * `insightd serve`: merges the service layers and launches the pipeline and the HTTP server.
 * Release order is the reverse of start-up, so on SIGTERM the drain (stop sources, finish or
 * release in-flight work) runs while the HTTP server still answers (503 to new POSTs), and the
 * database closes last.
 */
import { Effect, Layer, Runtime } from "effect"
import { analyzerConfigurationProblem, analyzerLayer, effectiveAnalyzer } from "./analyzer/layer.js"
import { AppConfig, type Config, describeConfig } from "./config.js"
import { HttpServerLive } from "./http/server.js"
import type { ResolvedPipeline } from "./pipeline/definition.js"
import { startPipeline } from "./pipeline/runner.js"
import { PrometheusMetricsLive } from "./observability/prometheus.js"
import { otlpTracesEndpoint, tracingLayer } from "./observability/tracing.js"
import { InboundLimiter } from "./services/InboundLimiter.js"
import { Ingest } from "./services/Ingest.js"
import { Lifecycle } from "./services/Lifecycle.js"
import { WorkSignal } from "./services/WorkSignal.js"
import { DaemonLockLive } from "./store/daemonLock.js"
import { SqliteStoreLive } from "./store/sqlite.js"

const PipelineLive = (config: Config, pipeline: ResolvedPipeline) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const lifecycle = yield* Lifecycle
      const running = yield* startPipeline(pipeline, {
        retryBudget: config.analyzer.retryBudget,
        thresholds: config.sentiment,
        // Grok calls take seconds: enough batches in flight that the call limit is used fully.
        analyzeConcurrency:
          pipeline.analyze !== null && effectiveAnalyzer(config, pipeline.analyze.analyzer) === "grok" ? config.analyzer.grok.maxInFlight : undefined
      })
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          yield* Effect.logInfo("shutdown: signal received, draining")
          yield* lifecycle.startDraining
          yield* running.drain(config.gracePeriodMs)
          yield* Effect.logInfo("shutdown: complete")
        })
      )
      yield* Effect.logInfo("insightd ready").pipe(Effect.annotateLogs({ pipeline: pipeline.name }))
    })
  )

export const daemonLayer = (config: Config, pipeline: ResolvedPipeline) => {
  const core = Layer.mergeAll(
    // The analyzer reads the store (the Grok prompt offers the most used cluster labels) and the
    // lifecycle (no new Grok calls once draining). The database is locked for this daemon before
    // anything (migrations, recovery of claims) touches it, and unlocked after it is closed.
    analyzerLayer(config, pipeline.analyze?.analyzer).pipe(
      Layer.provideMerge(SqliteStoreLive(config.databaseFile).pipe(Layer.provide(DaemonLockLive(config.databaseFile)))),
      Layer.provideMerge(Lifecycle.Default)
    ),
    WorkSignal.Default,
    Ingest.Default,
    InboundLimiter.Default
  ).pipe(Layer.provideMerge(Layer.succeed(AppConfig, config)))
  const http = pipeline.sources.has("http") ? HttpServerLive.pipe(Layer.provide(PrometheusMetricsLive)) : Layer.empty
  // `provide` builds its argument first: core, then HTTP, then the pipeline (released in reverse).
  // Spans go to OTLP only when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise the tracer is off,
  // since creating spans per SQL statement and request would only cost.
  return PipelineLive(config, pipeline).pipe(Layer.provide(http), Layer.provide(core), Layer.provide(tracingLayer()))
}

/**
 * The first SIGTERM or SIGINT starts the drain (NodeRuntime interrupts the main fiber; its handlers
 * run once). A repeated one, or SIGINT after SIGTERM, must not end the process half-way: Node's
 * default action would exit 143/130 at once and leave claimed conversations `processing`. Here a
 * repeated signal is logged and ignored; the grace period already bounds the drain. SIGHUP (the
 * terminal closed) drains the same way instead of killing the process outright.
 */
const signalsDuringShutdown = (config: Config) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const log = (signal: string) =>
      Runtime.runFork(runtime)(
        Effect.logWarning("shutdown: already draining; signal ignored").pipe(Effect.annotateLogs({ signal, grace_period_ms: config.gracePeriodMs }))
      )
    let shuttingDown = false
    let forwardedHangup = false
    const onTerminate = (signal: NodeJS.Signals) => {
      if (forwardedHangup && signal === "SIGTERM") forwardedHangup = false
      else if (shuttingDown) log(signal)
      shuttingDown = true
    }
    const onHangup = () => {
      if (shuttingDown) return log("SIGHUP")
      forwardedHangup = true
      process.kill(process.pid, "SIGTERM")
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        process.on("SIGTERM", onTerminate)
        process.on("SIGINT", onTerminate)
        process.on("SIGHUP", onHangup)
      }),
      () =>
        Effect.sync(() => {
          process.off("SIGTERM", onTerminate)
          process.off("SIGINT", onTerminate)
          process.off("SIGHUP", onHangup)
        })
    )
  })

export const serve = (config: Config, pipeline: ResolvedPipeline) =>
  Effect.gen(function* () {
    // Refused before anything starts: no database created or migrated for a daemon that cannot run.
    const problem = pipeline.analyze === null ? undefined : analyzerConfigurationProblem(config, pipeline.analyze.analyzer)
    if (problem !== undefined) return yield* Effect.fail(problem)
    yield* Effect.logInfo("insightd starting").pipe(
      Effect.annotateLogs({
        config: describeConfig(config),
        pipeline: pipeline.name,
        analyzer: pipeline.analyze === null ? "none" : effectiveAnalyzer(config, pipeline.analyze.analyzer),
        node: process.version,
        traces: otlpTracesEndpoint() ?? "off",
        pid: process.pid
      })
    )
    // The pipeline's own analyzer wins over INSIGHTD_ANALYZER / config.json: said, not silent.
    const pipelineChoice = pipeline.analyze?.analyzer
    if (pipelineChoice !== undefined && pipelineChoice !== "auto" && config.analyzer.choice !== "auto" && config.analyzer.choice !== pipelineChoice) {
      yield* Effect.logWarning("the pipeline's analyzer overrides the configured one").pipe(
        Effect.annotateLogs({ pipeline: pipeline.name, pipeline_analyzer: pipelineChoice, configured_analyzer: config.analyzer.choice })
      )
    }
    yield* signalsDuringShutdown(config)
    return yield* Layer.launch(daemonLayer(config, pipeline))
  }).pipe(Effect.scoped)
