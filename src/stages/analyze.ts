/**
 * Stage `analyze`: batches of claimed conversations in, analysis outcomes out. Batches run
 * `concurrency` at a time; a conversation whose analysis fails with a retryable error is retried
 * on its own (exponential backoff with jitter, capped) and is `failed` once the budget is spent.
 * One conversation's failure never stops its batch or the stream.
 */
import { Clock, Duration, Effect, Either, Schedule, Stream } from "effect"
import { Analyzer } from "../analyzer/Analyzer.js"
import type { Conversation } from "../domain/conversation.js"
import { AnalysisError } from "../domain/errors.js"
import { type SentimentThresholds, sentimentLabel } from "../domain/insight.js"
import { nextEventLoopTurn } from "../services/eventLoop.js"
import type { AnalysisOutcome } from "../store/Store.js"

export interface AnalyzeOptions {
  readonly concurrency: number
  /** Retries after the first attempt. */
  readonly retryBudget: number
  readonly thresholds: SentimentThresholds
  readonly retryBaseDelay?: Duration.DurationInput
  readonly retryMaxDelay?: Duration.DurationInput
}

export interface AnalyzedBatch {
  readonly outcomes: ReadonlyArray<AnalysisOutcome>
  readonly durationMs: number
}

/** Raised inside the stage while some conversations of a batch still await a successful retry. */
class StillFailing {
  readonly _tag = "StillFailing"
  constructor(readonly lastErrors: ReadonlyMap<string, AnalysisError>) {}
}

export const retryPolicy = (options: AnalyzeOptions) =>
  Schedule.exponential(options.retryBaseDelay ?? "500 millis", 2).pipe(
    Schedule.jittered,
    Schedule.union(Schedule.spaced(options.retryMaxDelay ?? "30 seconds")),
    Schedule.intersect(Schedule.recurs(options.retryBudget)),
    Schedule.delays
  )

const analyzeOne =
  (options: AnalyzeOptions) =>
  (conversations: ReadonlyArray<Conversation>): Effect.Effect<AnalyzedBatch, never, Analyzer> =>
    Effect.gen(function* () {
      const analyzer = yield* Analyzer
      const started = yield* Clock.currentTimeMillis
      const outcomes: Array<AnalysisOutcome> = []
      // A conversation claimed again and again never finished: the process died each time.
      const maxClaims = options.retryBudget + 1
      let pending = conversations.filter((conversation) => {
        if (conversation.attempts <= maxClaims) return true
        outcomes.push({ _tag: "Failed", id: conversation.id, error: `analysis did not finish in ${maxClaims} attempts (process stopped during analysis each time)` })
        return false
      })

      // Why the last attempt left conversations to retry (the "retry scheduled" log says it).
      let lastReason = ""
      const attempt = Effect.gen(function* () {
        const results = yield* analyzer.analyzeBatch(pending)
        const analyzedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
        const failing = new Map<string, AnalysisError>()
        const retryable: Array<Conversation> = []
        for (const conversation of pending) {
          const result = results.get(conversation.id) ?? Either.left(new AnalysisError({ message: "the analyzer returned no result for this conversation", retryable: true }))
          if (Either.isRight(result)) {
            outcomes.push({
              _tag: "Completed",
              insight: { ...result.right, conversation_id: conversation.id, sentiment: sentimentLabel(result.right.sentiment_score, options.thresholds), analyzed_at: analyzedAt }
            })
          } else if (result.left._tag === "AnalysisDeferred") {
            // Handed back (the analyzer paused): pending again, and not counted as an attempt.
            outcomes.push({ _tag: "Released", id: conversation.id })
          } else if (result.left.retryable) {
            failing.set(conversation.id, result.left)
            retryable.push(conversation)
          } else {
            outcomes.push({ _tag: "Failed", id: conversation.id, error: result.left.message })
          }
        }
        pending = retryable
        lastReason = failing.values().next().value?.message ?? ""
        if (retryable.length > 0) return yield* Effect.fail(new StillFailing(failing))
      })

      yield* attempt.pipe(
        Effect.retry(
          retryPolicy(options).pipe(
            Schedule.tapOutput((delay) =>
              Effect.logInfo("retry scheduled").pipe(
                Effect.annotateLogs({ stage: "analyze", conversations: pending.length, delay_ms: Duration.toMillis(delay), reason: lastReason })
              )
            )
          )
        ),
        Effect.catchAll((still) =>
          Effect.sync(() => {
            for (const conversation of pending) {
              const error = still.lastErrors.get(conversation.id)?.message ?? "analysis failed"
              outcomes.push({ _tag: "Failed", id: conversation.id, error: `${error} (gave up after ${options.retryBudget + 1} attempts)` })
            }
          })
        )
      )
      return { outcomes, durationMs: (yield* Clock.currentTimeMillis) - started }
    }).pipe(Effect.withSpan("stage.analyze", { attributes: { batch_size: conversations.length } }))

export const analyze =
  (options: AnalyzeOptions) =>
  <E, R>(batches: Stream.Stream<ReadonlyArray<Conversation>, E, R>): Stream.Stream<AnalyzedBatch, E, R | Analyzer> =>
    Stream.mapEffect(
      batches,
      // Between batches, let the event loop serve HTTP: a synchronous analyzer with a backlog would
      // otherwise keep the process busy for seconds at a time (measured: /health unanswered).
      (batch) => Effect.zipLeft(analyzeOne(options)(batch), nextEventLoopTurn),
      { concurrency: options.concurrency, unordered: true }
    )
