/**
 * Stage `batch`: conversations in, batches of up to `size` out. A partial batch leaves after
 * `waitMs` so a lone conversation is not held back waiting for company.
 */
import { Chunk, Duration, Stream } from "effect"

export interface BatchOptions {
  readonly size: number
  readonly waitMs: number
}

export const batch =
  (options: BatchOptions) =>
  <A, E, R>(items: Stream.Stream<A, E, R>): Stream.Stream<ReadonlyArray<A>, E, R> =>
    items.pipe(
      Stream.groupedWithin(options.size, Duration.millis(options.waitMs)),
      Stream.filter((group) => Chunk.isNonEmpty(group)),
      Stream.map((group) => Chunk.toReadonlyArray(group))
    )
