/**
 * `insightd analyze`: conversations JSONL on stdin → insights JSONL on stdout, without a database.
 * The daemon's stages run here unchanged: validate → batch → analyze, with the configured analyzer
 * (local by default, Grok when XAI_API_KEY is set or INSIGHTD_ANALYZER says so) and the batch and
 * concurrency settings of the pipeline file.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import { Chunk, Clock, Effect, Layer, Option, Stream } from "effect"
import { existsSync } from "node:fs"
import { Analyzer } from "../analyzer/Analyzer.js"
import { analyzerLayer, effectiveAnalyzer } from "../analyzer/layer.js"
import type { Config } from "../config.js"
import { contentDigest } from "../domain/content.js"
import type { Conversation, NewConversation } from "../domain/conversation.js"
import { ConfigurationError, StoreError } from "../domain/errors.js"
import type { Insight } from "../domain/insight.js"
import { loadPipeline, type ResolvedPipeline } from "../pipeline/definition.js"
import { analyze } from "../stages/analyze.js"
import { batch } from "../stages/batch.js"
import { validate } from "../stages/validate.js"
import { Store, type StoreShape } from "../store/Store.js"
import { CommandFailed, failWhenRejected, inputLines, reportRejected, summaryWhenInterrupted, withConfig, writeJsonLines } from "./shared.js"

/** The batch and analyze settings of `pipelines/default.json`, used when no pipeline file is at hand. */
const DEFAULT_SETTINGS = { batch: { size: 10, waitMs: 200 }, analyze: { analyzer: "auto" as const, concurrency: 4, retryBudget: undefined } }

/**
 * The configured pipeline file's batch and analyze settings. A missing default file (a run
 * outside the project directory) falls back to the defaults; a file that exists but is
 * invalid, or an explicitly named one that is missing, is a configuration error as for `serve`.
 */
export const analysisSettings = (config: Config): Effect.Effect<Pick<ResolvedPipeline, "batch" | "analyze">, ConfigurationError> => {
  const named = process.env.INSIGHTD_PIPELINE !== undefined && process.env.INSIGHTD_PIPELINE !== ""
  if (!named && !existsSync(config.pipelineFile)) return Effect.succeed(DEFAULT_SETTINGS)
  return Effect.map(loadPipeline(config.pipelineFile), (pipeline) => ({
    // The daemon's batches may leave at once (wait 0) because its source claims many pending rows at
    // a time; stdin delivers one line at a time, so a batch here waits a moment for company.
    batch: pipeline.batch === null ? DEFAULT_SETTINGS.batch : { size: pipeline.batch.size, waitMs: pipeline.batch.waitMs > 0 ? pipeline.batch.waitMs : DEFAULT_SETTINGS.batch.waitMs },
    analyze: pipeline.analyze ?? DEFAULT_SETTINGS.analyze
  }))
}

/**
 * The Store the analyzer sees when there is no database: it only answers the most used cluster
 * labels (the Grok prompt offers them for reuse), counted over this run's own insights.
 */
export const runLocalStore = (clusterCounts: Map<string, number>): Layer.Layer<Store> => {
  const none = new StoreError({ message: "insightd analyze runs without a database" })
  const unavailable = Effect.fail(none)
  const shape: StoreShape = {
    submit: () => unavailable,
    getConversation: () => Effect.succeed(Option.none()),
    existingIds: () => Effect.succeed(new Set<string>()),
    retry: () => unavailable,
    retryAllFailed: unavailable,
    retryFailedMatching: () => unavailable,
    claim: () => unavailable,
    // Nothing is claimed, so there is nothing to mark.
    markStarted: () => Effect.void,
    record: () => unavailable,
    releaseClaims: () => Effect.succeed(0),
    recoverAbandoned: Effect.succeed(0),
    queryInsights: () => unavailable,
    topClusters: (limit) =>
      Effect.sync(() =>
        [...clusterCounts.entries()]
          .sort(([a, n], [b, m]) => m - n || (a < b ? -1 : a > b ? 1 : 0))
          .slice(0, limit)
          .map(([cluster]) => cluster)
      ),
    statusCounts: unavailable,
    summarize: () => unavailable,
    ping: Effect.void,
    writable: Effect.void,
    committedElsewhere: Effect.succeed(false)
  }
  return Layer.succeed(Store, shape)
}

