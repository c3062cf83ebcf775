/**
 * Server-assigned conversation ids are monotonic ULIDs: clients and the store rely on them being
 * valid ids, unique, and sorted by creation time (ORDER BY id ≈ arrival order), even when many are
 * made within one millisecond or the clock steps back.
 */
import { afterEach, describe, expect, it, vi } from "vitest"
import { CONVERSATION_ID_PATTERN, newConversationId } from "../../src/domain/conversation.js"

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
const decode = (digits: string): bigint => [...digits].reduce((n, c) => n * 32n + BigInt(ALPHABET.indexOf(c)), 0n)
const timeOf = (id: string): number => Number(decode(id.slice(5, 15)))
const randomOf = (id: string): bigint => decode(id.slice(15))

afterEach(() => {
  vi.restoreAllMocks()
})

describe("newConversationId", () => {
  it("is conv_ + a 26-character Crockford base32 ULID carrying the current time", () => {
    const before = Date.now()
    const id = newConversationId()
    const after = Date.now()
    expect(id).toMatch(/^conv_[0-9A-HJKMNP-TV-Z]{26}$/)
    expect(id).toMatch(CONVERSATION_ID_PATTERN)
    expect(timeOf(id)).toBeGreaterThanOrEqual(before)
    expect(timeOf(id)).toBeLessThanOrEqual(after)
  })

  it("gives 100,000 ids in a row that are unique and strictly increasing", () => {
    let previous = newConversationId()
    const seen = new Set([previous])
    for (let i = 0; i < 100_000; i++) {
      const id = newConversationId()
      expect(id > previous).toBe(true)
      seen.add(id)
      previous = id
    }
    expect(seen.size).toBe(100_001)
  })

  it("within one millisecond adds exactly one to the random part, carrying across digits", () => {
    const now = Date.now() + 10_000
    vi.spyOn(Date, "now").mockReturnValue(now)
    let previous = newConversationId()
    for (let i = 0; i < 2_000; i++) {
      const id = newConversationId()
      expect(timeOf(id)).toBe(now)
      expect(randomOf(id)).toBe(randomOf(previous) + 1n)
      previous = id
    }
  })

  it("keeps increasing when the clock steps back, on the last time seen", () => {
    const now = Date.now() + 20_000
    const clock = vi.spyOn(Date, "now").mockReturnValue(now)
    const first = newConversationId()
    clock.mockReturnValue(now - 5_000)
    const second = newConversationId()
    expect(second > first).toBe(true)
    expect(timeOf(second)).toBe(now)
    clock.mockReturnValue(now + 1)
    const third = newConversationId()
    expect(timeOf(third)).toBe(now + 1)
    expect(third > second).toBe(true)
  })
})
