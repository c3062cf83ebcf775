/**
 * Stage `persist-insight`: analysed batches in, recorded batches out. Insights and status changes
 * are written in one transaction per write, and batches that finish within a few milliseconds of
 * each other are gathered into one write (group commit, as on the ingest side): with a fast
 * analyzer the commits were what limited a backlog's pace, not the analysis.
 */
import { Clock, Effect, Stream } from "effect"
import type { StoreError } from "../domain/errors.js"
import { Analyzer } from "../analyzer/Analyzer.js"
import { recordBatch, recordFailed, recordInsightWritten } from "../observability/metrics.js"
import { WorkSignal } from "../services/WorkSignal.js"
import { Store } from "../store/Store.js"
import type { AnalyzedBatch } from "./analyze.js"
import { batch } from "./batch.js"

export interface RecordedBatch extends AnalyzedBatch {
  readonly completed: number
  readonly failed: number
}

/** Analysed batches gathered into one write at most. */
const MAX_BATCHES_PER_WRITE = 16
/**
 * How long the first batch of a write waits for others. SQLite writes block the thread, so an
 * analyzer that runs on it (the local one) only gets to finish the next batch while the stage
 * waits: gathering only what was already done wrote every batch on its own. 4 ms adds that much
 * to a batch's latency (the idle Grok round trip stays within its 50 ms budget).
 */
const WRITE_WINDOW_MS = 4
/**
 * The window when the analyzer runs on the calling thread: each commit's fsync (about half of a
 * local backlog's thread time, bench/sql-timing.mjs) is paid per write, and meanwhile the analyzer
 * finishes more batches to share it. A 20,000 backlog (medians of rounds, a noisy machine) drained
 * at 570-601/s with 4 ms, 692/s with 20 ms, 809-882/s with 40 ms; but with 40 ms /health took
 * 56-87 ms at p50 while draining instead of 19-23 ms (20 ms: 22-25 ms). Nobody waits on a local
 * insight within 20 ms; a Grok batch keeps the short window.
 */
const CALLING_THREAD_WRITE_WINDOW_MS = 20

const recordTogether = (group: ReadonlyArray<AnalyzedBatch>) =>
  Effect.gen(function* () {
    const store = yield* Store
    const outcomes = group.flatMap((analyzed) => analyzed.outcomes)
    yield* store.record(outcomes)
    // Conversations handed back (the analyzer paused) are pending again: a claim that found
    // nothing meanwhile sleeps until told there is work, so tell it.
    if (outcomes.some((outcome) => outcome._tag === "Released")) yield* Effect.flatMap(WorkSignal, (signal) => signal.notify)
    return group
  }).pipe(Effect.withSpan("stage.persist-insight", { attributes: { batches: group.length }, captureStackTrace: false }))

/**
 * The local analyzer finishes thousands of batches a second: a line for each would flood the log,
 * and none at info left an operator on the default setup no sign that analysis runs (SPEC §10
 * lists "batch analyzed"). So its batches get an info line at most once a second, carrying how
 * many batches and conversations were analysed since the previous one; the rest are debug.
 * A Grok batch is a paid call: every one is a line at info.
 */
const LOCAL_INFO_INTERVAL_MS = 1000

interface LocalLineState {
  lastInfoAt: number
  batches: number
  conversations: number
}

/** Metrics and the `batch analyzed` log line, per analysed batch, once it is recorded. */
const reportRecorded = (analyzed: AnalyzedBatch, local: LocalLineState, analyzerName: string) =>
  Effect.gen(function* () {
    let completed = 0
    let failed = 0
    let released = 0
    let promptTokens = 0
    let completionTokens = 0
    let analyzer: string | undefined
    for (const outcome of analyzed.outcomes) {
      if (outcome._tag === "Completed") {
        completed++
        analyzer = outcome.insight.analyzer
        promptTokens += outcome.insight.prompt_tokens ?? 0
        completionTokens += outcome.insight.completion_tokens ?? 0
        recordInsightWritten(outcome.insight.analyzer)
      } else if (outcome._tag === "Failed") {
        failed++
        recordFailed(outcome.error)
      } else {
        released++
      }
    }
    recordBatch(analyzed.outcomes.length, analyzed.durationMs)
    const fields = {
      stage: "persist-insight",
      // A batch whose every conversation failed has no insight to name it: the analyzer that ran.
      analyzer: analyzer ?? analyzerName,
      batch_size: analyzed.outcomes.length,
      completed,
      failed,
      duration_ms: analyzed.durationMs,
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens
    }
    if (completed === 0 && failed === 0 && released > 0) {
      // Nothing was analysed: the analyzer paused (or shutdown came) and the batch went back to
      // pending. Saying "batch analyzed" with zero results misled whoever read the log.
      yield* Effect.logInfo("batch handed back").pipe(Effect.annotateLogs({ stage: "persist-insight", batch_size: analyzed.outcomes.length, released }))
    } else if (analyzer?.startsWith("local:") === true && failed === 0) {
      local.batches++
      local.conversations += analyzed.outcomes.length
      const now = yield* Clock.currentTimeMillis
      if (now - local.lastInfoAt < LOCAL_INFO_INTERVAL_MS) {
        yield* Effect.logDebug("batch analyzed").pipe(Effect.annotateLogs({ ...fields, ...(released > 0 ? { released } : {}) }))
      } else {
        const since = { batches_since_last_line: local.batches, conversations_since_last_line: local.conversations }
        local.lastInfoAt = now
        local.batches = 0
        local.conversations = 0
        yield* Effect.logInfo("batch analyzed").pipe(Effect.annotateLogs({ ...fields, ...(released > 0 ? { released } : {}), ...since }))
      }
    } else {
      yield* Effect.logInfo("batch analyzed").pipe(Effect.annotateLogs({ ...fields, ...(released > 0 ? { released } : {}) }))
    }
    return { ...analyzed, completed, failed }
  })

export const persistInsight = <E, R>(
  batches: Stream.Stream<AnalyzedBatch, E, R>
): Stream.Stream<RecordedBatch, E | StoreError, R | Store | WorkSignal | Analyzer> =>
  Stream.unwrap(Effect.map(Analyzer, (analyzer) => {
    const local: LocalLineState = { lastInfoAt: Number.NEGATIVE_INFINITY, batches: 0, conversations: 0 }
    const waitMs = analyzer.usesCallingThread ? CALLING_THREAD_WRITE_WINDOW_MS : WRITE_WINDOW_MS
    return batches.pipe(
      // Collects the batches that finish within the window (or 16), then writes them together
      // (the batch stage's cutting, which costs per delivery rather than per item as groupedWithin did).
      batch({ size: MAX_BATCHES_PER_WRITE, waitMs }),
      Stream.mapEffect(recordTogether),
      Stream.flattenIterables,
      Stream.mapEffect((analyzed) => reportRecorded(analyzed, local, analyzer.name))
    )
  }))
