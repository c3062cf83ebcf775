/**
 * The Grok analyzer (SPEC §5–6): the production implementation of the Analyzer service.
 *
 * Every attempt of every call (first tries, retries and probes alike) goes through one path:
 *
 *   pause gate  →  Retry-After gate  →  sliding-window log  →  RateLimiter slot  →  POST /chat/completions
 *
 * - Rate limit: Effect's RateLimiter, fixed-window with ONE call per 0.9 · 1000/N ms (never the
 *   token bucket's burst), spaces the starts; a log of when the last N requests actually left the
 *   process (./wire.ts) makes sure N+1 of them never fall within WINDOW_MS (1.05 s), even when
 *   the event loop stalls between deciding and sending. With a backlog: ~9.5 calls/s at N = 10.
 *   Retries and probes take a slot each: `limited(call).pipe(Effect.retry(policy))`.
 * - Retry-After: a 429/503 that says when to come back holds back EVERY call, not only its own
 *   retry, until then (the slot is re-checked after it is taken, so a late Retry-After is seen).
 * - No answer: after UNREACHABLE_AFTER_CALLS calls in a row got none (refused, timed out), `/ready`
 *   reports grok_unreachable until one gets an answer; while nothing else calls, a probe goes out
 *   every probe interval, so an idle daemon notices that Grok is back.
 * - Bad credentials: the first 401/403 pauses the analyzer (logged once). A batch whose call has
 *   not gone out by then (its own 401 included) is handed back: its conversations go back to
 *   `pending` (SPEC §5: the backlog stays pending), and nothing more is claimed while paused.
 *   Every probe interval a tiny request checks the key; when it is accepted, analysis resumes
 *   ("analyzer resumed") and the backlog is claimed again.
 * - Shutdown: once the daemon drains, a call not sent yet is not sent (it would be paid for and
 *   could outlast the grace period); its batch goes back to `pending`. Calls already sent are
 *   answered and stored as usual.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { Cause, Clock, Data, Deferred, Duration, Effect, Either, Exit, Fiber, Layer, Option, RateLimiter, type Redacted, type Scope } from "effect"
import { performance } from "node:perf_hooks"
import type { ConversationId } from "../../domain/conversation.js"
import { AnalysisDeferred, AnalysisError } from "../../domain/errors.js"
import type { AnalysisResult } from "../../domain/insight.js"
import {
  type GrokOutcome,
  grokCallAbandoned,
  grokCallEnded,
  grokCallStarted,
  recordGrokBatch,
  recordGrokRetry,
  recordGrokUsage,
  statusClass
} from "../../observability/metrics.js"
import { Lifecycle } from "../../services/Lifecycle.js"
import { Store } from "../../store/Store.js"
import { Analyzer, type AnalyzerShape } from "../Analyzer.js"
import { type CallReply, describeCallError, type GrokCallError, isRetryable, makeCall, retrySchedule } from "./client.js"
import { buildRequest, type ChatCompletionRequest } from "./prompt.js"
import { type ConversationUsage, TICKS_PER_USD, toResults } from "./reply.js"
import { type RequestWatch, watchedHttpClient } from "./wire.js"

export interface GrokSettings {
  readonly baseUrl: string
  readonly model: string
  readonly apiKey: Redacted.Redacted<string>
  readonly callsPerSecond: number
  readonly timeoutMs: number
  readonly retryBudget: number
  readonly retryBaseDelayMs: number
  readonly retryMaxDelayMs: number
  readonly probeIntervalMs: number
  readonly maxConversationChars: number
  /** How many of the most used cluster labels the prompt offers. */
  readonly topClusters: number
  readonly topClustersTtlMs: number
}

export const NOT_READY_UNAUTHORIZED = "grok_unauthorized"
export const DEGRADED_UNREACHABLE = "grok_unreachable"

/** Consecutive calls that got no answer (refused, reset, timed out) before `/ready` says so. */
export const UNREACHABLE_AFTER_CALLS = 3

/** How long a list of cluster labels that is not full yet is reused (see topClusters). */
const FILLING_LABELS_TTL_MS = 1_000

/** How long an idle daemon waits for a first call before it checks the key with a probe. */
const STARTUP_CHECK_MS = 3_000

