/**
 * Content identity for idempotent resubmission (SPEC §4: the same id with the same content is a
 * 202, different content a 409). It is only asked when an id arrives a second time, which is rare,
 * so nothing is computed per conversation on the way in: identical raw JSON is the same content;
 * otherwise both sides are compared as canonical JSON (object keys sorted, whitespace ignored, times
 * as UTC), so a client that re-serialises its body in another key order or date format is still
 * recognised.
 */
import { createHash } from "node:crypto"
import { type NewConversation, toUtcIso } from "./conversation.js"

/** JSON with object keys sorted. Inputs passed validation's depth limit, so recursion is bounded. */
const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  const keys = Object.keys(value).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`).join(",")}}`
}

/**
 * The conversation's times as the store keeps them (UTC ISO-8601): `12:00:00Z`, `12:00:00.000Z`
 * and `14:00:00+02:00` are one instant, so a client that re-serialises its dates differently is
 * resubmitting, not conflicting. Only the fields the data model reads as times; a value that is
 * not a time stays as written.
 */
const withUtcTimes = (value: unknown): unknown => {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value
  const record = value as Record<string, unknown>
  const utc = (time: unknown) => (typeof time === "string" ? (toUtcIso(time) ?? time) : time)
  const messages = Array.isArray(record.messages)
    ? record.messages.map((message: unknown) =>
        message !== null && typeof message === "object" && !Array.isArray(message) && "timestamp" in message
          ? { ...(message as Record<string, unknown>), timestamp: utc((message as Record<string, unknown>).timestamp) }
          : message
      )
    : record.messages
  return { ...record, ...("timestamp" in record ? { timestamp: utc(record.timestamp) } : {}), ...("messages" in record ? { messages } : {}) }
}

const canonicalOf = (raw: string): string | undefined => {
  try {
    return canonicalJson(withUtcTimes(JSON.parse(raw)))
  } catch {
    // Not JSON (a row written around the Store): it cannot be shown to be the same content.
    return undefined
  }
}

/** Whether two submissions (their raw JSON) carry the same content. */
export const sameContent = (storedRaw: string, submittedRaw: string): boolean => {
  if (storedRaw === submittedRaw) return true
  const stored = canonicalOf(storedRaw)
  return stored !== undefined && stored === canonicalOf(submittedRaw)
}

/**
 * A short digest of a validated conversation's content (times already UTC, metadata keys sorted),
 * for a run that meets the same id twice without a database to compare with (`insightd analyze`):
 * equal digests are a resubmission of the same content, as `sameContent` would find.
 */
export const contentDigest = (conversation: NewConversation): string =>
  createHash("sha1")
    .update(canonicalJson([conversation.text, conversation.author, conversation.timestamp, conversation.messages, conversation.metadata]))
    .digest("base64")
    .slice(0, 16)
