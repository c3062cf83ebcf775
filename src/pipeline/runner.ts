/**
 * Composes a pipeline definition into running streams:
 *
 *   ingest:    sources (http, stdin) → validate → persist ──► database
 *   analysis:  database ──► pending → batch → analyze → persist-insight
 *
 * The database is the buffer between the halves, so ingestion never waits for analysis.
 */
import { Cause, Chunk, Duration, Effect, Either, Fiber, Option, Schedule, Stream } from "effect"
import type { Analyzer } from "../analyzer/Analyzer.js"
import type { SentimentThresholds } from "../domain/insight.js"
import { recordAccepted, recordRejected } from "../observability/metrics.js"
import { Ingest } from "../services/Ingest.js"
import { Lifecycle } from "../services/Lifecycle.js"
import type { WorkSignal } from "../services/WorkSignal.js"
import { pendingConversations } from "../sources/pending.js"
import { stdinHasData, stdinLines } from "../sources/stdin.js"
import { analyze } from "../stages/analyze.js"
import { batch } from "../stages/batch.js"
import { persist } from "../stages/persist.js"
import { persistInsight } from "../stages/persist-insight.js"
import { validate, type ValidatedLine } from "../stages/validate.js"
import type { StoreError, Unavailable } from "../domain/errors.js"
import type { SubmissionOutcome } from "../store/Store.js"
import { Store } from "../store/Store.js"
import type { ResolvedPipeline } from "./definition.js"

type ValidLine = Extract<ValidatedLine, { readonly _tag: "Valid" }>

/**
 * Conversations claimed per transaction: at least every batch the analyzer can run at once, and
 * at least 100, because each claim is a commit (an fsync) and a backlog's pace with the local
 * analyzer is set by commits; at most 200, so a shutdown has little to hand back.
 */
const claimSize = (batchSize: number, concurrency: number): number => Math.min(200, Math.max(100, batchSize * concurrency))

export interface PipelineOptions {
  readonly retryBudget: number
  readonly thresholds: SentimentThresholds
  /** Batches analysed at once, overriding the pipeline file (the Grok analyzer's max_in_flight). */
  readonly analyzeConcurrency?: number | undefined
  /** Read JSONL from stdin when the pipeline names it and stdin is a pipe or file. */
  readonly readStdin?: boolean
}

export interface RunningPipeline {
  /** Stops sources and claims, lets in-flight work finish within `graceMs`, releases the rest. */
  readonly drain: (graceMs: number) => Effect.Effect<void>
}

/**
 * stdin → validate → (ingest queue → persist): bad lines are logged with their number and skipped.
 * Each delivery (a read buffer's lines) is handed in at once, one submission per line so that a
 * conflict refuses only its own line, and answered by callbacks: a fiber per line (mapEffect with
 * concurrency) cost ~0.5 ms of CPU per line, which held a piped file to ~1,900 lines/s.
 */