/** An insight as the API shows it (SPEC §3), with the conversation's timestamp, author and text. */
export const insightLine = (insight: Insight, conversation: Pick<Conversation, "timestamp" | "author" | "text">) => ({
  conversation_id: insight.conversation_id,
  timestamp: conversation.timestamp,
  author: conversation.author,
  text: conversation.text,
  sentiment_score: insight.sentiment_score,
  sentiment: insight.sentiment,
  confidence: insight.confidence,
  clusters: insight.clusters,
  reasoning: insight.reasoning,
  analyzer: insight.analyzer,
  raw_response: insight.raw_response,
  prompt_tokens: insight.prompt_tokens,
  completion_tokens: insight.completion_tokens,
  cost_usd: insight.cost_usd,
  analyzed_at: insight.analyzed_at
})

const asClaimed = (conversation: NewConversation, now: string): Conversation => ({
  id: conversation.id,
  text: conversation.text,
  author: conversation.author,
  timestamp: conversation.timestamp,
  messages: conversation.messages,
  metadata: conversation.metadata,
  raw: conversation.raw,
  status: "processing",
  attempts: 1,
  lastError: null,
  receivedAt: now,
  updatedAt: now
})

interface InFlight {
  readonly line: number
  readonly conversation: Conversation
}

/**
 * Fails once the analyzer reports it cannot work (`grok_unauthorized`: the key was refused); never
 * succeeds. A configuration error (exit 78): the same key would be refused again on a rerun.
 */
const stopWhenNotReady = (analyzed: () => number): Effect.Effect<never, ConfigurationError, Analyzer> =>
  Effect.zipRight(failIfCannotWork(analyzed), Effect.sleep("250 millis")).pipe(Effect.forever)

/** Fails when the analyzer cannot work now, saying why and how far the run got. */
const failIfCannotWork = (analyzed: () => number): Effect.Effect<void, ConfigurationError, Analyzer> =>
  Effect.gen(function* () {
    const analyzer = yield* Analyzer
    const reason = yield* analyzer.notReadyReason
    if (reason === null) return
    return yield* new ConfigurationError({
      message: `analyze: the analyzer ${analyzer.name} cannot work (${reason}${reason === "grok_unauthorized" ? ": grok rejected the API key" : ""}); check XAI_API_KEY or use INSIGHTD_ANALYZER=local. Stopped after ${analyzed()} insights; the rest of the input was not analysed`
    })
  })

