/**
 * Wakes the analysis side as soon as new conversations are committed, so it never polls on a
 * timer. A sliding queue of one coalesces many commits into one wake-up.
 */
import { Effect, Queue } from "effect"

export class WorkSignal extends Effect.Service<WorkSignal>()("insightd/WorkSignal", {
  effect: Effect.gen(function* () {
    const wakeups = yield* Queue.sliding<void>(1)
    return {
      notify: Queue.offer(wakeups, undefined).pipe(Effect.asVoid),
      /** Waits for the next commit after the last wake-up was taken. */
      awaitWork: Queue.take(wakeups)
    }
  })
}) {}
