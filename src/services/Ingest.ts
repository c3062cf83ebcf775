/**
 * The door into the ingest side of the pipeline: sources hand submissions to `submit`, the
 * persist stage takes them from `submissions` and answers each one after its commit.
 * The queue is bounded, so a flood of requests waits instead of exhausting memory.
 */
import { Chunk, Deferred, Effect, Either, Queue, Stream } from "effect"
import { drainingRefusal, type StoreError, type Unavailable } from "../domain/errors.js"
import type { PendingSubmission, SubmissionReply } from "../stages/persist.js"
import { nextEventLoopTurn } from "./eventLoop.js"
import type { Submission, SubmissionOutcome } from "../store/Store.js"

/** Submissions per transaction at most: bounds a commit's latency under a flood. */
const MAX_GROUP = 2048

export class Ingest extends Effect.Service<Ingest>()("insightd/Ingest", {
  effect: Effect.gen(function* () {
    const queue = yield* Queue.bounded<PendingSubmission>(4096)
    let outstanding = 0
    let closed = false
    const counted = (reply: SubmissionReply): SubmissionReply => (result) => {
      outstanding--
      reply(result)
    }
    /**
     * Hands a submission in without waiting when the queue has room (the usual case); `false`
     * when it is full, and nothing was handed in. `reply` runs once, after the commit or a refusal.
     */
    const offerNow = (submission: Submission, reply: SubmissionReply): boolean => {
      if (closed) {
        reply(Either.left(drainingRefusal()))
        return true
      }
      outstanding++
      if (Queue.unsafeOffer(queue, { submission, reply: counted(reply) })) return true
      outstanding--
      return false
    }
    /** Hands a submission in, waiting for room in the queue when it is full. */
    const enqueue = (submission: Submission, reply: SubmissionReply): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (offerNow(submission, reply)) return Effect.void
        outstanding++
        return Queue.offer(queue, { submission, reply: counted(reply) })
      })
    return {
      /** Completes once the submission is committed (or refused); never before. */
      submit: (submission: Submission): Effect.Effect<SubmissionOutcome, StoreError | Unavailable> =>
        Effect.gen(function* () {
          const done = yield* Deferred.make<SubmissionOutcome, StoreError | Unavailable>()
          yield* enqueue(submission, (result) => Deferred.unsafeDone(done, result))
          return yield* Deferred.await(done)
        }),
      offerNow,
      enqueue,
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
        for (const item of left) item.reply?.(Either.left(drainingRefusal()))
      })
    }
  })
}) {}
