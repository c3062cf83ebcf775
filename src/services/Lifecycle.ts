/** Whether the daemon is draining for shutdown: HTTP answers 503, sources stop, claims stop. */
import { Deferred, Effect, Layer } from "effect"

export class Lifecycle extends Effect.Service<Lifecycle>()("insightd/Lifecycle", {
  effect: Effect.gen(function* () {
    const draining = yield* Deferred.make<void>()
    let drainingNow = false
    const listeners = new Set<() => void>()
    return {
      /** Synchronous check, cheap enough for every request. */
      isDraining: (): boolean => drainingNow,
      startDraining: Effect.suspend(() => {
        drainingNow = true
        for (const listener of listeners) listener()
        listeners.clear()
        return Deferred.succeed(draining, undefined)
      }),
      /** Completes when draining starts. */
      awaitDraining: Deferred.await(draining),
      /**
       * Plain callback when draining starts; returns the unsubscribe. For per-request waits
       * (a body still arriving): racing `awaitDraining` costs two fibers per request.
       */
      onDraining: (listener: () => void): (() => void) => {
        if (drainingNow) {
          listener()
          return () => {}
        }
        listeners.add(listener)
        return () => listeners.delete(listener)
      }
    }
  })
}) {
  static readonly Test = Layer.fresh(Lifecycle.Default)
}
