/** Reading ingestion bodies: shared by the HttpApi handlers and the hot ingest route. */
import { Either } from "effect"
import { isUtf8 } from "node:buffer"
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http"
import { Conflict, drainingRefusal, type FieldIssue, InvalidInput, PayloadTooLarge, type Unavailable, UnsupportedMediaType } from "../domain/errors.js"
import { describeIssues, type RawItem, validateSubmission } from "../stages/validate.js"
import { jsonArrayElements } from "./jsonArrayElements.js"

export type BodyKind = "json" | "ndjson"

/** Bodies up to this size are ordinary single conversations (no shared memory budget). */
export const SMALL_BODY_BYTES = 64 * 1024

/** A Content-Type read as JSON; a missing one too (the body still has to parse). */
export const isJsonMediaType = (contentType: string | undefined): boolean => {
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase()
  return type === "" || type === "application/json" || type.endsWith("+json")
}

/** The `charset` parameter of a Content-Type, lowercased, if any. */
const charsetOf = (contentType: string | undefined): string | undefined =>
  contentType === undefined || !contentType.includes(";") ? undefined : /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType)?.[1].toLowerCase()

/** No charset, or UTF-8 (the only one JSON is read in, RFC 8259 §8.1). */
const isUtf8Charset = (charset: string | undefined): boolean => charset === undefined || charset === "utf-8" || charset === "utf8"

/**
 * Why a body sent with these headers cannot be read as JSON text, if it cannot: compressed (it
 * would be read as invalid UTF-8), or declared in another charset (it would be misread).
 */
export const unreadableEncoding = (headers: IncomingHttpHeaders): UnsupportedMediaType | undefined => {
  const encoding = (headers["content-encoding"] ?? "identity").trim().toLowerCase()
  if (encoding !== "identity" && encoding !== "") {
    return new UnsupportedMediaType({ message: `Content-Encoding ${encoding} is not supported; send the body uncompressed` })
  }
  const charset = charsetOf(headers["content-type"])
  return isUtf8Charset(charset) ? undefined : new UnsupportedMediaType({ message: `charset ${charset} is not supported; JSON is read as UTF-8` })
}

/** A body declared larger than `limit` (refused before it is read). */
export const declaredTooLarge = (declared: number, limit: number): PayloadTooLarge =>
  new PayloadTooLarge({ message: `request body is ${declared} bytes; the limit is ${limit}`, limit_bytes: limit })

export type BodyReadError = PayloadTooLarge | InvalidInput | Unavailable

/** How long the rest of a refused body is read and dropped before its connection is closed anyway. */
const LINGER_MS = 5_000

/**
 * The rest of this request's body will not be used, so its connection cannot carry another
 * request: the answer says `Connection: close` (left open, a keep-alive client sent its next
 * request on it, and that request waited forever). Closing at once is not right either: the
 * client is usually still sending, and a socket closed with unread data is reset, which threw
 * away the answer before the client read it (fetch: "EPIPE", in about half the runs). So the
 * close lingers (RFC 9112 §9.6): the answer goes out and our side is shut, the rest of the body
 * is read and dropped, and the socket closes once the client closes its side, or after LINGER_MS.
 */
export const closeAfterAnswer = (response: ServerResponse): void => {
  if (response.headersSent) return
  response.setHeader("connection", "close")
  const request = response.req
  const socket = request.socket
  // Node destroys a `Connection: close` socket as soon as the answer is written (destroySoon);
  // ending it is what Node itself does with a socket that has no destroySoon.
  socket.destroySoon = () => {
    socket.end()
  }
  request.resume()
  const timer = setTimeout(() => socket.destroy(), LINGER_MS)
  timer.unref()
  socket.once("close", () => clearTimeout(timer))
}

const notUtf8 = () =>
  new InvalidInput({
    message: "body is not valid UTF-8 (JSON must be sent as UTF-8)",
    details: [{ field: "(body)", message: "not valid UTF-8" }]
  })

/**
 * Reads a Node request body as text with plain callbacks, refusing more than `limit` bytes (413)
 * while reading and a body still arriving when draining starts (503) rather than waiting for it.
 * `done` runs once; the returned function stops reading (for an interrupted caller).
 * Measured: `HttpServerRequest.text` (a cached effect per request, acquire/release around a
 * stream) halved ingest throughput, and racing a draining signal cost two fibers per request.
 */
