/**
 * Source of the analysis half: pending conversations claimed from the Store, oldest first.
 * It claims only when downstream pulls (so memory stays bounded whatever the backlog) and,
 * when nothing is pending, sleeps until the persist stage signals a commit: no polling delay.
 */
import { Chunk, Effect, Option, Stream } from "effect"
import { Analyzer } from "../analyzer/Analyzer.js"
import type { Conversation } from "../domain/conversation.js"
import type { StoreError } from "../domain/errors.js"
import { Lifecycle } from "../services/Lifecycle.js"
import { WorkSignal } from "../services/WorkSignal.js"
import { Store } from "../store/Store.js"

/**
 * `claimSize` conversations are claimed per transaction; claiming several batches at once
 * saves a commit (and its fsync) per batch. Claimed rows wait in a bounded buffer.
 */
export const pendingConversations = (claimSize: number): Stream.Stream<Conversation, StoreError, Store | WorkSignal | Lifecycle | Analyzer> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const store = yield* Store
      const signal = yield* WorkSignal
      const lifecycle = yield* Lifecycle
      const analyzer = yield* Analyzer
      // While the analyzer cannot work (e.g. Grok rejects the key) nothing more is claimed, so the
      // backlog stays `pending`; it checks again every second until the analyzer resumes.
      const whileNotReady: Effect.Effect<void> = Effect.flatMap(analyzer.notReadyReason, (reason) =>
        reason === null || lifecycle.isDraining()
          ? Effect.void
          : Effect.raceFirst(Effect.sleep("1 second"), lifecycle.awaitDraining).pipe(Effect.zipRight(whileNotReady))
      )
      const nextClaim: Effect.Effect<Chunk.Chunk<Conversation>, Option.Option<StoreError>> = Effect.suspend(() => {
        if (lifecycle.isDraining()) return Effect.fail(Option.none())
        return whileNotReady.pipe(
          Effect.zipRight(Effect.suspend(() => (lifecycle.isDraining() ? Effect.fail(Option.none()) : store.claim(claimSize).pipe(Effect.mapError(Option.some))))),
          Effect.flatMap((claimed) =>
            claimed.length > 0
              ? Effect.succeed(Chunk.fromIterable(claimed))
              : // Nothing pending: sleep until a commit or shutdown, then look again.
                Effect.raceFirst(signal.awaitWork, lifecycle.awaitDraining).pipe(Effect.zipRight(nextClaim))
          )
        )
      })
      return Stream.repeatEffectChunkOption(nextClaim)
    })
  )
