import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import { validate, validateConversation, validateSubmission } from "../../src/stages/validate.js"

const good = { author: "ana", timestamp: "2024-05-01T12:00:00+02:00", text: "My order still hasn't arrived" }

describe("stage validate", () => {
  it("accepts a conversation, normalises the timestamp to UTC and keeps the raw JSON", () => {
    const raw = JSON.stringify({ ...good, channel: "twitter" })
    const result = validateConversation({ json: JSON.parse(raw), raw })
    expect(Either.isRight(result)).toBe(true)
    const conversation = Either.getOrThrow(result)
    expect(conversation.timestamp).toBe("2024-05-01T10:00:00.000Z")
    expect(conversation.raw).toBe(raw)
    expect(conversation.id).toMatch(/^conv_[A-Za-z0-9_-]{1,64}$/)
    expect(conversation.clientId).toBe(false)
  })

  it("generates ids that sort in creation order", () => {
    const ids = Array.from({ length: 50 }, () => Either.getOrThrow(validateConversation({ json: good, raw: "" })).id)
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(50)
  })

  it("derives text from a messages thread", () => {
    const json = {
      author: "ana",
      timestamp: "2024-05-01T12:00:00Z",
      messages: [
        { author: "ana", text: "Where is my parcel?", timestamp: "2024-05-01T12:00:00Z", inbound: true },
        { author: "shop", text: "Let me check.", timestamp: "2024-05-01T12:05:00Z" }
      ]
    }
    const conversation = Either.getOrThrow(validateConversation({ json, raw: "" }))
    expect(conversation.text).toBe("Where is my parcel?\nLet me check.")
    expect(conversation.messages).toHaveLength(2)
  })

  it("names the field and the reason for each problem", () => {
    const result = validateConversation({ json: { author: "", timestamp: "yesterday", id: "nope" }, raw: "" })
    const issues = Either.getLeft(result).pipe((o) => (o._tag === "Some" ? o.value : []))
    const fields = issues.map((issue) => issue.field)
    expect(fields).toContain("author")
    expect(fields).toContain("timestamp")
    expect(fields).toContain("id")
    expect(issues.find((i) => i.field === "timestamp")?.message).toMatch(/ISO-8601/)
  })

  it("says what shape a field needs in the client's words, not Schema's names", () => {
    const issuesOf = (json: object) => Either.getLeft(validateConversation({ json, raw: "" })).pipe((o) => (o._tag === "Some" ? o.value : []))
    expect(issuesOf({ ...good, metadata: [1] })).toEqual([{ field: "metadata", message: "metadata must be a JSON object (got [1])" }])
    expect(issuesOf({ author: good.author, timestamp: good.timestamp, messages: [5] })).toEqual([
      { field: "messages.0", message: "messages.0 must be a message object ({author, text, timestamp, inbound?}) (got 5)" }
    ])
    expect(issuesOf({ ...good, messages: [{ author: "ana", text: "hi", timestamp: "2024-05-01T12:00:00Z", inbound: "yes" }] })).toEqual([
      { field: "messages.0.inbound", message: 'messages.0.inbound must be a boolean (got "yes")' }
    ])
  })

  it("rejects dates and times that do not exist instead of rolling them over", () => {
    // The last two exist, but only before or after the four-digit years once in UTC.
    for (const timestamp of ["2023-02-29T10:00:00Z", "2024-02-30", "2024-06-31T00:00:00.000Z", "2024-01-01T24:00:00Z", "2024-01-01 10:60", "9999-12-31T23:59:59-01:00", "0000-01-01T00:30:00+01:00"]) {
      const result = validateConversation({ json: { ...good, timestamp }, raw: "" })
      expect(Either.isLeft(result) && result.left[0].field, timestamp).toBe("timestamp")
    }
    const normalised = ["2024-02-29T23:59:59Z", "2024-01-01T00:00:00.1Z", "2024-01-01T00:00:00.123456Z", "2024-03-01T01:30:00+02:00", "2024-12-31", "9999-12-31T23:59:59+01:00", "0000-01-01T00:00:00-01:00", "2024-01-01T00:00:00.1234567891234Z", "2024-01-01T02:00:00.98765432109+02:00"].map((timestamp) =>
      Either.map(validateConversation({ json: { ...good, timestamp }, raw: "" }), (c) => c.timestamp).pipe(Either.getOrElse(() => "rejected"))
    )
    expect(normalised).toEqual(["2024-02-29T23:59:59.000Z", "2024-01-01T00:00:00.100Z", "2024-01-01T00:00:00.123Z", "2024-02-29T23:30:00.000Z", "2024-12-31T00:00:00.000Z", "9999-12-31T22:59:59.000Z", "0000-01-01T01:00:00.000Z", "2024-01-01T00:00:00.123Z", "2024-01-01T00:00:00.987Z"])
  })

  it("accepts RFC 3339's lower-case t and z separators", () => {
    const normalised = ["2024-05-01t12:00:00z", "2024-05-01t14:00:00.5+02:00", "2024-05-01t12:00"].map((timestamp) =>
      Either.map(validateConversation({ json: { ...good, timestamp }, raw: "" }), (c) => c.timestamp).pipe(Either.getOrElse(() => "rejected"))
    )
    expect(normalised).toEqual(["2024-05-01T12:00:00.000Z", "2024-05-01T12:00:00.500Z", "2024-05-01T12:00:00.000Z"])
  })

  it("requires text or a non-empty messages thread", () => {
    const missing = validateConversation({ json: { author: "a", timestamp: "2024-01-01" }, raw: "" })
    expect(Either.isLeft(missing) && missing.left[0].field).toBe("text")
    const empty = validateConversation({ json: { author: "a", timestamp: "2024-01-01", messages: [] }, raw: "" })
    expect(Either.isLeft(empty) && empty.left[0].field).toBe("messages")
  })

  it("names a missing text together with the other problems, not only once they are fixed", () => {
    const result = validateConversation({ json: { author: "", timestamp: "soon" }, raw: "" })
    const fields = Either.isLeft(result) ? result.left.map((issue) => issue.field) : []
    expect(fields).toEqual(["author", "timestamp", "text"])
    expect(Either.isLeft(result) && result.left[2].message).toBe("text is required unless a non-empty messages thread is given")
    // Given text or messages, it is not added.
    const withText = validateConversation({ json: { author: "", timestamp: "2024-01-01", text: "hi" }, raw: "" })
    expect(Either.isLeft(withText) && withText.left.map((issue) => issue.field)).toEqual(["author"])
  })

  it("rejects text over 20,000 characters", () => {
    const result = validateConversation({ json: { ...good, text: "x".repeat(20_001) }, raw: "" })
    expect(Either.isLeft(result) && result.left[0].message).toMatch(/20000/)
  })

  it("refuses text with an unpaired surrogate (SQLite would store U+FFFD in its place), naming the field", () => {
    const lone = "lone \ud800 surrogate"
    for (const [json, field] of [
      [{ ...good, text: lone }, "text"],
      [{ ...good, author: lone }, "author"],
      [{ author: "ana", timestamp: "2024-05-01T12:00:00Z", messages: [{ author: "ana", text: lone, timestamp: "2024-05-01T12:00:00Z" }] }, "messages.0.text"]
    ] as const) {
      const result = validateConversation({ json, raw: "" })
      expect(Either.isLeft(result) && result.left.map((issue) => issue.field)).toEqual([field])
      expect(Either.isLeft(result) && result.left[0].message).toMatch(/must be valid Unicode text \(it holds an unpaired UTF-16 surrogate/)
    }
    expect(Either.isRight(validateConversation({ json: { ...good, text: "paired 🙂 is fine" }, raw: "" }))).toBe(true)
  })

  it("counts characters, not UTF-16 units: 20,000 emoji are 20,000 characters", () => {
    for (const [text, accepted] of [["🙂".repeat(20_000), true], ["🙂".repeat(20_000) + "x", false], ["🙂".repeat(19_999) + "xy", false], ["\ud83d".repeat(20_001), false]] as const) {
      expect(Either.isRight(validateConversation({ json: { ...good, text }, raw: "" })), text.slice(-4)).toBe(accepted)
      const messages = [{ author: "ana", text, timestamp: "2024-05-01T12:00:00Z" }]
      expect(Either.isRight(validateConversation({ json: { author: "ana", timestamp: "2024-05-01T12:00:00Z", messages }, raw: "" }))).toBe(accepted)
    }
  })

  it("rejects a whole bulk submission naming each bad item's index", () => {
    const items = [good, { ...good, author: 3 }, good, { ...good, timestamp: "soon" }].map((json) => ({ json, raw: "" }))
    const result = validateSubmission(items, { bulk: true })
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left.details.map((d) => [d.index, d.field])).toEqual([
        [1, "author"],
        [3, "timestamp"]
      ])
      expect(result.left.message).toMatch(/2 of 4 items are invalid/)
    }
  })

  it.effect("as a stream stage: numbers lines, rejects bad ones with a reason, skips blank lines", () =>
    Effect.gen(function* () {
      const lines = [JSON.stringify(good), "{not json", "", JSON.stringify({ text: "no author", timestamp: "2024-01-01" }), JSON.stringify(good)]
      const out = yield* Stream.fromIterable(lines.map((text, i) => ({ line: i + 1, text }))).pipe(validate, Stream.runCollect)
      const results = Chunk.toReadonlyArray(out)
      expect(results.map((r) => [r._tag, r.line])).toEqual([
        ["Valid", 1],
        ["Rejected", 2],
        ["Rejected", 4],
        ["Valid", 5]
      ])
      const rejected = results.filter((r) => r._tag === "Rejected")
      expect(rejected[0]._tag === "Rejected" && rejected[0].reason).toMatch(/JSON/)
      expect(rejected[1]._tag === "Rejected" && rejected[1].reason).toMatch(/author/)
    })
  )

  it.effect("a line that is JSON but not an object is refused as a line, not as a body", () =>
    Effect.gen(function* () {
      const out = yield* Stream.make({ line: 3, text: "[1, 2]" }).pipe(validate, Stream.runCollect)
      const [rejected] = Chunk.toReadonlyArray(out)
      expect(rejected._tag === "Rejected" && rejected.details).toEqual([{ field: "(line)", message: "a conversation must be a JSON object" }])
      expect(rejected._tag === "Rejected" && rejected.reason).toBe("(line): a conversation must be a JSON object")
    })
  )
})