export const readNodeBody = (
  incoming: IncomingMessage,
  response: ServerResponse,
  limit: number,
  onDraining: (listener: () => void) => () => void,
  done: (result: Either.Either<string, BodyReadError>) => void
): (() => void) => {
  const chunks: Array<Buffer> = []
  let size = 0
  let unsubscribe = (): void => {}
  const cleanup = () => {
    incoming.off("data", onData)
    incoming.off("end", onEnd)
    incoming.off("error", onError)
    unsubscribe()
  }
  const onData = (chunk: Buffer) => {
    size += chunk.length
    if (size > limit) {
      cleanup()
      // The response (413) goes out; the rest of the body is dropped, then the connection closes.
      closeAfterAnswer(response)
      done(Either.left(new PayloadTooLarge({ message: `request body exceeds the limit of ${limit} bytes`, limit_bytes: limit })))
    } else chunks.push(chunk)
  }
  const onEnd = () => {
    cleanup()
    const bytes = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
    // JSON text is UTF-8 (RFC 8259 §8.1). Decoding invalid bytes would store U+FFFD in their place,
    // and `raw` would no longer be what was sent: refuse the body instead.
    if (!isUtf8(bytes)) return done(Either.left(notUtf8()))
    done(Either.right(bytes.toString("utf8")))
  }
  const onError = () => {
    cleanup()
    done(Either.left(new InvalidInput({ message: "the request body could not be read", details: [] })))
  }
  incoming.on("data", onData)
  incoming.once("end", onEnd)
  incoming.once("error", onError)
  unsubscribe = onDraining(() => {
    cleanup()
    closeAfterAnswer(response)
    done(Either.left(drainingRefusal()))
  })
  return cleanup
}

export const acceptedBody = (id: string) => ({ status: "accepted" as const, conversation_id: id, message: "Conversation queued for analysis" })

/** Whether a refused body was not JSON at all (counted as `invalid_json`, not `invalid_schema`). */
export const isUnparsableBody = (error: InvalidInput): boolean =>
  error.details.some((issue) => issue.field === "(body)" && issue.message.includes("not valid JSON"))

const invalidJson = (error: unknown) =>
  new InvalidInput({
    message: `body is not valid JSON (${(error as Error).message})`,
    details: [{ field: "(body)", message: `not valid JSON: ${(error as Error).message}` }]
  })

/**
 * A UTF-8 byte order mark is not part of the JSON text: RFC 8259 §8.1 lets a parser ignore it,
 * and Windows tools send one. (NDJSON lines are trimmed, which drops it already.)
 */
const withoutBom = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)

export const parseSingle = (body: string): Either.Either<RawItem, InvalidInput> => {
  const text = withoutBom(body)
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

export const parseBulk = (body: string, kind: BodyKind): Either.Either<ReadonlyArray<RawItem>, InvalidInput> => {
  if (kind === "ndjson") {
    const items: Array<RawItem> = []
    // Lines that are not JSON, by item index; the other lines are still checked, so that one
    // answer names every bad item (SPEC §4), not only the first line that failed to parse.
    let unparsable: Array<FieldIssue> | undefined
    const lines = body.split("\n")
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim()
      if (line === "") continue
      try {
        items.push({ json: JSON.parse(line), raw: line, line: i + 1 })
      } catch (error) {
        ;(unparsable ??= []).push({ field: "(body)", message: `line ${i + 1} is not valid JSON: ${(error as Error).message}`, index: items.length, line: i + 1 })
        items.push({ json: {}, raw: line, line: i + 1 }) // a placeholder keeps the later items' indexes
      }
    }
    if (unparsable === undefined) return Either.right(items)
    const badIndexes = new Set(unparsable.map((issue) => issue.index))
    const others = Either.match(validateSubmission(items, { bulk: true }), { onLeft: (error) => error.details, onRight: () => [] })
    const issues = [...unparsable, ...others.filter((issue) => !badIndexes.has(issue.index))].sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
    const badItems = new Set(issues.map((issue) => issue.index)).size
    return Either.left(new InvalidInput({ message: `${badItems} of ${items.length} items are invalid; nothing was stored: ${describeIssues(issues)}`, details: issues }))
  }
  const text = withoutBom(body)
  try {
    const json: unknown = JSON.parse(text)
    if (!Array.isArray(json)) {
      return Either.left(new InvalidInput({ message: "bulk body must be a JSON array of conversations (or NDJSON with Content-Type application/x-ndjson)", details: [{ field: "(body)", message: "must be a JSON array" }] }))
    }
    const texts = jsonArrayElements(text)
    // (The counts always agree for text JSON.parse accepted; the check keeps a scanner bug from
    // pairing an item with another's text.)
    return Either.right(json.map((item, index) => ({ json: item, raw: texts.length === json.length ? texts[index] : JSON.stringify(item) })))
  } catch (error) {
    return Either.left(invalidJson(error))
  }
}

/**
 * `submitted`: the ids of a bulk in request order, so each conflicting item is named by its index
 * (every one of them when an id appears more than once).
 */
export const conflictError = (conflictingIds: ReadonlyArray<string>, submitted?: ReadonlyArray<string>) => {
  const ids = [...new Set(conflictingIds)]
  const message = `conversation ${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ` and ${ids.length - 5} more` : ""} already exists with different content`
  if (submitted === undefined) return new Conflict({ message, conversation_ids: ids })
  const conflicting = new Set(ids)
  const items = submitted.flatMap((id, index) => (conflicting.has(id) ? [{ id, index }] : []))
  return new Conflict({ message, conversation_ids: items.map((item) => item.id), indexes: items.map((item) => item.index) })
}

