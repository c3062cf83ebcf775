import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, Layer, Logger, LogLevel, Option, Stream } from "effect"
import type { Insight } from "../../src/domain/insight.js"
import { persistInsight } from "../../src/stages/persist-insight.js"
import { Store } from "../../src/store/Store.js"
import { CoreTest, newConversation, scriptedAnalyzer } from "../support/layers.js"

/** The analyzer in context decides the write window: one on the calling thread (the local one) or on the network (Grok). */
const onCallingThread = scriptedAnalyzer(() => undefined).layer
const onNetwork = scriptedAnalyzer(() => undefined, { usesCallingThread: false }).layer

/**
 * `count` claimed conversations in batches of 10 (failed outcomes), sent through the stage with
 * `pause` before each batch and `analyzer` in context: how many writes the Store got.
 */
const writesFor = (count: number, pause: Effect.Effect<void>, analyzer: typeof onNetwork) =>
  Effect.gen(function* () {
    const store = yield* Store
    const conversations = Array.from({ length: count }, () => newConversation())
    yield* store.submit([{ conversations }])
    const claimed = yield* store.claim(count)
    const batches = Array.from({ length: count / 10 }, (_, b) => ({
      outcomes: claimed.slice(b * 10, b * 10 + 10).map((conversation) => ({ _tag: "Failed" as const, id: conversation.id, error: "scripted" })),
      durationMs: 1
    }))
    let writes = 0
    const counting = Layer.succeed(Store, { ...store, record: (outcomes) => Effect.suspend(() => (writes++, store.record(outcomes))) })
    const recorded = yield* Stream.fromIterable(batches).pipe(
      Stream.tap(() => pause),
      persistInsight,
      Stream.runCollect,
      Effect.provide(Layer.merge(counting, analyzer))
    )
    expect([...recorded].reduce((sum, batch) => sum + batch.failed, 0)).toBe(count)
    return writes
  })

