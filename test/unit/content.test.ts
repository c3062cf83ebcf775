import { describe, expect, it } from "vitest"
import { sameContent } from "../../src/domain/content.js"

// What decides between an idempotent 202 and a 409 when an id is submitted again.
describe("sameContent", () => {
  const stored = JSON.stringify({ id: "conv_a", author: "ana", timestamp: "2024-05-01T12:00:00Z", text: "hi", metadata: { tags: ["x", "y"], n: 1 } })

  it("is the same content for identical bytes, other key order or other spacing", () => {
    expect(sameContent(stored, stored)).toBe(true)
    const reordered = JSON.stringify({ text: "hi", metadata: { n: 1, tags: ["x", "y"] }, timestamp: "2024-05-01T12:00:00Z", author: "ana", id: "conv_a" })
    expect(sameContent(stored, reordered)).toBe(true)
    expect(sameContent(stored, JSON.stringify(JSON.parse(stored), null, 2))).toBe(true)
  })

  it("is the same content when a time is the same instant written another way, in the conversation or a message", () => {
    const withThread = (timestamp: string, messageTime: string) =>
      JSON.stringify({ id: "conv_t", author: "ana", timestamp, messages: [{ author: "ana", text: "hi", timestamp: messageTime }] })
    const first = withThread("2024-05-01T12:00:00Z", "2024-05-01T12:05:00Z")
    expect(sameContent(first, withThread("2024-05-01T12:00:00.000Z", "2024-05-01T14:05:00+02:00"))).toBe(true)
    expect(sameContent(first, withThread("2024-05-01T12:00:01Z", "2024-05-01T12:05:00Z"))).toBe(false)
    expect(sameContent(first, withThread("2024-05-01T12:00:00Z", "2024-05-01T12:05:00+01:00"))).toBe(false)
    // Only times are read as times: the same text in metadata stays text.
    const meta = (when: string) => JSON.stringify({ id: "conv_m", author: "ana", timestamp: "2024-05-01T12:00:00Z", text: "hi", metadata: { when } })
    expect(sameContent(meta("2024-05-01T12:00:00Z"), meta("2024-05-01T12:00:00.000Z"))).toBe(false)
  })

  it("is different content when any value, array order or extra field differs", () => {
    const base = JSON.parse(stored) as Record<string, unknown>
    expect(sameContent(stored, JSON.stringify({ ...base, text: "hi!" }))).toBe(false)
    expect(sameContent(stored, JSON.stringify({ ...base, metadata: { tags: ["y", "x"], n: 1 } }))).toBe(false)
    expect(sameContent(stored, JSON.stringify({ ...base, extra: true }))).toBe(false)
    expect(sameContent(stored, JSON.stringify({ ...base, metadata: { tags: ["x", "y"], n: "1" } }))).toBe(false)
  })

  it("never calls a stored row that is not JSON the same content", () => {
    expect(sameContent("not json", stored)).toBe(false)
    expect(sameContent("", stored)).toBe(false)
  })
})
