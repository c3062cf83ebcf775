/**
 * Stage `persist`: validated submissions in, committed submissions out. Everything that is
 * waiting when the stage pulls is written in ONE transaction (group commit); each waiting
 * request learns its own outcome only after that commit, so a 202 always means durable.
 */
import { Chunk, Effect, Either, Stream } from "effect"
import { StoreError, type Unavailable } from "../domain/errors.js"
import { WorkSignal } from "../services/WorkSignal.js"
import { Store, type Submission, type SubmissionOutcome } from "../store/Store.js"

/** The outcome of a submission as sent back to whoever waits for it. */
export type SubmissionReply = (result: Either.Either<SubmissionOutcome, StoreError | Unavailable>) => void

/**
 * A submission and, when someone waits for it (an HTTP request), where to send the outcome: a
 * plain callback rather than a Deferred, so the hot ingest route needs no fiber per request.
 */
export interface PendingSubmission {
  readonly submission: Submission
  readonly reply?: SubmissionReply | undefined
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
      // Any failure, a defect included, becomes a StoreError (503) for the requests it concerns.
      const submitSafely = (items: ReadonlyArray<PendingSubmission>) =>
        store.submit(items.map((item) => item.submission)).pipe(
          Effect.catchAllDefect((defect) => Effect.fail(new StoreError({ message: `database: storing conversations failed: ${String(defect)}`, cause: defect }))),
          Effect.either
        )
      const group = yield* submitSafely(pending)
      if (Either.isLeft(group)) {
        yield* Effect.logError("storing conversations failed", group.left)
        // One bad submission must not fail the others committed with it: retry each alone.
        const alone = pending.length === 1 ? [group] : yield* Effect.forEach(pending, (item) => submitSafely([item]))
        const persisted: Array<PersistedSubmission> = []
        yield* Effect.forEach(
          pending,
          (item, i) => {
            const result = alone[i]
            if (Either.isLeft(result)) return Effect.sync(() => item.reply?.(Either.left(result.left)))
            persisted.push({ submission: item.submission, outcome: result.right[0] })
            return Effect.sync(() => item.reply?.(Either.right(result.right[0])))
          },
          { discard: true }
        )
        if (persisted.some((p) => p.outcome._tag === "Accepted")) yield* signal.notify
        return Chunk.fromIterable(persisted)
      }
      const outcomes = group.right
      for (let i = 0; i < pending.length; i++) pending[i].reply?.(Either.right(outcomes[i]))
      if (outcomes.some((outcome) => outcome._tag === "Accepted")) yield* signal.notify
      yield* Effect.logDebug("conversations committed").pipe(
        Effect.annotateLogs({ stage: "persist", submissions: pending.length })
      )
      return Chunk.fromIterable(pending.map((item, i) => ({ submission: item.submission, outcome: outcomes[i] })))
    }).pipe(
      // No call-site stack trace: the span's name says where it is, and capturing one (an Error
      // per group, i.e. every few requests under single-POST load) was ~0.8 % of ingest's CPU.
      Effect.withSpan("stage.persist", { attributes: { submissions: Chunk.size(chunk) }, captureStackTrace: false })
    )
  )
