/**
 * Stage `validate`: raw JSON in, validated conversations out (SPEC §3). The same decoding serves
 * HTTP bodies, stdin lines and the `insightd validate` command, so every source reports the same
 * field-naming errors.
 */
import { Either, Option, ParseResult, Schema, Stream } from "effect"
import {
  CONVERSATION_ID_PATTERN,
  type ConversationId,
  ConversationInput,
  MAX_AUTHOR_LENGTH,
  MAX_MESSAGES,
  MAX_TEXT_LENGTH,
  threadText,
  type Message,
  newConversationId,
  type NewConversation,
  isWellFormedText,
  TEXT_OR_MESSAGES_REQUIRED,
  toUtcIso,
  withinCharacters
} from "../domain/conversation.js"
import { sameContent } from "../domain/content.js"
import { type FieldIssue, InvalidInput } from "../domain/errors.js"
import type { Submission } from "../store/Store.js"

/** One submitted JSON value and the text it came from. */
export interface RawItem {
  readonly json: unknown
  readonly raw: string
  /** Its line in an NDJSON body (1-based, blank lines counted): named in its issues with the index. */
  readonly line?: number
}

/** One line of JSONL input (1-based line number). */
export interface InputLine {
  readonly line: number
  readonly text: string
  /**
   * Why the line cannot be read as text (not valid UTF-8, too long): refused by its number, never
   * stored. Its `text` is then a stand-in (U+FFFD for bad bytes, or empty).
   */
  readonly unreadable?: string
}

export type ValidatedLine =
  | { readonly _tag: "Valid"; readonly line: number; readonly conversation: NewConversation }
  | { readonly _tag: "Rejected"; readonly line: number; readonly reason: string; readonly details: ReadonlyArray<FieldIssue> }

// Valid input (the common case) decodes on the fast first-error path; only a rejected one is
// decoded again collecting every issue for the error body.
const decodeFirst = Schema.decodeUnknownEither(ConversationInput, { onExcessProperty: "ignore" })
const decodeAll = Schema.decodeUnknownEither(ConversationInput, { errors: "all", onExcessProperty: "ignore" })

/** Schema identifiers as a client would say them ("must be a Message" means nothing to one). */
const SCHEMA_NAMES: Readonly<Record<string, string>> = {
  Boolean: "boolean",
  Message: "message object ({author, text, timestamp, inbound?})",
  Metadata: "JSON object"
}

/** Turns Schema's wording into the field-naming sentences clients see. */
const humanMessage = (field: string, message: string): string => {
  if (message === "is missing") return `${field} is required`
  const mismatch = /^Expected (\w+), actual (.*)$/s.exec(message)
  if (mismatch !== null) {
    const expected = SCHEMA_NAMES[mismatch[1]] ?? mismatch[1]
    return `${field} must be ${/^[aeiou]/.test(expected) ? "an" : "a"} ${expected} (got ${mismatch[2].slice(0, 60)})`
  }
  if (message.startsWith("Expected { readonly [x: string]: unknown }")) return `${field} must be a JSON object`
  if (message.startsWith("Expected ReadonlyArray")) return `${field} must be an array`
  return message
}

const issuesOf = (error: ParseResult.ParseError): Array<FieldIssue> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => {
    const field = issue.path.length === 0 ? "(body)" : issue.path.join(".")
    return { field, message: humanMessage(field, issue.message) }
  })

/** Human summary naming the fields, e.g. `timestamp: must be an ISO-8601 date-time`. */
export const describeIssues = (issues: ReadonlyArray<FieldIssue>): string =>
  issues
    .slice(0, 5)
    .map((issue) => {
      const where = issue.index !== undefined ? `item ${issue.index}: ` : issue.line !== undefined ? `line ${issue.line}: ` : ""
      return issue.message.startsWith(issue.field) ? `${where}${issue.message}` : `${where}${issue.field}: ${issue.message}`
    })
    .join("; ") + (issues.length > 5 ? `; and ${issues.length - 5} more` : "")

/** Deepest nesting accepted: recursive code (comparing content, storing) must never overflow the stack. */
export const MAX_JSON_DEPTH = 64

/** Whether a JSON value nests deeper than `limit` levels (the recursion stops at the limit). */
const nestedDeeperThan = (value: unknown, limit: number): boolean => {
  if (value === null || typeof value !== "object") return false
  if (limit === 0) return true
  if (Array.isArray(value)) {
    for (const child of value) if (nestedDeeperThan(child, limit - 1)) return true
    return false
  }
  for (const key in value) if (nestedDeeperThan((value as Record<string, unknown>)[key], limit - 1)) return true
  return false
}

