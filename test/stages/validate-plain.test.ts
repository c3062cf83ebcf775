import { Either, FastCheck as fc, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { ConversationInput } from "../../src/domain/conversation.js"
import { decodePlainConversation, validateConversation } from "../../src/stages/validate.js"

// decodePlainConversation is a shortcut past the Schema for the common shape; the Schema is the
// contract. Whatever the shortcut accepts, the Schema must accept with the same result, and every
// plain-shaped input the Schema accepts must take the shortcut (or it would be no shortcut).
const bySchema = Schema.decodeUnknownEither(ConversationInput, { onExcessProperty: "ignore" })
const PLAIN_KEYS = new Set(["author", "timestamp", "text", "id", "messages", "metadata"])
const MESSAGE_KEYS = new Set(["author", "text", "timestamp", "inbound"])
const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value)
const depthOf = (value: unknown): number =>
  value === null || typeof value !== "object" ? 0 : 1 + Math.max(0, ...Object.values(value as Record<string, unknown>).map(depthOf))
/** The shapes the shortcut must take when the Schema accepts them. */
const isPlainShape = (json: Record<string, unknown>): boolean =>
  Object.keys(json).every((key) => PLAIN_KEYS.has(key)) &&
  (!("messages" in json) || (Array.isArray(json.messages) && json.messages.every((m) => isObject(m) && Object.keys(m).every((key) => MESSAGE_KEYS.has(key))))) &&
  (!("metadata" in json) || (isObject(json.metadata) && !Object.hasOwn(json.metadata, "__proto__") && depthOf(json) <= 64))

const oddStrings = ["", " ", "\t\n", "a", " a ", "x".repeat(256), "x".repeat(257), "x".repeat(20_000), "x".repeat(20_001), "🙂".repeat(20_000), "🙂".repeat(20_000) + "x", "é🙂", "\u00a0", "lone \ud800", "\udc00"]
const anyValue = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}), fc.string())
const author = fc.oneof({ arbitrary: fc.string({ maxLength: 300 }), weight: 4 }, fc.constantFrom(...oddStrings), anyValue)
const text = fc.oneof({ arbitrary: fc.string(), weight: 4 }, fc.constantFrom(...oddStrings), anyValue)
const timestamp = fc.oneof(
  { weight: 3, arbitrary: fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true }).map((d) => d.toISOString()) },
  fc.constantFrom(
    "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.1Z", "2024-05-01T12:00:00.123456789Z", "2024-05-01", "2024-05-01 10:00",
    "2024-05-01T10:00:00+02:00", "2024-05-01T10:00:00-0130", "2024-05-01t10:00:00z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z",
    "2024-02-30", "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z", "2024-13-01", "yesterday", "", " 2024-05-01", "2024-05-01T12:00:00.Z",
    "9999-12-31T23:59:59-01:00", "0000-01-01T00:30:00+01:00", "2024-05-01T12:00:00.1234567891234Z", "2024-05-01T12:00:00.12345678912+02:00"
  ),
  fc.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,4})?Z$/),
  anyValue
)
const id = fc.oneof(
  fc.stringMatching(/^conv_[A-Za-z0-9_-]{0,70}$/),
  fc.constantFrom("conv_a", "conv_", "conv_a b", "conv_é", "CONV_a", "nope", `conv_${"a".repeat(64)}`, `conv_${"a".repeat(65)}`),
  anyValue
)
const wellFormedMessage = fc.record({
  author: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== ""),
  text: fc.string({ minLength: 1 }).filter((s) => s.trim() !== ""),
  timestamp: fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2030-01-01T00:00:00Z"), noInvalidDate: true }).map((d) => d.toISOString().replace(".000Z", "+01:00")),
  inbound: fc.boolean()
}, { requiredKeys: ["author", "text", "timestamp"] })
const message = fc.oneof(
  { weight: 4, arbitrary: wellFormedMessage },
  { weight: 2, arbitrary: fc.record({ author, text, timestamp, inbound: fc.oneof(fc.boolean(), anyValue) }, { requiredKeys: ["author", "text", "timestamp"] }) },
  fc.record({ author, text, timestamp, inbound: fc.boolean(), other: anyValue }, { requiredKeys: [] }),
  anyValue
)
const nested = (depth: number): Record<string, unknown> => (depth === 0 ? { leaf: 1 } : { deeper: nested(depth - 1) })
const metadata = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), anyValue, { maxKeys: 4 }) },
  fc.constantFrom({ channel: "x", tags: ["a", "b"] }, JSON.parse('{"__proto__":{"x":1}}') as unknown, nested(61), nested(62), nested(63), nested(70)),
  anyValue
)
const extra = fc.oneof(
  fc.constantFrom({}, { extra: 1 }, { text: undefined }),
  fc.record({ messages: fc.oneof({ weight: 4, arbitrary: fc.array(message, { minLength: 1, maxLength: 4 }) }, fc.constant([]), anyValue) }),
  fc.record({ metadata }),
  fc.record({ messages: fc.array(message, { minLength: 1, maxLength: 3 }), metadata })
)
const fields = { author, timestamp, text, id }
const conversation = fc
  .tuple(fc.oneof({ weight: 4, arbitrary: fc.record(fields, { requiredKeys: ["author", "timestamp", "text"] }) }, fc.record(fields, { requiredKeys: [] })), fc.oneof({ weight: 2, arbitrary: fc.constant({}) }, { weight: 3, arbitrary: extra }))
  .map(([fields, more]) => JSON.parse(JSON.stringify({ ...fields, ...more })) as Record<string, unknown>)

