/**
 * Stage `persist`: validated submissions in, committed submissions out. Everything that is
 * waiting when the stage pulls is written in ONE transaction (group commit); each waiting
 * request learns its own outcome only after that commit, so a 202 always means durable.
 */
import { Chunk, Deferred, Effect, Exit, Stream } from "effect"
import type { StoreError, Unavailable } from "../domain/errors.js"
import { WorkSignal } from "../services/WorkSignal.js"
import { Store, type Submission, type SubmissionOutcome } from "../store/Store.js"

/** A submission and, when someone waits for it (an HTTP request), where to send the outcome. */
export interface PendingSubmission {
  readonly submission: Submission
  readonly reply?: Deferred.Deferred<SubmissionOutcome, StoreError | Unavailable> | undefined
}

export interface PersistedSubmission {
  readonly submission: Submission
  readonly outcome: SubmissionOutcome
}

export const persist = <E, R>(
  submissions: Stream.Stream<PendingSubmission, E, R>
): Stream.Stream<PersistedSubmission, E, R | Store | WorkSignal> =>
  Stream.mapChunksEffect(submissions, (chunk) =>
    Effect.gen(function* () {
      if (Chunk.isEmpty(chunk)) return Chunk.empty<PersistedSubmission>()
      const store = yield* Store
      const signal = yield* WorkSignal
      const pending = Chunk.toReadonlyArray(chunk)
      const result = yield* Effect.exit(store.submit(pending.map((item) => item.submission)))
      if (Exit.isFailure(result)) {
        // Every waiting request hears of the failure (503); the stream itself goes on.
        yield* Effect.forEach(pending, (item) => (item.reply ? Deferred.failCause(item.reply, result.cause) : Effect.void), { discard: true })
        yield* Effect.logError("storing conversations failed", result.cause)
        return Chunk.empty<PersistedSubmission>()
      }
      const outcomes = result.value
      yield* Effect.forEach(pending, (item, i) => (item.reply ? Deferred.succeed(item.reply, outcomes[i]) : Effect.void), { discard: true })
      if (outcomes.some((outcome) => outcome._tag === "Accepted")) yield* signal.notify
      yield* Effect.logDebug("conversations committed").pipe(
        Effect.annotateLogs({ stage: "persist", submissions: pending.length })
      )
      return Chunk.fromIterable(pending.map((item, i) => ({ submission: item.submission, outcome: outcomes[i] })))
    })
  )
