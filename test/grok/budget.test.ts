/**
 * The analyze stage with the Grok analyzer against the fake Grok (real HTTP): one retry budget per
 * conversation however its calls come about, conversations without a result retried alone, the
 * usage of every call a conversation took carried by its insight, and no key in `last_error`.
 */
import { Chunk, Effect, Layer, Stream } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { GrokAnalyzerLive } from "../../src/analyzer/grok/GrokAnalyzer.js"
import type { Conversation } from "../../src/domain/conversation.js"
import { defaultThresholds as THRESHOLDS } from "../../src/domain/insight.js"
import { analyze } from "../../src/stages/analyze.js"
import type { AnalysisOutcome } from "../../src/store/Store.js"
import { StoreOnTempFile } from "../support/layers.js"
import { expectedFor, type FakeGrok, type Fault, startFakeGrok } from "../support/fake-grok.mjs"
import { batchOf, settingsFor } from "./support.js"

let fake: FakeGrok | undefined
afterEach(async () => {
  await fake?.close()
  fake = undefined
})

const BUDGET = 3

/** The batch through the analyze stage (budget 3, short delays) with the Grok analyzer on `f`. */
const analyzeThroughStage = (f: FakeGrok, batch: ReadonlyArray<Conversation>): Promise<ReadonlyArray<AnalysisOutcome>> =>
  Effect.runPromise(
    Stream.make(batch).pipe(
      analyze({ concurrency: 1, retryBudget: BUDGET, thresholds: THRESHOLDS, retryBaseDelay: "10 millis", retryMaxDelay: "50 millis" }),
      Stream.runCollect,
      Effect.map((batches) => Chunk.toReadonlyArray(batches).flatMap((analyzed) => analyzed.outcomes)),
      Effect.provide(GrokAnalyzerLive(settingsFor(f.baseUrl, { retryBudget: BUDGET })).pipe(Layer.provide(StoreOnTempFile)))
    )
  )

describe("analyze stage with Grok: retries", () => {
  it("spends one budget per conversation: failed calls and replies without its result together make at most budget + 1 calls", async () => {
    // Every reply cycle: three 500s, then a 200 without JSON. Nested budgets took 16 calls here.
    const cycle: Array<Fault> = ["500", "500", "500", "no-json"]
    fake = await startFakeGrok({ fault: (call) => cycle[(call - 1) % cycle.length] })
    const [only] = batchOf(1)
    const outcomes = await analyzeThroughStage(fake, [only])
    expect(fake.calls).toHaveLength(BUDGET + 1)
    expect(outcomes).toEqual([{ _tag: "Failed", id: only.id, error: expect.stringContaining(`(gave up after ${BUDGET + 1} calls)`) }])
  })

  it("retries each conversation missing from a reply alone, and its insight carries the usage of every call it took", async () => {
    fake = await startFakeGrok()
    fake.enqueue("missing-ids") // leaves out the second half of the batch
    const batch = batchOf(4)
    const outcomes = await analyzeThroughStage(fake, batch)
    expect(fake.calls.map((call) => call.ids.length)).toEqual([4, 1, 1])
    expect(new Set(fake.calls.slice(1).map((call) => call.ids[0]))).toEqual(new Set([batch[2].id, batch[3].id]))
    const insights = outcomes.flatMap((outcome) => (outcome._tag === "Completed" ? [outcome.insight] : []))
    expect(insights.map((insight) => insight.conversation_id).sort()).toEqual(batch.map((c) => c.id).sort())
    for (const insight of insights) expect(insight.sentiment_score).toBe(expectedFor(insight.conversation_id).sentiment_score)
    // Every call's tokens and cost are on some insight: the sums equal what the replies reported.
    const reported = [...new Set(insights.map((insight) => insight.raw_response))].map(
      (raw) => (JSON.parse(raw) as { usage: { prompt_tokens: number; completion_tokens: number; cost_in_usd_ticks: number } }).usage
    )
    expect(reported).toHaveLength(3)
    const sum = (values: ReadonlyArray<number | null>) => values.reduce<number>((acc, value) => acc + (value ?? 0), 0)
    expect(sum(insights.map((insight) => insight.prompt_tokens))).toBe(sum(reported.map((usage) => usage.prompt_tokens)))
    expect(sum(insights.map((insight) => insight.completion_tokens))).toBe(sum(reported.map((usage) => usage.completion_tokens)))
    expect(sum(insights.map((insight) => insight.cost_usd))).toBeCloseTo(sum(reported.map((usage) => usage.cost_in_usd_ticks)) / 1e10, 12)
  })

  it("keeps the API key out of last_error when the server's error message echoes it", async () => {
    fake = await startFakeGrok()
    fake.enqueue("400-echo-auth")
    const [only] = batchOf(1)
    const outcomes = await analyzeThroughStage(fake, [only])
    expect(outcomes).toHaveLength(1)
    const error = outcomes[0]._tag === "Failed" ? outcomes[0].error : ""
    expect(error).toContain("grok answered HTTP 400")
    expect(error).toContain("Bearer [redacted]")
    expect(error).not.toContain("test-key")
  })
})