describe("validate: the plain-shape shortcut agrees with the Schema", () => {
  it("accepts only what the Schema accepts, with the same result, and takes every plain input the Schema accepts", () => {
    let shortcuts = 0
    let withMessages = 0
    let withMetadata = 0
    let deepRefused = 0
    fc.assert(
      fc.property(conversation, (json) => {
        const fast = decodePlainConversation(json)
        const schema = bySchema(json)
        if (fast !== undefined) {
          shortcuts++
          if (fast.messages !== undefined) withMessages++
          if (fast.metadata !== undefined) withMetadata++
          expect(Either.isRight(schema) && schema.right).toEqual(fast)
        } else if (isObject(json.metadata) && depthOf(json) > 64) {
          deepRefused++
        } else if (Either.isRight(schema) && isPlainShape(json)) {
          throw new Error(`the Schema accepts a plain input the shortcut refused: ${JSON.stringify(json).slice(0, 200)}`)
        }
      }),
      { numRuns: 10_000 }
    )
    // The generator must exercise the shortcut, or this test proves nothing.
    expect(shortcuts).toBeGreaterThan(100)
    expect(withMessages).toBeGreaterThan(20)
    expect(withMetadata).toBeGreaterThan(20)
    expect(deepRefused).toBeGreaterThan(0)
  })

  it("gives the same conversation either way, id and raw included", () => {
    const json = { id: "conv_same_1", author: "ana", timestamp: "2024-05-01T12:00:00+02:00", text: "  hello  " }
    const viaShortcut = validateConversation({ json, raw: "r" })
    const viaSchema = validateConversation({ json: { ...json, metadata: { n: 1 } }, raw: "r" })
    expect(Either.isRight(viaShortcut) && Either.isRight(viaSchema)).toBe(true)
    if (Either.isRight(viaShortcut) && Either.isRight(viaSchema)) expect({ ...viaShortcut.right, metadata: { n: 1 } }).toEqual(viaSchema.right)
  })

  it("keeps the nesting limit on metadata: 64 levels in all pass, 65 are refused naming the body", () => {
    const body = (depth: number) => ({ author: "ana", timestamp: "2024-05-01T12:00:00Z", text: "hi", metadata: nested(depth) })
    expect(depthOf(body(62))).toBe(64)
    expect(Either.isRight(validateConversation({ json: body(62), raw: "r" }))).toBe(true)
    const refused = validateConversation({ json: body(63), raw: "r" })
    expect(Either.isLeft(refused) && refused.left).toEqual([{ field: "(body)", message: "JSON is nested more than 64 levels deep" }])
  })
})
