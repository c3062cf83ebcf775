/**
 * Stage `batch`: conversations in, batches of up to `size` out.
 *
 * `waitMs > 0`: a partial batch leaves after `waitMs`, so a lone conversation is not held back
 * for long (for sources that deliver one item at a time, e.g. `insightd analyze` on stdin).
 * `waitMs = 0`: no waiting at all: whatever the source delivered at once is cut into batches,
 * and the next delivery is asked for only when a batch is wanted. The daemon's source claims
 * every pending conversation (up to a limit) in one go, so batches fill by themselves under
 * load ("natural batching", like the group commit) and a quiet daemon analyses a lone
 * conversation at once instead of holding it back.
 */
import { Cause, Chunk, Clock, Duration, Effect, Option, Queue, Stream, Take } from "effect"

export interface BatchOptions {
  readonly size: number
  readonly waitMs: number
}

export const batch =
  (options: BatchOptions) =>
  <A, E, R>(items: Stream.Stream<A, E, R>): Stream.Stream<ReadonlyArray<A>, E, R> =>
    options.waitMs === 0
      ? items.pipe(
          Stream.mapChunks((delivered) => Chunk.map(Chunk.chunksOf(delivered, options.size), Chunk.toReadonlyArray)),
          // One batch per pull: the next delivery waits until downstream wants another batch.
          Stream.rechunk(1)
        )
      : batchWithin(items, options.size, options.waitMs)

/**
 * Batches of `size` as soon as they are full, and a partial batch `waitMs` after its oldest item
 * arrived. Works on what the source delivers at once (a read buffer's lines), not item by item:
 * Stream.groupedWithin moved each item through its own handoff, ~1.2 ms of CPU per batch of 10
 * (measured: `insightd analyze` spent a fifth of its time there).
 */
const batchWithin = <A, E, R>(items: Stream.Stream<A, E, R>, size: number, waitMs: number): Stream.Stream<ReadonlyArray<A>, E, R> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      // Two deliveries read ahead at most, so the source stays bounded when downstream is slow.
      const deliveries = yield* Queue.bounded<Take.Take<A, E>>(2)
      yield* Effect.forkScoped(Stream.runIntoQueue(items, deliveries))
      let pending: Array<A> = []
      /** When the oldest pending item arrived (Clock millis). */
      let oldestAt = 0
      let ended = false
      let failure: Cause.Cause<E> | undefined
      const flush = (): Chunk.Chunk<ReadonlyArray<A>> => {
        const out = pending
        pending = []
        return Chunk.of(out)
      }
      const next: Effect.Effect<Chunk.Chunk<ReadonlyArray<A>>, Option.Option<E>> = Effect.suspend(() => {
        if (pending.length >= size) {
          const full: Array<ReadonlyArray<A>> = []
          let at = 0
          for (; pending.length - at >= size; at += size) full.push(pending.slice(at, at + size))
          pending = pending.slice(at)
          return Effect.succeed(Chunk.unsafeFromArray(full))
        }
        if (ended || failure !== undefined) {
          if (pending.length > 0) return Effect.succeed(flush())
          return failure === undefined ? Effect.fail(Option.none()) : Effect.failCause(Cause.map(failure, Option.some))
        }
        return Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const left = oldestAt + waitMs - now
          if (pending.length > 0 && left <= 0) return flush()
          const delivery = pending.length === 0 ? Option.some(yield* Queue.take(deliveries)) : yield* Effect.timeoutOption(Queue.take(deliveries), Duration.millis(left))
          if (Option.isNone(delivery)) return flush()
          yield* Take.match(delivery.value, {
            onEnd: () => Effect.sync(() => (ended = true)),
            onFailure: (cause) => Effect.sync(() => (failure = cause)),
            onSuccess: (chunk) =>
              Effect.map(Clock.currentTimeMillis, (arrived) => {
                // The oldest item left after cutting full batches arrived with this delivery:
                // full batches always take every older item first.
                if (pending.length === 0 || pending.length + Chunk.size(chunk) >= size) oldestAt = arrived
                for (const item of chunk) pending.push(item)
              })
          })
          return yield* next
        })
      })
      return Stream.repeatEffectChunkOption(next)
    })
  )