describe("stage persist-insight", () => {
  it.scoped("records completed, failed and released outcomes in one go", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const [done, broken, unfinished] = [newConversation(), newConversation(), newConversation()]
      yield* store.submit([{ conversations: [done, broken, unfinished] }])
      const claimed = yield* store.claim(10)
      expect(claimed.map((c) => c.id)).toEqual([done.id, broken.id, unfinished.id])
      const insight: Insight = {
        conversation_id: done.id,
        sentiment_score: -0.5,
        sentiment: "negative",
        confidence: 0.7,
        clusters: ["delivery_delay", "refund_request"],
        reasoning: "late parcel",
        analyzer: "test:scripted",
        raw_response: "{}",
        prompt_tokens: 12,
        completion_tokens: 3,
        cost_usd: 0.0001,
        analyzed_at: "2024-05-01T12:00:00.000Z"
      }
      const [recorded] = yield* Stream.make({
        outcomes: [
          { _tag: "Completed" as const, insight },
          { _tag: "Failed" as const, id: broken.id, error: "model refused" },
          { _tag: "Released" as const, id: unfinished.id }
        ],
        durationMs: 5
      }).pipe(persistInsight, Stream.runCollect)
      expect([recorded.completed, recorded.failed]).toEqual([1, 1])
      const get = (id: string) => store.getConversation(id).pipe(Effect.map(Option.getOrThrow))
      const completed = yield* get(done.id)
      expect(completed.conversation.status).toBe("completed")
      expect(completed.insight).toMatchObject({ sentiment_score: -0.5, clusters: ["delivery_delay", "refund_request"], prompt_tokens: 12, cost_usd: 0.0001 })
      const failed = yield* get(broken.id)
      expect([failed.conversation.status, failed.conversation.lastError]).toEqual(["failed", "model refused"])
      const released = yield* get(unfinished.id)
      // A release is not an attempt: the counter goes back.
      expect([released.conversation.status, released.conversation.attempts]).toEqual(["pending", 0])
      const page = yield* store.queryInsights({ order: "desc", limit: 10, cluster: "refund_request" })
      expect(page.items.map((i) => i.conversation_id)).toEqual([done.id])
    }).pipe(Effect.provide(Layer.merge(CoreTest, onCallingThread)))
  )

  // A fast analyzer hands over batches back to back; writing each on its own made every batch of
  // 10 pay for a whole commit. They are written together (up to 16 per write).
  it.live("writes batches that arrive back to back in a few transactions, not one each", () =>
    Effect.gen(function* () {
      const writes = yield* writesFor(200, Effect.yieldNow(), onNetwork)
      // 16 batches at most per write, so 2 at least; each yield here takes ~1 ms of the live
      // scheduler and a write blocks the thread while it commits, so a handful, never one each.
      expect(writes).toBeGreaterThanOrEqual(2)
      expect(writes).toBeLessThanOrEqual(8)
    }).pipe(Effect.provide(CoreTest))
  )

  // An analyzer on the calling thread finishes a batch every few ms while the stage waits, and each
  // write pays a commit's fsync: the stage waits longer (20 ms) to share it. Grok's batches, which
  // someone may be waiting on, keep the short window (4 ms) and are written one by one at this pace.
  it.live("gathers batches arriving 10 ms apart into shared writes for an analyzer on the calling thread, not for a network one", () =>
    Effect.gen(function* () {
      const local = yield* writesFor(120, Effect.sleep("10 millis"), onCallingThread)
      const network = yield* writesFor(120, Effect.sleep("10 millis"), onNetwork)
      expect(local).toBeLessThanOrEqual(7)
      expect(network).toBeGreaterThanOrEqual(10)
    }).pipe(Effect.provide(CoreTest))
  )

  it.live("names the analyzer in a batch's line even when every conversation of it failed", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const conversations = Array.from({ length: 10 }, () => newConversation())
      yield* store.submit([{ conversations }])
      const claimed = yield* store.claim(10)
      const lines: Array<{ message: unknown; fields: Record<string, unknown> }> = []
      const capture = Logger.make(({ annotations, message }) => {
        lines.push({ message: Array.isArray(message) ? message[0] : message, fields: Object.fromEntries(HashMap.toEntries(annotations)) })
      })
      yield* Stream.make({ outcomes: claimed.map((c) => ({ _tag: "Failed" as const, id: c.id, error: "grok: 500 after 3 attempts" })), durationMs: 1 }).pipe(
        persistInsight,
        Stream.runDrain,
        Effect.provide(Logger.replace(Logger.defaultLogger, capture))
      )
      const analyzed = lines.filter((line) => line.message === "batch analyzed")
      expect(analyzed.map((line) => line.fields)).toEqual([expect.objectContaining({ failed: 10, completed: 0, analyzer: "test:scripted" })])
    }).pipe(Effect.provide(Layer.merge(CoreTest, onNetwork)))
  )

  // SPEC §10 lists "batch analyzed": on the embedded default (the local analyzer, thousands of
  // batches a second) it is an info line at most once a second, with the counts since the last.
  it.live("logs the local analyzer's batches at info at most once a second, with the counts in between", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const conversations = Array.from({ length: 30 }, () => newConversation())
      yield* store.submit([{ conversations }])
      const claimed = yield* store.claim(30)
      const batchOf = (from: number) => ({
        outcomes: claimed.slice(from, from + 10).map((c) => ({
          _tag: "Completed" as const,
          insight: {
            conversation_id: c.id,
            sentiment_score: 0.1,
            sentiment: "neutral" as const,
            confidence: 0.5,
            clusters: ["other"],
            reasoning: "",
            analyzer: "local:lexicon-v1",
            raw_response: "{}",
            prompt_tokens: null,
            completion_tokens: null,
            cost_usd: null,
            analyzed_at: "2024-05-01T12:00:00.000Z"
          }
        })),
        durationMs: 1
      })
      const lines: Array<{ level: string; message: unknown; fields: Record<string, unknown> }> = []
      const capture = Logger.make(({ annotations, logLevel, message }) => {
        lines.push({ level: logLevel.label, message: Array.isArray(message) ? message[0] : message, fields: Object.fromEntries(HashMap.toEntries(annotations)) })
      })
      yield* Stream.make(batchOf(0), batchOf(10)).pipe(
        Stream.concat(Stream.fromEffect(Effect.sleep("1100 millis")).pipe(Stream.drain)),
        Stream.concat(Stream.make(batchOf(20))),
        persistInsight,
        Stream.runDrain,
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.All)
      )
      const analyzed = lines.filter((line) => line.message === "batch analyzed")
      expect(analyzed.map((line) => line.level)).toEqual(["INFO", "DEBUG", "INFO"])
      expect(analyzed[0].fields).toMatchObject({ batch_size: 10, completed: 10, batches_since_last_line: 1, conversations_since_last_line: 10 })
      expect(analyzed[2].fields).toMatchObject({ batches_since_last_line: 2, conversations_since_last_line: 20 })
    }).pipe(Effect.provide(Layer.merge(CoreTest, onCallingThread)))
  )
})
