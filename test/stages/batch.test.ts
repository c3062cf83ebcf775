import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Queue, Stream, TestClock } from "effect"
import { batch } from "../../src/stages/batch.js"

describe("stage batch", () => {
  it.effect("emits a full batch of `size` at once, without waiting", () =>
    Effect.gen(function* () {
      const batches = yield* Stream.range(1, 25).pipe(batch({ size: 10, waitMs: 60_000 }), Stream.runCollect, Effect.fork)
      // The source ends, so the remainder leaves too; no clock time passes.
      const result = Chunk.toReadonlyArray(yield* Fiber.join(batches))
      expect(result.map((b) => b.length)).toEqual([10, 10, 5])
      expect(result.flat()).toEqual(Array.from({ length: 25 }, (_, i) => i + 1))
    })
  )

  it.effect("holds a partial batch until the wait elapses, then emits it", () =>
    Effect.gen(function* () {
      const input = yield* Queue.unbounded<number>()
      const output = yield* Queue.unbounded<ReadonlyArray<number>>()
      yield* Stream.fromQueue(input).pipe(
        batch({ size: 10, waitMs: 200 }),
        Stream.runForEach((b) => Queue.offer(output, b)),
        Effect.fork
      )
      yield* Queue.offerAll(input, [1, 2, 3])
      yield* TestClock.adjust("199 millis")
      expect(yield* Queue.size(output)).toBe(0)
      yield* TestClock.adjust("2 millis")
      expect(yield* Queue.take(output)).toEqual([1, 2, 3])
    })
  )

  it.effect("fills a batch that completes before the wait elapses", () =>
    Effect.gen(function* () {
      const input = yield* Queue.unbounded<number>()
      const output = yield* Queue.unbounded<ReadonlyArray<number>>()
      yield* Stream.fromQueue(input).pipe(batch({ size: 4, waitMs: 1000 }), Stream.runForEach((b) => Queue.offer(output, b)), Effect.fork)
      yield* Queue.offerAll(input, [1, 2])
      yield* TestClock.adjust("500 millis")
      yield* Queue.offerAll(input, [3, 4, 5])
      expect(yield* Queue.take(output)).toEqual([1, 2, 3, 4])
    })
  )

  describe("wait_ms 0 (natural batching, the daemon's default)", () => {
    it.effect("sends a lone conversation on at once, with no clock time passing", () =>
      Effect.gen(function* () {
        const input = yield* Queue.unbounded<number>()
        const output = yield* Queue.unbounded<ReadonlyArray<number>>()
        yield* Stream.fromQueue(input).pipe(batch({ size: 10, waitMs: 0 }), Stream.runForEach((b) => Queue.offer(output, b)), Effect.fork)
        yield* Queue.offer(input, 1)
        expect(yield* Queue.take(output)).toEqual([1])
      })
    )

    it.effect("cuts what the source delivered at once into batches of `size`, in order", () =>
      Effect.gen(function* () {
        const delivered = Stream.fromChunks(Chunk.range(1, 25), Chunk.range(26, 28))
        const result = Chunk.toReadonlyArray(yield* delivered.pipe(batch({ size: 10, waitMs: 0 }), Stream.runCollect))
        expect(result.map((b) => b.length)).toEqual([10, 10, 5, 3])
        expect(result.flat()).toEqual(Array.from({ length: 28 }, (_, i) => i + 1))
      })
    )

    it.effect("asks the source for more only when another batch is wanted", () =>
      Effect.gen(function* () {
        let deliveries = 0
        const source = Stream.repeatEffectChunk(Effect.sync(() => (deliveries++, Chunk.range(1, 25))))
        const firstTwo = yield* source.pipe(batch({ size: 10, waitMs: 0 }), Stream.take(2), Stream.runCollect)
        expect(Chunk.size(firstTwo)).toBe(2)
        // Two batches come out of the first delivery of 25; a claim is never made ahead of need.
        expect(deliveries).toBe(1)
      })
    )
  })
})