const isNonBlank = (value: unknown, max: number): value is string =>
  typeof value === "string" && withinCharacters(value, max) && value.trim().length > 0 && isWellFormedText(value)

/** A JSON object (not an array, not null) without an own `__proto__` key (left to the Schema). */
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value) && !Object.hasOwn(value, "__proto__")

/** A `messages` array of plain messages (author, text, timestamp, inbound? and nothing else), decoded; undefined when in doubt. */
const decodePlainMessages = (value: unknown): Array<Message> | undefined => {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_MESSAGES) return undefined
  const messages = new Array<Message>(value.length)
  for (let i = 0; i < value.length; i++) {
    const message: unknown = value[i]
    if (!isPlainObject(message)) return undefined
    for (const key in message) if (key !== "author" && key !== "text" && key !== "timestamp" && key !== "inbound") return undefined
    const { author, inbound, text, timestamp } = message
    if (!isNonBlank(author, MAX_AUTHOR_LENGTH) || !isNonBlank(text, MAX_TEXT_LENGTH) || typeof timestamp !== "string") return undefined
    const iso = toUtcIso(timestamp)
    if (iso === undefined) return undefined
    if (typeof inbound === "boolean") messages[i] = { author, text, timestamp: iso, inbound }
    else if ("inbound" in message) return undefined
    else messages[i] = { author, text, timestamp: iso }
  }
  return messages
}

/**
 * The common shapes — `author`, `timestamp`, `text` and/or `messages`, optionally `id` and
 * `metadata`, nothing else — checked directly: Schema decoding was ~13 % of what single-POST
 * ingest allocated and 16 % of `insightd store`'s time on imported threads. Anything else, or
 * anything in doubt, returns undefined and goes through the ConversationInput schema, which stays
 * the contract; a property test (test/stages/validate-plain.test.ts) holds both to the same answers.
 */
export const decodePlainConversation = (json: object): ConversationInput | undefined => {
  for (const key in json) {
    if (key !== "author" && key !== "timestamp" && key !== "text" && key !== "id" && key !== "messages" && key !== "metadata") return undefined
  }
  const { author, id, messages, metadata, text, timestamp } = json as Record<string, unknown>
  if (!isNonBlank(author, MAX_AUTHOR_LENGTH) || typeof timestamp !== "string") return undefined
  // text may be left out only when messages are given (they make it).
  if (text === undefined ? "text" in json || messages === undefined : !isNonBlank(text, MAX_TEXT_LENGTH)) return undefined
  if (id !== undefined && !(typeof id === "string" && CONVERSATION_ID_PATTERN.test(id))) return undefined
  const iso = toUtcIso(timestamp)
  if (iso === undefined) return undefined
  const input: { -readonly [K in keyof ConversationInput]: ConversationInput[K] } = { author, timestamp: iso }
  if (id !== undefined) input.id = id as ConversationId
  if (typeof text === "string") input.text = text
  if (messages !== undefined || "messages" in json) {
    const decoded = decodePlainMessages(messages)
    if (decoded === undefined) return undefined
    input.messages = decoded
  }
  if (metadata !== undefined || "metadata" in json) {
    // metadata sits one level down: the same depth limit as for the whole body.
    if (!isPlainObject(metadata) || nestedDeeperThan(metadata, MAX_JSON_DEPTH - 1)) return undefined
    input.metadata = metadata
  }
  return input
}

const toNewConversation = (input: ConversationInput, raw: string): NewConversation => ({
  id: input.id ?? newConversationId(),
  clientId: input.id !== undefined,
  text: input.text ?? threadText((input.messages ?? []).map((message) => message.text)),
  author: input.author,
  timestamp: input.timestamp,
  messages: input.messages ?? null,
  metadata: input.metadata ?? null,
  raw
})

const OPTIONAL_FIELDS = ["id", "text", "messages", "metadata"] as const

/**
 * An optional field given as null counts as left out: GET answers `"messages": null,
 * "metadata": null`, and a client that sends back what it read must not get a 400 for it. (`raw`
 * keeps the nulls: it is the submission as received.)
 */
const withoutNullOptionals = (json: object): object => {
  const fields = json as Record<string, unknown>
  if (!OPTIONAL_FIELDS.some((field) => fields[field] === null)) return json
  const copy: Record<string, unknown> = {}
  for (const key in fields) if (!(fields[key] === null && (OPTIONAL_FIELDS as ReadonlyArray<string>).includes(key))) copy[key] = fields[key]
  return copy
}

