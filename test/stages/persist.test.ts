import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Option, Stream } from "effect"
import type { StoreError, Unavailable } from "../../src/domain/errors.js"
import { WorkSignal } from "../../src/services/WorkSignal.js"
import { type PendingSubmission, persist } from "../../src/stages/persist.js"
import { Store, type SubmissionOutcome } from "../../src/store/Store.js"
import { CoreTest, newConversation } from "../support/layers.js"

/** A pending submission whose reply lands in `done`, as a waiting HTTP request's would. */
const pendingWithReply = (conversations: ReturnType<typeof newConversation>[]) =>
  Effect.map(Deferred.make<SubmissionOutcome, StoreError | Unavailable>(), (done) => ({
    pending: { submission: { conversations }, reply: (result) => Deferred.unsafeDone(done, result) } satisfies PendingSubmission,
    done
  }))

describe("stage persist", () => {
  it.scoped("commits everything waiting in one group and answers each request after the commit", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const a = newConversation()
      const b = newConversation()
      const c = newConversation()
      const first = yield* pendingWithReply([a])
      const second = yield* pendingWithReply([b, c])
      // Both submissions arrive in the same chunk: one transaction for all three rows.
      const out = yield* Stream.fromChunk(Chunk.make(first.pending, second.pending)).pipe(persist, Stream.runCollect)
      expect(Chunk.size(out)).toBe(2)
      const firstOutcome = yield* Deferred.await(first.done)
      expect(firstOutcome).toEqual({ _tag: "Accepted", ids: [a.id], resubmitted: 0 })
      expect(yield* Deferred.await(second.done)).toEqual({ _tag: "Accepted", ids: [b.id, c.id], resubmitted: 0 })
      for (const conversation of [a, b, c]) {
        const stored = yield* store.getConversation(conversation.id)
        expect(Option.isSome(stored) && stored.value.conversation.status).toBe("pending")
      }
    }).pipe(Effect.provide(CoreTest))
  )

  it.scoped("resubmitting the same content is idempotent; different content conflicts and stores nothing", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const original = newConversation({ id: "conv_idem_1", author: "ana", text: "hello" })
      const same = newConversation({ id: "conv_idem_1", author: "ana", text: "hello" })
      const different = newConversation({ id: "conv_idem_1", author: "ana", text: "changed" })
      const fresh = newConversation({ id: "conv_idem_2" })
      yield* Stream.make({ submission: { conversations: [original] } }).pipe(persist, Stream.runDrain)
      const again = yield* pendingWithReply([same])
      const clash = yield* pendingWithReply([fresh, different])
      yield* Stream.make(again.pending, clash.pending).pipe(persist, Stream.runDrain)
      expect(yield* Deferred.await(again.done)).toEqual({ _tag: "Accepted", ids: ["conv_idem_1"], resubmitted: 1 })
      expect(yield* Deferred.await(clash.done)).toEqual({ _tag: "Conflict", conflictingIds: ["conv_idem_1"] })
      // The conflicting bulk was atomic: its other, valid conversation was not stored.
      expect(Option.isNone(yield* store.getConversation("conv_idem_2"))).toBe(true)
      const stored = yield* store.getConversation("conv_idem_1")
      expect(Option.isSome(stored) && stored.value.conversation.text).toBe("hello")
    }).pipe(Effect.provide(CoreTest))
  )

  it.scoped("wakes the analysis side after a commit", () =>
    Effect.gen(function* () {
      const signal = yield* WorkSignal
      yield* Stream.make({ submission: { conversations: [newConversation()] } }).pipe(persist, Stream.runDrain)
      // A wake-up is waiting: awaitWork returns at once.
      yield* signal.awaitWork.pipe(Effect.timeoutFail({ duration: "1 second", onTimeout: () => new Error("no wake-up") }))
    }).pipe(Effect.provide(CoreTest))
  )
})