const analyzeLines = (config: Config, settings: Pick<ResolvedPipeline, "batch" | "analyze">, clusterCounts: Map<string, number>) =>
  Effect.gen(function* () {
    const analyzeSettings = settings.analyze ?? DEFAULT_SETTINGS.analyze
    const chosen = effectiveAnalyzer(config, analyzeSettings.analyzer)
    const options = {
      // As the daemon: Grok calls take seconds, so enough batches in flight to use the call limit.
      concurrency: chosen === "grok" ? config.analyzer.grok.maxInFlight : analyzeSettings.concurrency,
      retryBudget: analyzeSettings.retryBudget ?? config.analyzer.retryBudget,
      thresholds: config.sentiment,
      ...(chosen === "grok" ? { retryBaseDelay: config.analyzer.grok.retryBaseDelayMs, retryMaxDelay: config.analyzer.grok.retryMaxDelayMs } : {})
    }
    yield* Effect.logInfo("analyze started").pipe(Effect.annotateLogs({ analyzer: chosen, batch_size: (settings.batch ?? DEFAULT_SETTINGS.batch).size, concurrency: options.concurrency }))
    // Conversations between validation and their insight, by id (their line for failure reports).
    const inFlight = new Map<string, InFlight>()
    // Every client-chosen id met so far: its first line and content digest. As in the daemon, the
    // first version of an id is the one analysed; the same content again is a resubmission (not
    // analysed twice), different content is refused. Without this, a second line with the id
    // replaced the first in `inFlight` and an insight could pair one line's text with the other's
    // analysis.
    const seen = new Map<string, { readonly line: number; readonly digest: string }>()
    let analyzed = 0
    let rejected = 0
    let resubmitted = 0
    let handedBack = 0
    yield* inputLines(undefined).pipe(
      validate,
      // Per chunk, not per line: one effect for a read buffer's worth of lines keeps the overhead low.
      Stream.mapChunksEffect((lines) =>
        Effect.gen(function* () {
          const now = new Date(yield* Clock.currentTimeMillis).toISOString()
          const conversations: Array<Conversation> = []
          for (const line of lines) {
            if (line._tag === "Rejected") {
              rejected++
              yield* reportRejected(line.line, line.reason, { fields: line.details.map((issue) => issue.field) })
              continue
            }
            if (line.conversation.clientId) {
              const digest = contentDigest(line.conversation)
              const first = seen.get(line.conversation.id)
              if (first !== undefined) {
                if (first.digest === digest) {
                  resubmitted++
                  continue
                }
                rejected++
                yield* reportRejected(line.line, `conversation ${line.conversation.id} already appeared on line ${first.line} with different content`, {
                  conversation_id: line.conversation.id
                })
                continue
              }
              seen.set(line.conversation.id, { line: line.line, digest })
            }
            const conversation = asClaimed(line.conversation, now)
            inFlight.set(conversation.id, { line: line.line, conversation })
            conversations.push(conversation)
          }
          return Chunk.unsafeFromArray(conversations)
        })
      ),
      batch(settings.batch ?? DEFAULT_SETTINGS.batch),
      analyze(options),
      Stream.mapEffect((result) =>
        Effect.gen(function* () {
          const out: Array<unknown> = []
          for (const outcome of result.outcomes) {
            if (outcome._tag === "Completed") {
              const entry = inFlight.get(outcome.insight.conversation_id)
              inFlight.delete(outcome.insight.conversation_id)
              if (entry === undefined) continue
              analyzed++
              for (const cluster of outcome.insight.clusters) clusterCounts.set(cluster, (clusterCounts.get(cluster) ?? 0) + 1)
              out.push(insightLine(outcome.insight, entry.conversation))
            } else if (outcome._tag === "Released") {
              // Handed back by an analyzer that cannot work now (a refused key): the run stops on
              // that with one message (stopWhenNotReady), not with a reject per line.
              inFlight.delete(outcome.id)
              handedBack++
            } else {
              const id = outcome.id
              const entry = inFlight.get(id)
              inFlight.delete(id)
              rejected++
              yield* reportRejected(entry?.line ?? 0, `analysis failed: ${outcome.error}`, { conversation_id: id })
            }
          }
          yield* writeJsonLines(out)
        })
      ),
      Stream.runDrain,
      // The daemon pauses on a rejected Grok key and keeps its backlog for later; a command has no
      // later, so it stops and says why instead of waiting for probes forever.
      Effect.raceFirst(stopWhenNotReady(() => analyzed)),
      summaryWhenInterrupted("analyze", () => ({ analyzed, rejected, resubmitted }))
    )
    // The input may end before the watch above looks again: conversations handed back mean the
    // analyzer stopped working, and the run must not end as if they had been analysed.
    yield* failIfCannotWork(() => analyzed)
    if (handedBack > 0) {
      return yield* new CommandFailed({ message: `analyze: ${handedBack} conversations were handed back by the analyzer and not analysed` })
    }
    yield* Effect.logInfo("analyze finished").pipe(Effect.annotateLogs({ analyzed, rejected, resubmitted }))
    yield* failWhenRejected("analyze", rejected)
  })

export const runAnalyze: Effect.Effect<void, CommandFailed | ConfigurationError, FileSystem.FileSystem> = withConfig((config) =>
  Effect.gen(function* () {
    const settings = yield* analysisSettings(config)
    const clusterCounts = new Map<string, number>()
    const analyzer: Layer.Layer<Analyzer, ConfigurationError> = analyzerLayer(config, settings.analyze?.analyzer).pipe(Layer.provide(runLocalStore(clusterCounts)))
    yield* analyzeLines(config, settings, clusterCounts).pipe(Effect.provide(analyzer))
  })
)
