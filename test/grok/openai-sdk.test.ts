/**
 * The wire format is the real one: the analyzer's request type-checks as the official `openai`
 * SDK's ChatCompletionCreateParams (compile time, `tsc`), the body it sends equals that typed
 * object, and the same body sent through the SDK pointed at the fake comes back as a typed
 * ChatCompletion that the analyzer's reply parser reads.
 */
import { Effect, Either, Redacted } from "effect"
import OpenAI from "openai"
import { afterEach, describe, expect, it } from "vitest"
import { buildRequest, type ChatCompletionRequest } from "../../src/analyzer/grok/prompt.js"
import { parseContent } from "../../src/analyzer/grok/reply.js"
import { type FakeGrok, startFakeGrok } from "../support/fake-grok.mjs"
import { batchOf, settingsFor, withGrok } from "./support.js"

type SdkParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming

/** Compile-time check: the analyzer's request IS an SDK request (only readonly-ness is dropped). */
const asSdkParams = (request: ChatCompletionRequest): SdkParams => ({
  model: request.model,
  messages: request.messages.map((message) => ({ role: message.role, content: message.content })),
  response_format: request.response_format,
  temperature: request.temperature
})

let fake: FakeGrok | undefined
afterEach(async () => {
  await fake?.close()
  fake = undefined
})

describe("grok requests against the official openai SDK", () => {
  it("the analyzer sends exactly an SDK-typed ChatCompletionCreateParams, and the SDK gets a typed ChatCompletion back from the fake", async () => {
    fake = await startFakeGrok({ apiKey: "sdk-key" })
    const batch = batchOf(3)
    await withGrok(settingsFor(fake.baseUrl, { apiKey: Redacted.make("sdk-key") }), (analyzer) => analyzer.analyzeBatch(batch).pipe(Effect.asVoid))
    const sent = fake.calls[0]
    expect(sent.authorized).toBe(true)

    const typed = asSdkParams(buildRequest(batch, { model: "grok-4-fast-non-reasoning", maxConversationChars: 6_000, existingLabels: [] }).request)
    expect(sent.body).toEqual(JSON.parse(JSON.stringify(typed)))

    const sdk = new OpenAI({ apiKey: "sdk-key", baseURL: fake.baseUrl, maxRetries: 0, timeout: 5_000 })
    const completion: OpenAI.Chat.Completions.ChatCompletion = await sdk.chat.completions.create(typed)
    expect(fake.calls[1].body).toEqual(sent.body)
    expect(completion.object).toBe("chat.completion")
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(0)
    const parsed = parseContent(completion.choices[0].message.content, batch.map((c) => c.id))
    expect([...parsed.items.values()].every(Either.isRight)).toBe(true)
  })

  it("the SDK with a wrong key gets the fake's 401 as an AuthenticationError, as from the real API", async () => {
    fake = await startFakeGrok({ apiKey: "right" })
    const sdk = new OpenAI({ apiKey: "wrong", baseURL: fake.baseUrl, maxRetries: 0 })
    const typed = asSdkParams(buildRequest(batchOf(1), { model: "m", maxConversationChars: 100, existingLabels: [] }).request)
    await expect(sdk.chat.completions.create(typed)).rejects.toBeInstanceOf(OpenAI.AuthenticationError)
  })
})
