import { Either, FastCheck as fc, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { ConversationInput } from "../../src/domain/conversation.js"
import { decodePlainConversation, validateConversation } from "../../src/stages/validate.js"

// decodePlainConversation is a shortcut past the Schema for the common shape; the Schema is the
// contract. Whatever the shortcut accepts, the Schema must accept with the same result, and every
// plain-shaped input the Schema accepts must take the shortcut (or it would be no shortcut).
const bySchema = Schema.decodeUnknownEither(ConversationInput, { onExcessProperty: "ignore" })
const PLAIN_KEYS = new Set(["author", "timestamp", "text", "id"])

const oddStrings = ["", " ", "\t\n", "a", " a ", "x".repeat(256), "x".repeat(257), "x".repeat(20_000), "x".repeat(20_001), "é🙂", "\u00a0"]
const anyValue = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}), fc.string())
const author = fc.oneof({ arbitrary: fc.string({ maxLength: 300 }), weight: 4 }, fc.constantFrom(...oddStrings), anyValue)
const text = fc.oneof({ arbitrary: fc.string(), weight: 4 }, fc.constantFrom(...oddStrings), anyValue)
const timestamp = fc.oneof(
  { weight: 3, arbitrary: fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true }).map((d) => d.toISOString()) },
  fc.constantFrom(
    "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.1Z", "2024-05-01T12:00:00.123456789Z", "2024-05-01", "2024-05-01 10:00",
    "2024-05-01T10:00:00+02:00", "2024-05-01T10:00:00-0130", "2024-05-01t10:00:00z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z",
    "2024-02-30", "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z", "2024-13-01", "yesterday", "", " 2024-05-01", "2024-05-01T12:00:00.Z"
  ),
  fc.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,4})?Z$/),
  anyValue
)
const id = fc.oneof(
  fc.stringMatching(/^conv_[A-Za-z0-9_-]{0,70}$/),
  fc.constantFrom("conv_a", "conv_", "conv_a b", "conv_é", "CONV_a", "nope", `conv_${"a".repeat(64)}`, `conv_${"a".repeat(65)}`),
  anyValue
)
const extra = fc.constantFrom({}, { metadata: { channel: "x" } }, { messages: [{ author: "a", text: "b", timestamp: "2024-05-01" }] }, { extra: 1 }, { text: undefined })
const fields = { author, timestamp, text, id }
const conversation = fc
  .tuple(fc.oneof({ weight: 4, arbitrary: fc.record(fields, { requiredKeys: ["author", "timestamp", "text"] }) }, fc.record(fields, { requiredKeys: [] })), fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, extra))
  .map(([fields, more]) => JSON.parse(JSON.stringify({ ...fields, ...more })) as Record<string, unknown>)

describe("validate: the plain-shape shortcut agrees with the Schema", () => {
  it("accepts only what the Schema accepts, with the same result, and takes every plain input the Schema accepts", () => {
    let shortcuts = 0
    fc.assert(
      fc.property(conversation, (json) => {
        const fast = decodePlainConversation(json)
        const schema = bySchema(json)
        if (fast !== undefined) {
          shortcuts++
          expect(Either.isRight(schema) && schema.right).toEqual(fast)
        } else if (Either.isRight(schema) && Object.keys(json).every((key) => PLAIN_KEYS.has(key))) {
          throw new Error(`the Schema accepts a plain input the shortcut refused: ${JSON.stringify(json).slice(0, 200)}`)
        }
      }),
      { numRuns: 5_000 }
    )
    // The generator must exercise the shortcut, or this test proves nothing.
    expect(shortcuts).toBeGreaterThan(100)
  })

  it("gives the same conversation either way, id and raw included", () => {
    const json = { id: "conv_same_1", author: "ana", timestamp: "2024-05-01T12:00:00+02:00", text: "  hello  " }
    const viaShortcut = validateConversation({ json, raw: "r" })
    const viaSchema = validateConversation({ json: { ...json, metadata: { n: 1 } }, raw: "r" })
    expect(Either.isRight(viaShortcut) && Either.isRight(viaSchema)).toBe(true)
    if (Either.isRight(viaShortcut) && Either.isRight(viaSchema)) expect({ ...viaShortcut.right, metadata: { n: 1 } }).toEqual(viaSchema.right)
  })
})
