import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Logger, Stream } from "effect"
import type { Conversation } from "../../src/domain/conversation.js"
import { defaultThresholds } from "../../src/domain/insight.js"
import { analyze } from "../../src/stages/analyze.js"
import { analysisOk, permanentError, retryableError, scriptedAnalyzer } from "../support/layers.js"

const conversation = (id: string, text = "fine", attempts = 1): Conversation => ({
  id: id as Conversation["id"],
  text,
  author: "a",
  timestamp: "2024-05-01T12:00:00.000Z",
  messages: null,
  metadata: null,
  raw: "{}",
  status: "processing",
  attempts,
  lastError: null,
  receivedAt: "2024-05-01T12:00:00.000Z",
  updatedAt: "2024-05-01T12:00:00.000Z"
})

const options = { concurrency: 2, retryBudget: 2, thresholds: defaultThresholds, retryBaseDelay: "1 millis", retryMaxDelay: "5 millis" } as const

const run = (batches: ReadonlyArray<ReadonlyArray<Conversation>>, layer: ReturnType<typeof scriptedAnalyzer>["layer"]) =>
  Stream.fromIterable(batches).pipe(analyze(options), Stream.runCollect, Effect.map(Chunk.toReadonlyArray), Effect.provide(layer))

describe("stage analyze", () => {
  it.effect("turns results into insights with the sentiment label from the thresholds", () =>
    Effect.gen(function* () {
      const { layer } = scriptedAnalyzer((c) => Either.right(analysisOk(c)))
      const [batch] = yield* run([[conversation("conv_a", "this is bad"), conversation("conv_b", "good")]], layer)
      const insights = batch.outcomes.map((o) => (o._tag === "Completed" ? [o.insight.conversation_id, o.insight.sentiment] : o._tag))
      expect(insights).toEqual([
        ["conv_a", "negative"],
        ["conv_b", "positive"]
      ])
    })
  )

  it.effect("one conversation's failure does not stop its batch; it is failed with the reason", () =>
    Effect.gen(function* () {
      const { layer } = scriptedAnalyzer((c) => (c.id === "conv_bad" ? permanentError("model refused") : Either.right(analysisOk(c))))
      const [batch] = yield* run([[conversation("conv_1"), conversation("conv_bad"), conversation("conv_2")]], layer)
      const byId = new Map<string, (typeof batch.outcomes)[number]>(batch.outcomes.map((o) => [o._tag === "Completed" ? o.insight.conversation_id : o.id, o]))
      expect(byId.get("conv_1")?._tag).toBe("Completed")
      expect(byId.get("conv_2")?._tag).toBe("Completed")
      const failed = byId.get("conv_bad")
      expect(failed?._tag === "Failed" && failed.error).toBe("model refused")
    })
  )

  it.live("retries only the conversations that failed, alone, and succeeds within the budget", () =>
    Effect.gen(function* () {
      const { calls, layer } = scriptedAnalyzer((c, call) => (c.id === "conv_flaky" && call < 3 ? retryableError("timeout") : Either.right(analysisOk(c))))
      const [batch] = yield* run([[conversation("conv_ok"), conversation("conv_flaky")]], layer)
      expect(batch.outcomes.every((o) => o._tag === "Completed")).toBe(true)
      expect(calls).toEqual([["conv_ok", "conv_flaky"], ["conv_flaky"], ["conv_flaky"]])
    })
  )

  it.live("a missing result counts as retryable and is never guessed; after the budget it is failed", () =>
    Effect.gen(function* () {
      const { calls, layer } = scriptedAnalyzer((c) => (c.id === "conv_missing" ? undefined : Either.right(analysisOk(c))))
      const [batch] = yield* run([[conversation("conv_here"), conversation("conv_missing")]], layer)
      const missing = batch.outcomes.find((o) => o._tag === "Failed")
      expect(missing?._tag === "Failed" && missing.id).toBe("conv_missing")
      expect(missing?._tag === "Failed" && missing.error).toMatch(/no result.*gave up after 3 attempts/)
      expect(calls).toHaveLength(1 + options.retryBudget)
    })
  )

  it.live("conversations missing from a reply are each retried alone; a retry is logged only when one follows, with whole milliseconds", () =>
    Effect.gen(function* () {
      const logged: Array<Record<string, unknown>> = []
      const capture = Logger.make(({ annotations, message }) => {
        const record: Record<string, unknown> = { message: String(Array.isArray(message) ? message[0] : message) }
        for (const [key, value] of annotations) record[key] = value
        logged.push(record)
      })
      const { calls, layer } = scriptedAnalyzer((c) => (c.id === "conv_ok" ? Either.right(analysisOk(c)) : undefined))
      const [batch] = yield* run([[conversation("conv_ok"), conversation("conv_m1"), conversation("conv_m2")]], layer).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, capture))
      )
      expect(calls[0]).toEqual(["conv_ok", "conv_m1", "conv_m2"])
      // Each retry call holds one conversation: budget 2 → two retries each.
      expect(calls.slice(1).map((ids) => ids.length)).toEqual([1, 1, 1, 1])
      expect(calls.slice(1).flat().sort()).toEqual(["conv_m1", "conv_m1", "conv_m2", "conv_m2"])
      expect(batch.outcomes.filter((o) => o._tag === "Failed").map((o) => (o._tag === "Failed" ? o.id : "")).sort()).toEqual(["conv_m1", "conv_m2"])
      const retries = logged.filter((line) => line.message === "retry scheduled")
      expect(retries).toHaveLength(2 * options.retryBudget)
      for (const line of retries) expect(Number.isInteger(line.delay_ms)).toBe(true)
    })
  )

  it.effect("a conversation claimed more times than the budget allows is failed without analysis", () =>
    Effect.gen(function* () {
      const { calls, layer } = scriptedAnalyzer((c) => Either.right(analysisOk(c)))
      const [batch] = yield* run([[conversation("conv_poison", "x", 4)]], layer)
      expect(batch.outcomes[0]._tag).toBe("Failed")
      expect(calls).toEqual([[]])
    })
  )
})