/** One conversation decoded, or the issues found (an array): no Either per item on the bulk path. */
const checkConversation = (item: RawItem): NewConversation | ReadonlyArray<FieldIssue> => {
  if (item.json === null || typeof item.json !== "object" || Array.isArray(item.json)) {
    return [{ field: "(body)", message: "a conversation must be a JSON object" }]
  }
  const given = withoutNullOptionals(item.json)
  const plain = decodePlainConversation(given)
  if (plain !== undefined) return toNewConversation(plain, item.raw)
  if (nestedDeeperThan(given, MAX_JSON_DEPTH)) {
    return [{ field: "(body)", message: `JSON is nested more than ${MAX_JSON_DEPTH} levels deep` }]
  }
  const first = decodeFirst(given)
  if (Either.isRight(first)) return toNewConversation(first.right, item.raw)
  const issues = issuesOf(Either.getLeft(decodeAll(given)).pipe(Option.getOrElse(() => first.left)))
  // The schema checks "text or messages" only once every field decodes, so a body that also
  // lacks both would be fixed field by field and refused again: name it with the others.
  const json = given as Record<string, unknown>
  if (json.text === undefined && json.messages === undefined && !issues.some((issue) => issue.field === "text")) {
    issues.push({ field: "text", message: TEXT_OR_MESSAGES_REQUIRED })
  }
  return issues
}

const isIssues = (checked: NewConversation | ReadonlyArray<FieldIssue>): checked is ReadonlyArray<FieldIssue> => Array.isArray(checked)

/** Decodes one conversation; assigns a sortable id when the client gave none. */
export const validateConversation = (item: RawItem): Either.Either<NewConversation, ReadonlyArray<FieldIssue>> => {
  const checked = checkConversation(item)
  return isIssues(checked) ? Either.left(checked) : Either.right(checked)
}

/** Validates a whole request: every item valid, or an error naming each bad item's index and field. */
export const validateSubmission = (
  items: ReadonlyArray<RawItem>,
  options: { readonly bulk: boolean }
): Either.Either<Submission, InvalidInput> => {
  const conversations: Array<NewConversation> = []
  const issues: Array<FieldIssue> = []
  /** Client ids seen in this request, with their item: the same id twice must be the same conversation. */
  let seen: Map<string, { readonly index: number; readonly raw: string }> | undefined
  for (let index = 0; index < items.length; index++) {
    const checked = checkConversation(items[index])
    if (isIssues(checked)) {
      const line = items[index].line
      for (const issue of checked) issues.push(options.bulk ? (line === undefined ? { ...issue, index } : { ...issue, index, line }) : issue)
      continue
    }
    if (checked.clientId) {
      const first = (seen ??= new Map()).get(checked.id)
      if (first === undefined) seen.set(checked.id, { index, raw: checked.raw })
      else if (!sameContent(first.raw, checked.raw)) {
        // Not a conflict with what is stored (409): the request contradicts itself.
        const line = items[index].line
        issues.push({ field: "id", message: `id ${checked.id} is also item ${first.index}'s, with different content`, index, ...(line === undefined ? {} : { line }) })
        continue
      }
    }
    conversations.push(checked)
  }
  if (issues.length === 0) return Either.right({ conversations })
  const message = options.bulk
    ? `${new Set(issues.map((issue) => issue.index)).size} of ${items.length} items are invalid; nothing was stored: ${describeIssues(issues)}`
    : describeIssues(issues)
  return Either.left(new InvalidInput({ message, details: issues }))
}

/** Parses one JSONL line and validates it. Blank lines are not conversations and yield nothing. */
export const validateLine = (input: InputLine): ValidatedLine | undefined => {
  if (input.unreadable !== undefined) {
    return { _tag: "Rejected", line: input.line, reason: input.unreadable, details: [{ field: "(line)", message: input.unreadable, line: input.line }] }
  }
  const text = input.text.trim()
  if (text === "") return undefined
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    const reason = `not valid JSON (${(error as Error).message})`
    return { _tag: "Rejected", line: input.line, reason, details: [{ field: "(line)", message: reason, line: input.line }] }
  }
  return Either.match(validateConversation({ json, raw: text }), {
    onLeft: (issues) => {
      // A line is not a request body: a problem with the whole of it is the line's.
      const details = issues.map((issue) => (issue.field === "(body)" ? { ...issue, field: "(line)" } : issue))
      return { _tag: "Rejected", line: input.line, reason: describeIssues(details), details }
    },
    onRight: (conversation) => ({ _tag: "Valid", line: input.line, conversation })
  })
}

/** The stage: JSONL lines in, each line validated or rejected with its line number and reason. */
export const validate = <E, R>(lines: Stream.Stream<InputLine, E, R>): Stream.Stream<ValidatedLine, E, R> =>
  Stream.filterMap(lines, (line) => Option.fromNullable(validateLine(line)))
