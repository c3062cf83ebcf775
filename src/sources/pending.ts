/**
 * Source of the analysis half: pending conversations claimed from the Store, oldest first.
 * It claims only when downstream pulls (so memory stays bounded whatever the backlog) and,
 * when nothing is pending, sleeps until the persist stage signals a commit: no polling delay.
 * Other processes' commits cannot signal; while idle, SQLite's data_version is read twice a
 * second to notice them.
 *
 * Intake comes first: the analysis half (claims, the local analyzer, insight writes) runs on the
 * thread that accepts conversations, and a backlog kept it busy ~90 % of the time, so HTTP ingest
 * fell from ~12,000 to ~900 requests/s while a backlog was analysed. While submissions are
 * arriving, each claim now waits as long as the previous claimed group took to go through
 * (capped): analysis keeps at most about half of the thread, intake gets the rest, and with no
 * intake nothing waits. Only an analyzer that computes on this thread (the local one) yields:
 * Grok mostly waits on the network, and pausing its claims would only waste its call budget.
 */
import { Chunk, Duration, Effect, Option, Stream } from "effect"
import { Analyzer } from "../analyzer/Analyzer.js"
import type { Conversation } from "../domain/conversation.js"
import type { StoreError } from "../domain/errors.js"
import { Lifecycle } from "../services/Lifecycle.js"
import { WorkSignal } from "../services/WorkSignal.js"
import { Store } from "../store/Store.js"

/** What the source needs to know of the intake: when the last submission came in (performance.now()). */
export interface Intake {
  readonly lastSubmissionAt: () => number
}

/** Intake counts as busy when a submission came in within this many ms. */
const INTAKE_BUSY_WITHIN_MS = 50
/** The longest a claim waits for intake (so analysis always moves). */
const MAX_YIELD_MS = 500
/**
 * While idle, how often to look for commits by other processes (`insightd store`, `import-csv
 * --store`, `retry-failed` next to the daemon): those never reach the in-process signal.
 */
export const OTHER_WRITERS_POLL_MS = 500

/**
 * `claimSize` conversations are claimed per transaction; claiming several batches at once
 * saves a commit (and its fsync) per batch. Claimed rows wait in a bounded buffer. With an
 * `intake`, claims yield to it while it is busy (see above).
 */
export const pendingConversations = (
  claimSize: number,
  intake?: Intake
): Stream.Stream<Conversation, StoreError, Store | WorkSignal | Lifecycle | Analyzer> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const store = yield* Store
      const signal = yield* WorkSignal
      const lifecycle = yield* Lifecycle
      const analyzer = yield* Analyzer
      /**
       * When the previous claim was made: downstream pulls again once it has used that group up.
       * Infinity before the first claim and after idling: nothing analysed, nothing owed.
       */
      let claimedAt = Number.POSITIVE_INFINITY
      const yieldToIntake: Effect.Effect<void> = Effect.suspend(() => {
        const now = performance.now()
        const owed = Math.min(now - claimedAt, MAX_YIELD_MS)
        if (intake === undefined || !analyzer.usesCallingThread || owed < 1 || now - intake.lastSubmissionAt() > INTAKE_BUSY_WITHIN_MS) return Effect.void
        return Effect.raceFirst(Effect.sleep(Duration.millis(owed)), lifecycle.awaitDraining)
      })
      // Completes once another process has committed (looked at every OTHER_WRITERS_POLL_MS).
      const otherWritersCommitted: Effect.Effect<void, Option.Option<StoreError>> = Effect.sleep(Duration.millis(OTHER_WRITERS_POLL_MS)).pipe(
        Effect.zipRight(store.committedElsewhere.pipe(Effect.mapError(Option.some))),
        Effect.repeat({ until: (changed) => changed }),
        Effect.asVoid
      )
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
          Effect.zipRight(yieldToIntake),
          Effect.zipRight(Effect.suspend(() => (lifecycle.isDraining() ? Effect.fail(Option.none()) : store.claim(claimSize, { startsAnalysis: !analyzer.marksStart }).pipe(Effect.mapError(Option.some))))),
          Effect.flatMap((claimed) =>
            claimed.length > 0
              ? Effect.sync(() => {
                  claimedAt = performance.now()
                  return Chunk.fromIterable(claimed)
                })
              : // Nothing pending: sleep until a commit (ours, or another process's) or shutdown, then look again.
                Effect.raceAll([signal.awaitWork, lifecycle.awaitDraining, otherWritersCommitted]).pipe(
                  // Idle time is not analysis time: the next claim owes intake nothing for it.
                  Effect.zipRight(Effect.sync(() => (claimedAt = Number.POSITIVE_INFINITY))),
                  Effect.zipRight(nextClaim)
                )
          )
        )
      })
      return Stream.repeatEffectChunkOption(nextClaim)
    })
  )
