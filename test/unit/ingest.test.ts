/**
 * The Ingest service is the line between the sources and the persist stage: submissions come out
 * in arrival order, many per group commit; a full line makes submitters wait (a flood never grows
 * memory without bound) and lets them in as groups leave; after close every waiting or new
 * submission is refused with 503 `draining`, so no request hangs on a line nobody reads.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Stream } from "effect"
import type { SubmissionReply } from "../../src/stages/persist.js"
import { Ingest } from "../../src/services/Ingest.js"
import type { Submission } from "../../src/store/Store.js"
import { newConversation } from "../support/layers.js"

const submission = (): Submission => ({ conversations: [newConversation()] })

/** Records what each submitter was told. */
const replies = () => {
  const told: Array<string> = []
  const reply =
    (name: string): SubmissionReply =>
    (result) =>
      told.push(`${name}: ${Either.isRight(result) ? result.right._tag : result.left._tag === "Unavailable" ? result.left.reason : result.left._tag}`)
  return { told, reply }
}

describe("Ingest", () => {
  it.live("hands submissions to the persist stage in arrival order, those of one turn as one group", () =>
    Effect.gen(function* () {
      const ingest = yield* Ingest
      const handed = Array.from({ length: 300 }, submission)
      for (const s of handed) expect(ingest.offerNow(s, () => {})).toBe(true)
      expect(ingest.outstanding()).toBe(300)
      const [group] = yield* Stream.runCollect(Stream.take(Stream.chunks(ingest.submissions), 1))
      expect(Chunk.toReadonlyArray(group).map((item) => item.submission)).toEqual(handed)
      // A submission after the line was emptied wakes the stage again.
      const next = yield* Effect.fork(Stream.runHead(ingest.submissions))
      yield* Effect.sleep("5 millis")
      const late = submission()
      ingest.offerNow(late, () => {})
      const taken = yield* Fiber.join(next)
      expect(taken._tag === "Some" && taken.value.submission).toBe(late)
    }).pipe(Effect.provide(Ingest.Default))
  )

  it.live("a full line refuses offerNow; enqueue waits for room and gets in once a group leaves", () =>
    Effect.gen(function* () {
      const ingest = yield* Ingest
      let accepted = 0
      while (ingest.offerNow(submission(), () => {})) accepted++
      expect(accepted).toBe(4096)
      const waiter = submission()
      const entering = yield* Effect.fork(ingest.enqueue(waiter, () => {}))
      yield* Effect.sleep("10 millis")
      expect(entering.unsafePoll()).toBeNull()
      const seen: Array<Submission> = []
      yield* ingest.submissions.pipe(
        Stream.tap((item) => Effect.sync(() => seen.push(item.submission))),
        Stream.take(4097),
        Stream.runDrain
      )
      yield* Fiber.join(entering)
      expect(seen.length).toBe(4097)
      expect(seen.at(-1)).toBe(waiter)
    }).pipe(Effect.provide(Ingest.Default))
  )

  it.live("close refuses what still waits, whoever waits for room, and anything new (503 draining)", () =>
    Effect.gen(function* () {
      const ingest = yield* Ingest
      const { told, reply } = replies()
      ingest.offerNow(submission(), reply("queued"))
      while (ingest.offerNow(submission(), () => {}));
      const waiting = yield* Effect.fork(ingest.enqueue(submission(), reply("waiting for room")))
      yield* Effect.sleep("5 millis")
      yield* ingest.close
      yield* Fiber.join(waiting)
      expect(ingest.offerNow(submission(), reply("new"))).toBe(true)
      const outcome = yield* Effect.either(ingest.submit(submission()))
      expect(Either.isLeft(outcome) && outcome.left.message).toContain("shutting down")
      expect(told).toEqual(["queued: draining", "waiting for room: draining", "new: draining"])
      expect(ingest.outstanding()).toBe(0)
    }).pipe(Effect.provide(Ingest.Default))
  )
})