const stdinSource = Effect.gen(function* () {
  const ingest = yield* Ingest
  const lifecycle = yield* Lifecycle
  yield* Effect.logInfo("source opened").pipe(Effect.annotateLogs({ source: "stdin" }))
  let accepted = 0
  let rejected = 0
  type Reply = Either.Either<SubmissionOutcome, StoreError | Unavailable>
  /** Hands every valid line of a delivery in, then waits for all their commits (or refusals). */
  const submitAll = (lines: ReadonlyArray<ValidLine>): Effect.Effect<ReadonlyArray<Reply>> =>
    Effect.gen(function* () {
      const replies = new Array<Reply>(lines.length)
      let unanswered = lines.length
      let allAnswered: (() => void) | undefined
      const done = Effect.async<void>((resume) => {
        if (unanswered === 0) return resume(Effect.void)
        allAnswered = () => resume(Effect.void)
      })
      for (let i = 0; i < lines.length; i++) {
        yield* ingest.enqueue({ conversations: [lines[i].conversation] }, (reply) => {
          replies[i] = reply
          if (--unanswered === 0) allAnswered?.()
        })
      }
      yield* done
      return replies
    })
  const report = (line: ValidLine, reply: Reply): Effect.Effect<void> => {
    if (Either.isLeft(reply)) {
      recordRejected("stdin", "unavailable")
      return Effect.logError("stdin line not stored").pipe(Effect.annotateLogs({ source: "stdin", line: line.line, reason: reply.left.message }))
    }
    if (reply.right._tag === "Accepted") {
      accepted++
      recordAccepted("stdin", 1)
      return Effect.void
    }
    rejected++
    recordRejected("stdin", "conflict")
    return Effect.logWarning("stdin line rejected").pipe(
      Effect.annotateLogs({ source: "stdin", line: line.line, reason: `conversation ${line.conversation.id} already exists with different content` })
    )
  }
  yield* stdinLines.pipe(
    Stream.interruptWhen(lifecycle.awaitDraining),
    validate,
    Stream.mapChunksEffect((delivered) =>
      Effect.gen(function* () {
        const valid: Array<ValidLine> = []
        for (const line of delivered) {
          if (line._tag === "Valid") {
            valid.push(line)
            continue
          }
          rejected++
          recordRejected("stdin", line.reason.startsWith("not valid JSON") ? "invalid_json" : "invalid_schema")
          yield* Effect.logWarning("stdin line rejected").pipe(Effect.annotateLogs({ source: "stdin", line: line.line, reason: line.reason }))
        }
        const replies = yield* submitAll(valid)
        for (let i = 0; i < valid.length; i++) yield* report(valid[i], replies[i])
        return Chunk.empty<never>()
      })
    ),
    Stream.runDrain
  )
  yield* Effect.logInfo("source closed").pipe(Effect.annotateLogs({ source: "stdin", accepted, rejected }))
})

