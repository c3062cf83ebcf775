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
import { Chunk, Duration, Stream } from "effect"

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
      : items.pipe(
          Stream.groupedWithin(options.size, Duration.millis(options.waitMs)),
          Stream.filter((group) => Chunk.isNonEmpty(group)),
          Stream.map((group) => Chunk.toReadonlyArray(group))
        )
