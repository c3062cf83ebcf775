/**
 * The door into the ingest side of the pipeline: sources hand submissions to `submit`, the
 * persist stage takes them from `submissions` and answers each one after its commit.
 * The queue is bounded, so a flood of requests waits instead of exhausting memory.
 */
import { Chunk, Deferred, Effect, Queue, Stream } from "effect"
import { type StoreError, Unavailable } from "../domain/errors.js"
import type { PendingSubmission } from "../stages/persist.js"
import { nextEventLoopTurn } from "./eventLoop.js"
import type { Submission, SubmissionOutcome } from "../store/Store.js"

/** Submissions per transaction at most: bounds a commit's latency under a flood. */
const MAX_GROUP = 2048

export class Ingest extends Effect.Service<Ingest>()("insightd/Ingest", {
  effect: Effect.gen(function* () {
    const queue = yield* Queue.bounded<PendingSubmission>(4096)
    let outstanding = 0
    let closed = false
    const shuttingDown = () => new Unavailable({ message: "insightd is shutting down and accepts no new conversations", reason: "draining" })
    return {
      /** Completes once the submission is committed (or refused); never before. */
      submit: (submission: Submission): Effect.Effect<SubmissionOutcome, StoreError | Unavailable> =>
        Effect.gen(function* () {
          if (closed) return yield* shuttingDown()
          const reply = yield* Deferred.make<SubmissionOutcome, StoreError | Unavailable>()
          outstanding++
          yield* Queue.offer(queue, { submission, reply })
          return yield* Deferred.await(reply)
        }).pipe(Effect.ensuring(Effect.sync(() => outstanding--))),
      /**
       * What the persist stage reads, one chunk per commit. After the first submission arrives it
       * waits one event-loop turn, so every request parsed in that turn joins the same
       * transaction (group commit) instead of each paying for its own.
       */
      submissions: Stream.repeatEffectChunk(
        Queue.take(queue).pipe(
          Effect.zipLeft(nextEventLoopTurn),
          Effect.flatMap((first) => Effect.map(Queue.takeUpTo(queue, MAX_GROUP - 1), (rest) => Chunk.prepend(rest, first)))
        )
      ),
      /** Submissions handed in and not yet answered. */
      outstanding: (): number => outstanding,
      /**
       * After the persist stage has stopped: new submissions and any still queued are refused
       * (503), so no request waits on a queue nobody reads.
       */
      close: Effect.gen(function* () {
        closed = true
        const left = yield* Queue.takeAll(queue)
        yield* Effect.forEach(left, (item) => (item.reply ? Deferred.fail(item.reply, shuttingDown()) : Effect.void), { discard: true })
      })
    }
  })
}) {}
