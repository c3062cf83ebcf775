/** Whether the daemon is draining for shutdown: HTTP answers 503, sources stop, claims stop. */
import { Deferred, Effect, Layer } from "effect"

export class Lifecycle extends Effect.Service<Lifecycle>()("insightd/Lifecycle", {
  effect: Effect.gen(function* () {
    const draining = yield* Deferred.make<void>()
    let drainingNow = false
    return {
      /** Synchronous check, cheap enough for every request. */
      isDraining: (): boolean => drainingNow,
      startDraining: Effect.suspend(() => {
        drainingNow = true
        return Deferred.succeed(draining, undefined)
      }),
      /** Completes when draining starts. */
      awaitDraining: Deferred.await(draining)
    }
  })
}) {
  static readonly Test = Layer.fresh(Lifecycle.Default)
}
