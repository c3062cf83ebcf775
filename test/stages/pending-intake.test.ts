/**
 * The analysis half's source yields to intake: while submissions are arriving, each claim waits
 * (as long as the previous claimed group took, capped) so HTTP ingest keeps most of the thread;
 * with no intake, claims follow each other at once; and a busy intake never starves analysis.
 * Real SQLite file; the Effect TestClock decides when a waiting claim may go on.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Layer, Option, Stream, TestClock } from "effect"
import type { Conversation } from "../../src/domain/conversation.js"
import { type Intake, pendingConversations } from "../../src/sources/pending.js"
import { Store } from "../../src/store/Store.js"
import { analysisOk, CoreTest, newConversation, scriptedAnalyzer } from "../support/layers.js"

const CLAIM = 100
const busyIntake: Intake = { lastSubmissionAt: () => performance.now() }
const idleIntake: Intake = { lastSubmissionAt: () => Number.NEGATIVE_INFINITY }

const withBacklog = (count: number) =>
  Effect.flatMap(Store, (store) => store.submit(Array.from({ length: count }, () => ({ conversations: [newConversation()] }))))

const answer = (conversation: Conversation) => Either.right(analysisOk(conversation))
const TestLayer = Layer.mergeAll(CoreTest, scriptedAnalyzer(answer).layer)
/** An analyzer that waits on the network (as Grok does) instead of computing on this thread. */
const NetworkAnalyzerLayer = Layer.mergeAll(CoreTest, scriptedAnalyzer(answer, { usesCallingThread: false }).layer)

/** Pulls one claimed chunk after another from the source. */
const pullerOf = (intake: Intake) =>
  Effect.map(Stream.toPull(Stream.chunks(pendingConversations(CLAIM, intake))), (pull) =>
    pull.pipe(
      Effect.map((chunks) => Chunk.flatten(chunks)),
      Effect.catchAll(() => Effect.die("the source ended"))
    )
  )

/**
 * A backlog of 250, the first group claimed, and 20 ms of real time as if analysing it took that
 * long (what the next claim owes a busy intake); returns the next pull.
 */
const afterFirstGroup = (intake: Intake) =>
  Effect.gen(function* () {
    yield* withBacklog(250)
    const pull = yield* pullerOf(intake)
    expect(Chunk.size(yield* pull)).toBe(CLAIM)
    yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
    return pull
  })

describe("pending source: intake comes first", () => {
  it.scoped("while intake is busy, the next claim waits; it goes on once that time has passed", () =>
    Effect.gen(function* () {
      const pull = yield* afterFirstGroup(busyIntake)
      const next = yield* Effect.fork(pull)
      // Until the claim is asleep on the test clock (a busy machine may take a while to get there;
      // adjusting the clock before would leave it asleep for good).
      for (let tries = 0; Chunk.isEmpty(yield* TestClock.sleeps()) && tries < 5_000; tries++) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1)))
      }
      expect(Option.isNone(yield* Fiber.poll(next))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect(Chunk.size(yield* Fiber.join(next))).toBe(CLAIM)
    }).pipe(Effect.provide(Layer.fresh(TestLayer)))
  )

  it.scoped("with no intake, claims follow each other without waiting", () =>
    Effect.gen(function* () {
      yield* withBacklog(250)
      const pull = yield* pullerOf(idleIntake)
      expect(Chunk.size(yield* pull)).toBe(CLAIM)
      // No clock adjustment: the second claim must not wait for one.
      expect(Chunk.size(yield* pull)).toBe(CLAIM)
      expect(Chunk.size(yield* pull)).toBe(50)
    }).pipe(Effect.provide(Layer.fresh(TestLayer)))
  )

  it.scoped("an analyzer that waits on the network (Grok) does not hold claims back for intake", () =>
    Effect.gen(function* () {
      const pull = yield* afterFirstGroup(busyIntake)
      // No clock adjustment: with the local analyzer this claim would wait (first test).
      expect(Chunk.size(yield* pull)).toBe(CLAIM)
    }).pipe(Effect.provide(Layer.fresh(NetworkAnalyzerLayer)))
  )

  it.live("a busy intake never starves analysis: every pending conversation is claimed, once", () =>
    Effect.gen(function* () {
      const outcomes = yield* withBacklog(450)
      expect(outcomes).toHaveLength(450)
      const pull = yield* pullerOf(busyIntake)
      const claimed: Array<string> = []
      while (claimed.length < 450) for (const conversation of yield* pull) claimed.push(conversation.id)
      expect(new Set(claimed).size).toBe(450)
    }).pipe(Effect.scoped, Effect.provide(Layer.fresh(TestLayer)))
  )
})