/** A probe proves the key only when the server answered with something other than 401/403. */
const rejectsProbe = (error: { readonly _tag: string }): boolean =>
  error._tag === "GrokUnauthorized" || error._tag === "GrokTransport" || error._tag === "GrokTimeout" || error._tag === "NotStarted"

/**
 * The sliding window the limit is kept in: a second plus 50 ms, a margin for the jitter between
 * a request leaving this process and the server seeing it (its own event loop may be late). With
 * a backlog this yields N / 1.05 s, i.e. ~9.5 calls/s at N = 10. Measured at a fake Grok on a
 * loaded 2-core host: a 20 ms margin let 11 calls arrive within one second once (the shortest
 * span of 11 calls there is the window less the jitter; 25 ms gaps between two calls were seen).
 */
export const WINDOW_MS = 1050

/** Least time between two starts: 90 % of 1000/N ms (see the RateLimiter in makeGrok). */
export const startSpacingMs = (callsPerSecond: number): number => (0.9 * 1000) / callsPerSecond

/** The metrics outcome of one attempt (src/observability/metrics.ts). */
const outcomeOf = (error: GrokCallError): GrokOutcome => {
  switch (error._tag) {
    case "GrokUnauthorized":
    case "GrokHttpStatus":
      return statusClass(error.status)
    case "GrokTimeout":
      return "timeout"
    case "GrokTransport":
      return "network"
    case "GrokBadEnvelope":
      return "2xx"
  }
}

/** An attempt that did not start because analysis was paused, or the daemon began draining, meanwhile. */
class NotStarted extends Data.TaggedError("NotStarted")<{}> {}

/** An attempt not sent because the database could not record that it starts (see `attempt`). */
class StartNotRecorded extends Data.TaggedError("StartNotRecorded")<{ readonly reason: string }> {}

/** Why a batch was handed back when the database could not record its start. */
const HANDED_BACK_UNWRITABLE = "database_unwritable"

/** Why an attempt handed its batch back instead of calling: paused on the key, draining, or that. */
type HandBackReason = typeof NOT_READY_UNAUTHORIZED | "draining" | typeof HANDED_BACK_UNWRITABLE

