/**
 * Stage `analyze`: batches of claimed conversations in, analysis outcomes out. Batches run
 * `concurrency` at a time; a conversation whose analysis fails with a retryable error is retried
 * on its own (exponential backoff with jitter, capped) and is `failed` once the budget is spent.
 * One conversation's failure never stops its batch or the stream.
 */
import { Clock, Duration, Effect, Either, Schedule, ScheduleDecision, Stream } from "effect"
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
      const fresh = conversations.filter((conversation) => {
        if (conversation.attempts <= maxClaims) return true
        outcomes.push({ _tag: "Failed", id: conversation.id, error: `analysis did not finish in ${maxClaims} attempts (process stopped during analysis each time)` })
        return false
      })

      /** Analyses `group` once; records every final outcome and returns the conversations to retry, with why. */
      const analyzeOnce = (group: ReadonlyArray<Conversation>) =>
        Effect.gen(function* () {
          const results = yield* analyzer.analyzeBatch(group)
          const analyzedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
          const retry: Array<readonly [Conversation, AnalysisError]> = []
          for (const conversation of group) {
            const result = results.get(conversation.id) ?? Either.left(new AnalysisError({ message: "the analyzer returned no result for this conversation", retryable: true }))
            if (Either.isRight(result)) {
              outcomes.push({
                _tag: "Completed",
                insight: { ...result.right, conversation_id: conversation.id, sentiment: sentimentLabel(result.right.sentiment_score, options.thresholds), analyzed_at: analyzedAt }
              })
            } else if (result.left._tag === "AnalysisDeferred") {
              // Handed back (the analyzer paused, or shutdown came before its next call): pending
              // again, the attempt counted only if calls were already spent on it.
              outcomes.push({ _tag: "Released", id: conversation.id, keepAttempt: result.left.calls > 0 })
            } else if (result.left.retryable) {
              retry.push([conversation, result.left])
            } else {
              outcomes.push({ _tag: "Failed", id: conversation.id, error: result.left.message })
            }
          }
          return retry
        })

      /**
       * A conversation left without a result is retried on its own (SPEC §6: retried alone, not
       * guessed), with backoff and jitter, until it has one or the budget is spent.
       */
      const retryAlone = (conversation: Conversation, firstError: AnalysisError) =>
        Effect.gen(function* () {
          let lastError = firstError
          let retries = 0
          const again = Effect.suspend(() =>
            // The first run only stands for the failed attempt, so the first retry waits its delay too.
            retries++ === 0 ? Effect.fail(lastError) : Effect.flatMap(analyzeOnce([conversation]), (retry) => (retry.length === 0 ? Effect.void : Effect.fail((lastError = retry[0][1]))))
          )
          yield* again.pipe(
            Effect.retry(
              retryPolicy(options).pipe(
                Schedule.onDecision((delay, decision) =>
                  ScheduleDecision.isContinue(decision)
                    ? Effect.logInfo("retry scheduled").pipe(
                        Effect.annotateLogs({ stage: "analyze", conversation_id: conversation.id, delay_ms: Math.round(Duration.toMillis(delay)), reason: lastError.message })
                      )
                    : Effect.void
                )
              )
            ),
            Effect.catchAll((error) =>
              Effect.sync(() => outcomes.push({ _tag: "Failed", id: conversation.id, error: `${error.message} (gave up after ${options.retryBudget + 1} attempts)` }))
            )
          )
        })

      const toRetry = yield* analyzeOnce(fresh)
      yield* Effect.forEach(toRetry, ([conversation, error]) => retryAlone(conversation, error), { concurrency: "unbounded", discard: true })
      return { outcomes, durationMs: (yield* Clock.currentTimeMillis) - started }
    }).pipe(Effect.withSpan("stage.analyze", { attributes: { batch_size: conversations.length }, captureStackTrace: false }))

export const analyze =
  (options: AnalyzeOptions) =>
  <E, R>(batches: Stream.Stream<ReadonlyArray<Conversation>, E, R>): Stream.Stream<AnalyzedBatch, E, R | Analyzer> =>
    Stream.unwrap(
      Effect.map(Analyzer, (analyzer) => {
        // Between batches, let the event loop serve HTTP: a synchronous analyzer with a backlog would
        // otherwise keep the process busy for seconds at a time (measured: /health unanswered).
        const analyzeBatch = (batch: ReadonlyArray<Conversation>) => Effect.zipLeft(analyzeOne(options)(batch), nextEventLoopTurn)
        // An analyzer that computes on this thread (the local one) gains nothing from batches in
        // flight together, and Stream.mapEffect with concurrency costs ~0.6 ms of CPU per element
        // (measured), more than the local analyzer takes for a batch of 10: one at a time.
        return analyzer.usesCallingThread || options.concurrency <= 1
          ? Stream.mapEffect(batches, analyzeBatch)
          : Stream.mapEffect(batches, analyzeBatch, { concurrency: options.concurrency, unordered: true })
      })
    )
