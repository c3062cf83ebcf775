/**
 * Stage `persist-insight`: analysed batches in, recorded batches out. Each batch's insights and
 * status changes are written in one transaction.
 */
import { Effect, Stream } from "effect"
import type { StoreError } from "../domain/errors.js"
import { Store } from "../store/Store.js"
import type { AnalyzedBatch } from "./analyze.js"

export interface RecordedBatch extends AnalyzedBatch {
  readonly completed: number
  readonly failed: number
}

export const persistInsight = <E, R>(
  batches: Stream.Stream<AnalyzedBatch, E, R>
): Stream.Stream<RecordedBatch, E | StoreError, R | Store> =>
  Stream.mapEffect(batches, (analyzed) =>
    Effect.gen(function* () {
      const store = yield* Store
      yield* store.record(analyzed.outcomes)
      const completed = analyzed.outcomes.filter((o) => o._tag === "Completed").length
      const failed = analyzed.outcomes.filter((o) => o._tag === "Failed").length
      yield* Effect.logInfo("batch analyzed").pipe(
        Effect.annotateLogs({ stage: "persist-insight", batch_size: analyzed.outcomes.length, completed, failed, duration_ms: analyzed.durationMs })
      )
      return { ...analyzed, completed, failed }
    })
  )
