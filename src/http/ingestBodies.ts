/** Reading ingestion bodies: shared by the HttpApi handlers and the hot ingest route. */
import { Either } from "effect"
import { Conflict, InvalidInput } from "../domain/errors.js"
import type { RawItem } from "../stages/validate.js"

export type BodyKind = "json" | "ndjson"

/** Bodies up to this size are ordinary single conversations (no shared memory budget). */
export const SMALL_BODY_BYTES = 64 * 1024

export const acceptedBody = (id: string) => ({ status: "accepted" as const, conversation_id: id, message: "Conversation queued for analysis" })

const invalidJson = (error: unknown, where?: { index: number; line: number }) =>
  new InvalidInput({
    message: `${where ? `line ${where.line}: ` : ""}body is not valid JSON (${(error as Error).message})`,
    details: [{ field: "(body)", message: `not valid JSON: ${(error as Error).message}`, ...(where ?? {}) }]
  })

export const parseSingle = (text: string): Either.Either<RawItem, InvalidInput> => {
  try {
    const json: unknown = JSON.parse(text)
    if (Array.isArray(json)) {
      return Either.left(new InvalidInput({ message: "expected one conversation object; send arrays to /api/v1/conversations/bulk", details: [{ field: "(body)", message: "must be a JSON object" }] }))
    }
    return Either.right({ json, raw: text })
  } catch (error) {
    return Either.left(invalidJson(error))
  }
}

export const parseBulk = (text: string, kind: BodyKind): Either.Either<ReadonlyArray<RawItem>, InvalidInput> => {
  if (kind === "ndjson") {
    const items: Array<RawItem> = []
    const lines = text.split("\n")
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim()
      if (line === "") continue
      try {
        items.push({ json: JSON.parse(line), raw: line })
      } catch (error) {
        return Either.left(invalidJson(error, { index: items.length, line: i + 1 }))
      }
    }
    return Either.right(items)
  }
  try {
    const json: unknown = JSON.parse(text)
    if (!Array.isArray(json)) {
      return Either.left(new InvalidInput({ message: "bulk body must be a JSON array of conversations (or NDJSON with Content-Type application/x-ndjson)", details: [{ field: "(body)", message: "must be a JSON array" }] }))
    }
    return Either.right(json.map((item) => ({ json: item, raw: JSON.stringify(item) })))
  } catch (error) {
    return Either.left(invalidJson(error))
  }
}

export const conflictError = (ids: ReadonlyArray<string>) =>
  new Conflict({
    message: `conversation ${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ` and ${ids.length - 5} more` : ""} already exists with different content`,
    conversation_ids: ids
  })