export const makeGrok = (settings: GrokSettings, watch: RequestWatch): Effect.Effect<AnalyzerShape, never, HttpClient.HttpClient | Store | Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const store = yield* Store
    const scope = yield* Effect.scope
    const name = `grok:${settings.model}`
    const call = makeCall(client, { baseUrl: settings.baseUrl, apiKey: settings.apiKey, timeoutMs: settings.timeoutMs })

    // ---- Outbound limit. ----
    // 1. Effect's RateLimiter spaces starts: one per 0.9 · 1000/N ms (fixed-window with limit 1,
    //    so never the token bucket's initial burst of up to 2N); the 10 % lets a call delayed by a
    //    stall be made up for by the next ones, within the window below.
    // 2. A sliding log of when the last N requests actually LEFT the process (reported by the
    //    agent, ./wire.ts) holds the next start until the N-th last is more than WINDOW_MS ago.
    //    That is the guarantee itself: an event-loop stall between deciding and sending can delay
    //    one request into the next one's slot, but never puts N+1 starts within a second.
    // One call at a time goes through this section (decide → send → sent), so the log is exact.
    const limiter = yield* RateLimiter.make({ limit: 1, interval: Duration.millis(startSpacingMs(settings.callsPerSecond)), algorithm: "fixed-window" })
    const sending = yield* Effect.makeSemaphore(1)
    // Times here are performance.now() (monotonic, sub-millisecond), as the agent reports them.
    const recentSends: Array<number> = []
    // Retry-After: no call starts before `notBefore`.
    let notBefore = 0
    const earliestStart = () =>
      Math.max(notBefore, recentSends.length < settings.callsPerSecond ? Number.NEGATIVE_INFINITY : recentSends[recentSends.length - settings.callsPerSecond] + WINDOW_MS)
    const recordSend = (at: number) => {
      recentSends.push(at)
      if (recentSends.length > settings.callsPerSecond) recentSends.splice(0, recentSends.length - settings.callsPerSecond)
    }
    // Timers have millisecond granularity: sleep the whole milliseconds, then yield until due.
    const waitEarliestStart = Effect.gen(function* () {
      for (;;) {
        const wait = earliestStart() - performance.now()
        if (wait <= 0) return
        if (wait >= 2) yield* Effect.sleep(Duration.millis(Math.floor(wait) - 1))
        else yield* Effect.yieldNow()
      }
    })

    // ---- Reachability (for /ready). ----
    let unansweredCalls = 0
    let callsEnded = 0
    const unreachable = () => unansweredCalls >= UNREACHABLE_AFTER_CALLS
    /** Counts a call's outcome: any HTTP answer (an error status too) proves Grok reachable. */
    const noteReachability = (answered: boolean) =>
      Effect.suspend(() => {
        callsEnded++
        const was = unreachable()
        unansweredCalls = answered ? 0 : unansweredCalls + 1
        if (!was && unreachable()) {
          return Effect.zipRight(
            Effect.logError("grok unreachable: /ready reports it until a call gets an answer").pipe(
              Effect.annotateLogs({ analyzer: name, reason: DEGRADED_UNREACHABLE, calls: unansweredCalls, probe_interval_ms: settings.probeIntervalMs })
            ),
            // Forked from a call's exit handler, which is uninterruptible: the probe must not be
            // (its own call's timeout, and shutdown, interrupt it).
            Effect.forkIn(Effect.interruptible(reachabilityProbe), scope)
          )
        }
        if (was && !unreachable()) return Effect.logInfo("grok reachable again").pipe(Effect.annotateLogs({ analyzer: name }))
        return Effect.void
      })

    const callObserved = (body: ChatCompletionRequest): Effect.Effect<CallReply, GrokCallError> =>
      Effect.suspend(() => {
        const started = performance.now()
        grokCallStarted()
        return Effect.onExit(call(body), (exit) => {
          if (Exit.isSuccess(exit)) {
            grokCallEnded("2xx", performance.now() - started)
            // Every answered call's usage, whatever became of its content: probes and replies
            // without a usable answer are billed too.
            const usage = exit.value.envelope.usage
            if (usage !== null && usage !== undefined) {
              recordGrokUsage(
                typeof usage.prompt_tokens === "number" ? usage.prompt_tokens : undefined,
                typeof usage.completion_tokens === "number" ? usage.completion_tokens : undefined,
                typeof usage.cost_in_usd_ticks === "number" ? usage.cost_in_usd_ticks / TICKS_PER_USD : undefined
              )
            }
            return noteReachability(true)
          }
          const failure = Cause.failureOption(exit.cause)
          // Interrupted (shutdown) calls leave the in-flight gauge without an outcome.
          if (Option.isNone(failure)) return Effect.sync(grokCallAbandoned)
          grokCallEnded(outcomeOf(failure.value), performance.now() - started)
          return noteReachability(failure.value._tag !== "GrokTransport" && failure.value._tag !== "GrokTimeout")
        })
      }).pipe(
        Effect.withSpan("grok.call", { attributes: { "grok.model": settings.model } }),
        Effect.tapError((error) =>
          Effect.gen(function* () {
            if (error._tag === "GrokHttpStatus" && error.retryAfterMs !== null && error.retryAfterMs > 0) {
              const until = performance.now() + error.retryAfterMs
              if (until > notBefore) {
                notBefore = until
                yield* Effect.logWarning("grok asked to slow down: holding every call").pipe(
                  Effect.annotateLogs({ analyzer: name, status: error.status, retry_after_ms: error.retryAfterMs })
                )
              }
            }
          })
        )
      )

    /** Calls that left (probes included): the start-up key check goes out only if none has. */
    let callsStarted = 0
    /**
     * One attempt, started only within a free rate-limit slot, after any Retry-After and, unless
     * it is the probe, only while not paused: calls queued for a slot when the pause began do not
     * go out (→ NotStarted: their batch is handed back).
     */
    const limited = (
      body: ChatCompletionRequest,
      probe: boolean,
      beforeSend: Effect.Effect<void, StartNotRecorded> = Effect.void
    ): Effect.Effect<CallReply, GrokCallError | NotStarted | StartNotRecorded> =>
      sending
        .withPermits(1)(
          Effect.gen(function* () {
            for (;;) {
              // Calls queued here when a pause or the drain began leave at once, without spending a slot.
              if (heldBack() && !probe) return yield* new NotStarted()
              // A Retry-After hold may outlast the grace period: the drain ends the wait (handed back below).
              yield* probe || Option.isNone(lifecycle) ? waitEarliestStart : Effect.raceFirst(waitEarliestStart, lifecycle.value.awaitDraining)
              if (heldBack() && !probe) return yield* new NotStarted()
              const go = yield* limiter(Effect.sync(() => performance.now() >= earliestStart() && (probe || !heldBack())))
              if (go) break
              if (heldBack() && !probe) return yield* new NotStarted()
            }
            // Within the slot, so only a call about to leave is recorded as started.
            yield* beforeSend
            const sent = yield* Deferred.make<number>()
            watch.arm((at) => Deferred.unsafeDone(sent, Exit.succeed(at)))
            // The call's outcome as a value: a failed fiber joined later is not "unhandled".
            const inFlight = yield* Effect.fork(Effect.either(callObserved(body)))
            // Released once the request has left (or failed before leaving); the answer is awaited outside.
            const at = yield* Effect.raceFirst(Deferred.await(sent), Effect.zipRight(Fiber.await(inFlight), Effect.sync(() => performance.now())))
            watch.disarm()
            recordSend(at)
            callsStarted++
            return inFlight
          })
        )
        .pipe(Effect.flatMap((inFlight) => Effect.flatten(Fiber.join(inFlight))))

    /** While unreachable: every probe interval without any other call, one tiny call goes out. */
    const reachabilityProbe: Effect.Effect<void> = Effect.gen(function* () {
      while (unreachable()) {
        const before = callsEnded
        yield* Effect.sleep(Duration.millis(settings.probeIntervalMs))
        if (unreachable() && callsEnded === before && !paused) {
          yield* Effect.either(limited(probeBody, true))
          // Any HTTP answer (a 401 too) resets the count: the probe's own outcome says it.
          yield* Effect.logDebug("grok reachability probe").pipe(Effect.annotateLogs({ analyzer: name, answered: !unreachable() }))
        }
      }
    })

    // ---- Pause on bad credentials; shutdown. ----
    let paused = false
    // Draining for shutdown (the daemon's Lifecycle; a stage command has none): calls not sent yet
    // are not sent at all (each would be paid for, and could outlast the grace period); their
    // batches go back to pending. Calls already sent are awaited as usual.
    const lifecycle = yield* Effect.serviceOption(Lifecycle)
    const heldBack = (): boolean => paused || (Option.isSome(lifecycle) && lifecycle.value.isDraining())

    const resume = Effect.gen(function* () {
      if (!paused) return
      paused = false
      yield* Effect.logInfo("analyzer resumed").pipe(Effect.annotateLogs({ analyzer: name }))
    })

    /** The tiny request a probe sends (no conversation waits on it). */
    const probeBody = buildRequest([], { model: settings.model, maxConversationChars: settings.maxConversationChars, existingLabels: [] }).request

    /** One probe: its outcome, and whether it proved the key (logged at debug as `message`). */
    const probeKey = (message: string) =>
      Effect.gen(function* () {
        const outcome = yield* Effect.either(limited(probeBody, true))
        const accepted = Either.isRight(outcome) || !rejectsProbe(outcome.left)
        yield* Effect.logDebug(message).pipe(Effect.annotateLogs({ analyzer: name, accepted }))
        return { outcome, accepted }
      })

    const probeLoop: Effect.Effect<void> = Effect.gen(function* () {
      while (paused) {
        yield* Effect.sleep(Duration.millis(settings.probeIntervalMs))
        if (!paused) return
        const { accepted } = yield* probeKey("grok probe")
        if (accepted) yield* resume
      }
    })

    const pause = (error: GrokCallError) =>
      Effect.gen(function* () {
        if (paused) return
        paused = true
        // The daemon keeps its backlog and probes; a stage command (no Lifecycle) stops on it instead.
        yield* Effect.logError(
          Option.isSome(lifecycle)
            ? "analyzer paused: grok rejected the API key; conversations stay pending, probing until it is accepted"
            : "analyzer paused: grok rejected the API key"
        ).pipe(
          Effect.annotateLogs({ analyzer: name, reason: NOT_READY_UNAUTHORIZED, detail: describeCallError(error), probe_interval_ms: settings.probeIntervalMs })
        )
        yield* Effect.forkIn(probeLoop, scope)
      })

    // ---- The retry budget is per conversation (`retry_budget` retries, so budget + 1 calls). ----
    // A conversation can need calls for two reasons: a call that failed (retried here, with
    // backoff) and a reply without a usable result for it (retried alone by the analyze stage).
    // Both count against the same budget, or a conversation could take (budget + 1)² calls.
    // Counted per conversation until it gets its final outcome; so is the usage of the calls that
    // did not give its result, which its insight then carries (SPEC §6: cost per insight).
    const callsFor = new Map<ConversationId, number>()
    const carriedUsage = new Map<ConversationId, ConversationUsage>()
    const callsMade = (ids: ReadonlyArray<ConversationId>): number => Math.max(0, ...ids.map((id) => callsFor.get(id) ?? 0))
    const countCall = (ids: ReadonlyArray<ConversationId>) => {
      for (const id of ids) callsFor.set(id, (callsFor.get(id) ?? 0) + 1)
    }
    const settle = (ids: ReadonlyArray<ConversationId>) => {
      for (const id of ids) {
        callsFor.delete(id)
        carriedUsage.delete(id)
      }
    }
    const addUsage = (a: ConversationUsage | undefined, b: ConversationUsage | undefined): ConversationUsage => {
      const sum = (x: number | null | undefined, y: number | null | undefined) => (x === null || x === undefined ? (y ?? null) : y === null || y === undefined ? x : x + y)
      return { prompt_tokens: sum(a?.prompt_tokens, b?.prompt_tokens), completion_tokens: sum(a?.completion_tokens, b?.completion_tokens), cost_usd: sum(a?.cost_usd, b?.cost_usd) }
    }

    /**
     * One attempt through the pause gate: the reply, or none when analysis is paused (before it
     * went out, or by its own 401/403) or the daemon is draining, and then its batch is handed
     * back rather than failed. Each call that went out and was not refused for the key counts
     * against the budget of every conversation in it.
     *
     * Before the first call carrying a conversation leaves, the Store records that its analysis
     * began: a crash then keeps its attempt counted, while the claimed conversations still waiting
     * for a slot (up to max_in_flight batches) get theirs back. When that cannot be recorded (the
     * database refuses writes) the call is not sent: its answer could not be recorded either.
     */
    const attempt = (body: ChatCompletionRequest, ids: ReadonlyArray<ConversationId>): Effect.Effect<Either.Either<CallReply, HandBackReason>, GrokCallError> =>
      Effect.gen(function* () {
        for (;;) {
          if (heldBack()) return Either.left(paused ? NOT_READY_UNAUTHORIZED : "draining")
          const unmarked = ids.filter((id) => (callsFor.get(id) ?? 0) === 0)
          const markStarted =
            unmarked.length === 0 ? Effect.void : store.markStarted(unmarked).pipe(Effect.mapError((error) => new StartNotRecorded({ reason: error.message })))
          const outcome = yield* Effect.either(limited(body, false, markStarted))
          if (Either.isRight(outcome)) {
            countCall(ids)
            return Either.right(outcome.right)
          }
          const error = outcome.left
          if (error._tag === "NotStarted") continue
          if (error._tag === "StartNotRecorded") {
            yield* Effect.logWarning("grok call not sent: the database cannot record its start; batch handed back").pipe(
              Effect.annotateLogs({ analyzer: name, batch_size: ids.length, reason: error.reason })
            )
            return Either.left(HANDED_BACK_UNWRITABLE)
          }
          if (error._tag === "GrokUnauthorized") {
            yield* pause(error)
            continue
          }
          countCall(ids)
          return yield* error
        }
      })

    /** Backoff for failed calls, within what is left of the batch's budget. */
    const policy = (retriesLeft: number) =>
      retrySchedule({ budget: retriesLeft, baseDelayMs: settings.retryBaseDelayMs, maxDelayMs: settings.retryMaxDelayMs }, (error, delayMs, retry) =>
        Effect.logWarning("retry scheduled").pipe(
          Effect.zipLeft(Effect.sync(recordGrokRetry)),
          Effect.annotateLogs({ analyzer: name, reason: describeCallError(error), delay_ms: Math.round(delayMs), retry, retry_budget: settings.retryBudget })
        )
      )

    // The labels are read again after the TTL (the query sums a rollup, ~100 ms at a million
    // insights), but while the list is not full yet (a fresh database: the first thousands of
    // conversations) after FILLING_LABELS_TTL_MS only: with a 30 s TTL throughout, a fresh
    // backlog's first ~300 calls were offered no label at all, whatever had been labelled since.
    let cachedLabels: { readonly labels: ReadonlyArray<string>; readonly at: number } | undefined
    const topClusters = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const ttl = cachedLabels !== undefined && cachedLabels.labels.length < settings.topClusters ? Math.min(FILLING_LABELS_TTL_MS, settings.topClustersTtlMs) : settings.topClustersTtlMs
      if (cachedLabels !== undefined && now - cachedLabels.at < ttl) return cachedLabels.labels
      // Batches asking meanwhile keep the old list rather than read it again each.
      if (cachedLabels !== undefined) cachedLabels = { labels: cachedLabels.labels, at: now }
      const labels = yield* store.topClusters(settings.topClusters).pipe(
        Effect.catchAll((error) => Effect.logWarning("could not read the most used cluster labels").pipe(Effect.annotateLogs({ reason: error.message }), Effect.as([] as ReadonlyArray<string>)))
      )
      cachedLabels = { labels, at: now }
      return labels
    })

    const analyzeBatch: AnalyzerShape["analyzeBatch"] = (batch) =>
      Effect.gen(function* () {
        const results = new Map<ConversationId, Either.Either<AnalysisResult, AnalysisError | AnalysisDeferred>>()
        if (batch.length === 0) return results
        const ids = batch.map((conversation) => conversation.id)
        const labels = yield* topClusters
        const prompt = buildRequest(batch, { model: settings.model, maxConversationChars: settings.maxConversationChars, existingLabels: labels })
        const started = yield* Clock.currentTimeMillis
        recordGrokBatch(batch.length)
        const retriesLeft = Math.max(0, settings.retryBudget - callsMade(ids))
        // A drain between attempts (a retry waiting out its backoff or a Retry-After) hands the
        // batch back at once; an attempt under way is let finish, and an answered one is kept.
        let attemptRunning = false
        let answered = false
        const tracked = Effect.suspend(() => {
          attemptRunning = true
          return attempt(prompt.request, ids).pipe(
            Effect.tap((reply) => Effect.sync(() => (answered = Either.isRight(reply)))),
            Effect.ensuring(Effect.sync(() => (attemptRunning = false)))
          )
        })
        const idleAfter: Effect.Effect<Either.Either<CallReply, HandBackReason>> = Effect.suspend(() =>
          answered ? Effect.never : attemptRunning ? Effect.zipRight(Effect.sleep("20 millis"), idleAfter) : Effect.succeed(Either.left("draining" as const))
        )
        const handedBackOnDrain = Option.isNone(lifecycle) ? Effect.never : Effect.zipRight(lifecycle.value.awaitDraining, idleAfter)
        const outcome = yield* Effect.either(Effect.raceFirst(tracked.pipe(Effect.retry(policy(retriesLeft))), handedBackOnDrain))
        const durationMs = (yield* Clock.currentTimeMillis) - started
        if (Either.isLeft(outcome)) {
          const error = outcome.left
          // Retryable errors reach here only once the budget is spent: final, as are other 4xx.
          const message = isRetryable(error) ? `${describeCallError(error)} (gave up after ${callsMade(ids)} calls)` : describeCallError(error)
          settle(ids)
          yield* Effect.logWarning("grok call failed").pipe(Effect.annotateLogs({ analyzer: name, batch_size: batch.length, duration_ms: durationMs, reason: message }))
          for (const id of ids) results.set(id, Either.left(new AnalysisError({ message, retryable: false })))
          return results
        }
        if (Either.isLeft(outcome.right)) {
          // Handed back: pending again; its attempt counts only if calls were already made for it.
          const made = new Map(ids.map((id) => [id, callsFor.get(id) ?? 0]))
          settle(ids)
          const reason = outcome.right.left
          yield* Effect.logDebug("grok call not sent; batch handed back").pipe(Effect.annotateLogs({ analyzer: name, batch_size: batch.length, reason }))
          // Paused on the key: those calls failed for the key, not for the conversation.
          for (const id of ids) results.set(id, Either.left(new AnalysisDeferred({ reason, calls: paused ? 0 : (made.get(id) ?? 0) })))
          return results
        }
        const { envelope, rawBody } = outcome.right.right
        const replied = toResults({ analyzer: name, rawBody, envelope, promptSizes: prompt.sizes, batchIds: ids, conversationTexts: prompt.texts, conversationTextsById: prompt.textsById })
        const { parsed } = replied
        const decoded = new Map<ConversationId, Either.Either<AnalysisResult, AnalysisError | AnalysisDeferred>>()
        for (const id of ids) {
          const result = replied.results.get(id) ?? Either.left(new AnalysisError({ message: "grok reply had no result for this conversation", retryable: true }))
          const share = addUsage(carriedUsage.get(id), replied.usage.get(id))
          if (Either.isRight(result)) {
            settle([id])
            decoded.set(id, Either.right({ ...result.right, ...share }))
          } else if (result.left.retryable && (callsFor.get(id) ?? 0) <= settings.retryBudget) {
            // Retried alone by the analyze stage; this call's share goes with it.
            carriedUsage.set(id, share)
            decoded.set(id, result)
          } else {
            const calls = callsFor.get(id) ?? 0
            settle([id])
            decoded.set(id, Either.left(new AnalysisError({ message: `${result.left.message} (gave up after ${calls} calls)`, retryable: false })))
          }
        }
        const unusable = [...decoded.values()].filter(Either.isLeft).length
        yield* Effect.logDebug("grok call answered").pipe(
          Effect.annotateLogs({ analyzer: name, batch_size: batch.length, duration_ms: durationMs, usable: batch.length - unusable, unknown_ids: parsed.unknownIds.length })
        )
        if (unusable > 0 || parsed.unknownIds.length > 0) {
          yield* Effect.logWarning("grok reply incomplete; those conversations are retried alone").pipe(
            Effect.annotateLogs({ analyzer: name, batch_size: batch.length, unusable, unknown_ids: parsed.unknownIds.slice(0, 10) })
          )
        }
        return decoded
      }).pipe(Effect.withSpan("grok.analyze_batch", { attributes: { "grok.model": settings.model, batch_size: batch.length } }))

    // The daemon checks the key with a probe when no call has gone out within STARTUP_CHECK_MS of
    // start: /ready ("the analyzer can work") said ok on an idle daemon with a wrong key until the
    // first conversation came. With work waiting, its first call checks the key anyway. A refused
    // key pauses analysis, as a refused call would. (A stage command stops on its first call.)
    if (Option.isSome(lifecycle)) {
      yield* Effect.forkIn(
        Effect.gen(function* () {
          yield* Effect.sleep(Duration.millis(STARTUP_CHECK_MS))
          if (callsStarted > 0 || paused) return
          const { outcome } = yield* probeKey("grok start-up key check")
          if (Either.isLeft(outcome) && outcome.left._tag === "GrokUnauthorized") yield* pause(outcome.left)
        }),
        scope
      )
    }

    return {
      name,
      analyzeBatch,
      notReadyReason: Effect.sync(() => (paused ? NOT_READY_UNAUTHORIZED : null)),
      degradedReason: Effect.sync(() => (unreachable() ? DEGRADED_UNREACHABLE : null)),
      usesCallingThread: false,
      marksStart: true
    } satisfies AnalyzerShape
  })

/** The Grok analyzer with Node's HTTP client; needs the Store (for the most used cluster labels). */
export const GrokAnalyzerLive = (settings: GrokSettings): Layer.Layer<Analyzer, never, Store> =>
  Layer.unwrapEffect(Effect.map(watchedHttpClient, ({ layer, watch }) => Layer.scoped(Analyzer, makeGrok(settings, watch)).pipe(Layer.provide(layer))))
