/**
 * The door into the ingest side of the pipeline: sources hand submissions to `submit`, the
 * persist stage takes them from `submissions` and answers each one after its commit.
 * The queue is bounded, so a flood of requests waits instead of exhausting memory.
 */
import { Deferred, Effect, Queue, Stream } from "effect"
import type { StoreError } from "../domain/errors.js"
import type { PendingSubmission } from "../stages/persist.js"
import type { Submission, SubmissionOutcome } from "../store/Store.js"

export class Ingest extends Effect.Service<Ingest>()("insightd/Ingest", {
  effect: Effect.gen(function* () {
    const queue = yield* Queue.bounded<PendingSubmission>(4096)
    let outstanding = 0
    return {
      /** Completes once the submission is committed (or refused); never before. */
      submit: (submission: Submission): Effect.Effect<SubmissionOutcome, StoreError> =>
        Effect.gen(function* () {
          const reply = yield* Deferred.make<SubmissionOutcome, StoreError>()
          outstanding++
          yield* Queue.offer(queue, { submission, reply })
          return yield* Deferred.await(reply)
        }).pipe(Effect.ensuring(Effect.sync(() => outstanding--))),
      /** What the persist stage reads: everything waiting is taken at once (one commit). */
      submissions: Stream.fromQueue(queue, { maxChunkSize: 1024 }),
      /** Submissions handed in and not yet answered. */
      outstanding: (): number => outstanding
    }
  })
}) {}