export const startPipeline = (pipeline: ResolvedPipeline, options: PipelineOptions) =>
  Effect.gen(function* () {
    const ingest = yield* Ingest
    const store = yield* Store
    const fibers: { persist?: Fiber.RuntimeFiber<void>; stdin?: Fiber.RuntimeFiber<void>; analysis?: Fiber.RuntimeFiber<void> } = {}

    if (pipeline.ingest) {
      fibers.persist = yield* ingest.submissions.pipe(persist, Stream.runDrain, Effect.forkScoped)
      if (pipeline.sources.has("stdin") && (options.readStdin ?? stdinHasData())) {
        fibers.stdin = yield* Effect.forkScoped(stdinSource)
      }
    }

    if (pipeline.batch !== null && pipeline.analyze !== null) {
      const recovered = yield* store.recoverAbandoned.pipe(Effect.orDie)
      if (recovered > 0) yield* Effect.logWarning("recovered conversations left processing by a previous run").pipe(Effect.annotateLogs({ conversations: recovered }))
      const analyzeOptions = {
        concurrency: options.analyzeConcurrency ?? pipeline.analyze.concurrency,
        retryBudget: pipeline.analyze.retryBudget ?? options.retryBudget,
        thresholds: options.thresholds
      }
      const analysis: Effect.Effect<void, unknown, Store | WorkSignal | Lifecycle | Analyzer> = pendingConversations(claimSize(pipeline.batch.size, analyzeOptions.concurrency), ingest).pipe(
        batch(pipeline.batch),
        analyze(analyzeOptions),
        persistInsight,
        Stream.runDrain
      )
      // A database failure (a full disk, a lock held elsewhere past the busy timeout) stops the
      // flow; it starts again, backing off, for as long as the daemon runs. Each new start first
      // waits until the store takes writes again (claiming on a disk that cannot record the results
      // would pay Grok for answers thrown away), then hands back the failed run's claims: until
      // that succeeds they would stay `processing`. Defects restart the flow too (an analysis that
      // stops for good while intake goes on is the worst outcome), but their claims keep the
      // attempt: a conversation that kills the analysis every time ends `failed` on the budget.
      let restarts = 0
      // Whether the flow is past its restart steps, and whether the analysis last died on a defect.
      let analysing = false
      let diedOnDefect = false
      const releaseBeforeRestart = Effect.suspend(() => {
        if (restarts++ === 0) return Effect.void
        const attempt = diedOnDefect ? "keep" : "refund"
        return store.writable.pipe(
          Effect.zipRight(store.releaseClaims(attempt)),
          Effect.flatMap((released) =>
            Effect.logInfo("analysis flow restarted").pipe(Effect.annotateLogs({ released_claims: released, attempts_refunded: attempt === "refund", restarts: restarts - 1 }))
          )
        )
      })
      fibers.analysis = yield* releaseBeforeRestart.pipe(
        Effect.zipRight(Effect.sync(() => (analysing = true))),
        Effect.zipRight(analysis),
        Effect.sandbox,
        Effect.tapError((cause) =>
          Effect.sync(() => {
            // A failed restart step (the store still unwritable) says nothing about the analysis.
            if (analysing) diedOnDefect = Option.isSome(Cause.dieOption(cause))
            analysing = false
          }).pipe(Effect.zipRight(Effect.logError("analysis flow failed; restarting", cause)))
        ),
        // An interruption from outside (the drain's) skips retrying; anything else restarts.
        Effect.retry(Schedule.exponential("1 second").pipe(Schedule.union(Schedule.spaced("30 seconds")))),
        Effect.unsandbox,
        Effect.orDie,
        Effect.forkScoped
      )
    }

    const drain = (graceMs: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        const deadline = Date.now() + graceMs
        const remaining = () => Duration.millis(Math.max(0, deadline - Date.now()))
        if (pipeline.sources.has("http")) {
          yield* Effect.logInfo("source closed").pipe(Effect.annotateLogs({ source: "http", note: "new submissions get 503 until exit" }))
        }
        yield* Effect.logInfo("shutdown: sources stopped, draining").pipe(Effect.annotateLogs({ grace_period_ms: graceMs }))
        // stdin ends by itself when draining starts (lines already read are still stored, and it
        // logs "source closed"); interrupt it only if it does not.
        if (fibers.stdin) {
          const stdinDone = yield* Fiber.await(fibers.stdin).pipe(Effect.timeoutOption(remaining()))
          if (Option.isNone(stdinDone)) yield* Fiber.interrupt(fibers.stdin)
        }
        // Requests already handed in get their commit (and their 202).
        yield* Effect.sleep("5 millis").pipe(
          Effect.repeat({ until: () => ingest.outstanding() === 0 || Date.now() >= deadline }),
          Effect.when(() => ingest.outstanding() > 0)
        )
        if (fibers.analysis) {
          // Finalizers run uninterruptibly, and a timeout cannot cut short an uninterruptible wait:
          // without `interruptible` a batch that never finishes (analyzer paused) would hang shutdown.
          const finished = yield* Effect.interruptible(Fiber.await(fibers.analysis)).pipe(Effect.timeoutOption(remaining()))
          if (Option.isNone(finished)) {
            yield* Effect.logWarning("shutdown: grace period over, interrupting in-flight analysis")
            yield* Fiber.interrupt(fibers.analysis)
          } else {
            yield* Effect.logInfo("shutdown: in-flight analysis finished")
          }
          // A claim whose Grok call went out (and was cut off by the grace period) keeps its attempt,
          // as after a crash: the call was paid for, and a conversation whose calls outlast every
          // grace period must end `failed` on the budget rather than be sent again at each restart.
          // One still waiting for a call slot gets its attempt back.
          const released = yield* store.releaseClaims("keep").pipe(Effect.catchAll((error) => Effect.logError("shutdown: releasing claims failed", error).pipe(Effect.as(0))))
          yield* Effect.logInfo("shutdown: unfinished claims released").pipe(Effect.annotateLogs({ conversations: released }))
        }
        if (fibers.persist) {
          yield* Fiber.interrupt(fibers.persist)
          yield* ingest.close
        }
      })

    return { drain } satisfies RunningPipeline
  })
