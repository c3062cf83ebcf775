/**
 * Conversations: what clients submit (ConversationInput), what the store keeps (Conversation).
 * SPEC §3. Input is decoded with these schemas everywhere (HTTP, stdin, stage commands).
 */
import { ParseResult, Schema } from "effect"
import { randomFillSync } from "node:crypto"

export const MAX_TEXT_LENGTH = 20_000
export const MAX_MESSAGES = 1_000

export const MAX_AUTHOR_LENGTH = 256
export const CONVERSATION_ID_PATTERN = /^conv_[A-Za-z0-9_-]{1,64}$/

export const ConversationId = Schema.String.pipe(
  Schema.pattern(CONVERSATION_ID_PATTERN, {
    message: () => "must be 'conv_' followed by 1 to 64 characters of [A-Za-z0-9_-]"
  }),
  Schema.brand("ConversationId")
).annotations({ identifier: "ConversationId", description: "conv_ + 1..64 of [A-Za-z0-9_-]" })
export type ConversationId = typeof ConversationId.Type

/** Crockford's base32, the ULID alphabet. */
const ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
const ID_PREFIX = "conv_"
const TIME_DIGITS = 10
const RANDOM_DIGITS = 16

/**
 * Monotonic ULIDs (48-bit millisecond time, 80 random bits; within one millisecond, or when the
 * clock steps back, the previous random part plus one), written straight into the character codes
 * of the whole id. The `ulid` package's monotonic factory builds every id character by character
 * and re-encodes the time each call: it was 14 % of what bulk ingest allocated.
 */
const idCodes = new Uint16Array(ID_PREFIX.length + TIME_DIGITS + RANDOM_DIGITS)
for (let i = 0; i < ID_PREFIX.length; i++) idCodes[i] = ID_PREFIX.charCodeAt(i)
const RANDOM_AT = ID_PREFIX.length + TIME_DIGITS
/** Random part as digit values 0..31 (what the increment works on). */
const randomDigits = new Uint8Array(RANDOM_DIGITS)
/** Cryptographic randomness drawn in blocks: one system call per 4 KiB instead of one per id. */
const randomPool = new Uint8Array(4096)
let randomPoolNext = randomPool.length
let lastIdTime = -1

const freshRandomPart = (): void => {
  if (randomPoolNext + RANDOM_DIGITS > randomPool.length) {
    randomFillSync(randomPool)
    randomPoolNext = 0
  }
  for (let i = 0; i < RANDOM_DIGITS; i++) {
    const digit = randomPool[randomPoolNext++] & 31
    randomDigits[i] = digit
    idCodes[RANDOM_AT + i] = ULID_ALPHABET.charCodeAt(digit)
  }
}

const incrementRandomPart = (): void => {
  for (let i = RANDOM_DIGITS - 1; i >= 0; i--) {
    const digit = randomDigits[i] + 1
    if (digit < 32) {
      randomDigits[i] = digit
      idCodes[RANDOM_AT + i] = ULID_ALPHABET.charCodeAt(digit)
      return
    }
    randomDigits[i] = 0
    idCodes[RANDOM_AT + i] = ULID_ALPHABET.charCodeAt(0)
  }
  // 2^80 ids within one millisecond: not reachable, but never hand out a smaller id.
  throw new Error("conversation id space exhausted for this millisecond")
}

/** Server-assigned ids sort by creation time (ULID), so `ORDER BY id` is roughly arrival order. */
export const newConversationId = (): ConversationId => {
  const now = Date.now()
  if (now > lastIdTime) {
    lastIdTime = now
    let time = now
    for (let i = TIME_DIGITS - 1; i >= 0; i--) {
      const digit = time % 32
      idCodes[ID_PREFIX.length + i] = ULID_ALPHABET.charCodeAt(digit)
      time = (time - digit) / 32
    }
    freshRandomPart()
  } else {
    incrementRandomPart()
  }
  return String.fromCharCode.apply(null, idCodes as unknown as Array<number>) as ConversationId
}

// RFC 3339 allows a lower-case t and z; a space for the T is common (SQL, logs).
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/
/** UTC with seconds, the common form (and toUtcIso's own output): normalised without Date. */
const UTC_WITH_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

const digitsAt = (value: string, start: number, count: number): number => {
  let n = 0
  for (let i = start; i < start + count; i++) n = n * 10 + value.charCodeAt(i) - 48
  return n
}

/**
 * Whether the date and clock fields exist as written (checked on an ISO_8601 match). Date.parse
 * would roll `02-30` over to March 2 and `24:00` to the next day instead of rejecting them.
 */
const fieldsExist = (value: string): boolean => {
  const year = digitsAt(value, 0, 4)
  const month = digitsAt(value, 5, 2)
  const day = digitsAt(value, 8, 2)
  if (month < 1 || month > 12 || day < 1) return false
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1])) return false
  if (value.length <= 10) return true
  const seconds = value.charCodeAt(16) === 58 /* ':' */ ? digitsAt(value, 17, 2) : 0
  return digitsAt(value, 11, 2) <= 23 && digitsAt(value, 14, 2) <= 59 && seconds <= 59
}

/** 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the UTC range with four-digit years. */
const FIRST_UTC_MILLIS = -62_167_219_200_000
const LAST_UTC_MILLIS = 253_402_300_799_999

/** Normalises any ISO-8601 date or date-time to a UTC ISO string; no offset means UTC. */
export const toUtcIso = (value: string): string | undefined => {
  if (UTC_WITH_SECONDS.test(value)) {
    if (!fieldsExist(value)) return undefined
    if (value.length === 24) return value
    // Milliseconds truncated, as Date.parse does.
    return `${value.slice(0, 19)}.${`${value.slice(20, -1)}000`.slice(0, 3)}Z`
  }
  if (!ISO_8601.test(value) || !fieldsExist(value)) return undefined
  const hasTime = value.length > 10
  const hasOffset = /(?:Z|z|[+-]\d{2}(?::?\d{2})?)$/.test(value.slice(10))
  const dateTime = hasTime ? `${value.slice(0, 10)}T${value.slice(11)}` : value
  const normalised = !hasTime ? `${value}T00:00:00Z` : hasOffset ? dateTime : `${dateTime}Z`
  const millis = Date.parse(normalised.replace(/([+-]\d{2})(\d{2})$/, "$1:$2"))
  // An offset can carry 9999-12-31 past the last (or 0000-01-01 before the first) four-digit UTC
  // year, where toISOString writes `+010000-…`: not ISO-8601 as stored, and it sorts wrongly.
  return Number.isNaN(millis) || millis < FIRST_UTC_MILLIS || millis > LAST_UTC_MILLIS ? undefined : new Date(millis).toISOString()
}

/**
 * For a time bound of a query: like toUtcIso, but a time between two milliseconds is rounded up,
 * not down. Stored times have millisecond precision, so `t >= start` and `t < end` hold for a
 * stored t exactly when they hold with the bound rounded up: `end_time=…00:30:00.0001Z` must
 * include a conversation at 00:30:00.000, and truncated to .000 it did not.
 */
export const toUtcIsoBound = (value: string): string | undefined => {
  const iso = toUtcIso(value)
  const fraction = /[Tt ]\d{2}:\d{2}:\d{2}\.(\d+)/.exec(value)?.[1] ?? ""
  if (iso === undefined || !/[1-9]/.test(fraction.slice(3))) return iso
  const millis = Date.parse(iso) + 1
  // Past the last millisecond of year 9999 nothing is stored anyway: the bound as truncated.
  return millis > LAST_UTC_MILLIS ? iso : new Date(millis).toISOString()
}

/** An ISO-8601 string decoded to a normalised UTC ISO string by `normalise` (undefined: refused). */
const isoDateTime = (normalise: (value: string) => string | undefined, identifier: string) =>
  Schema.transformOrFail(Schema.String.annotations({ description: "ISO-8601 date-time (UTC when no offset)" }), Schema.String, {
    strict: true,
    decode: (value, _, ast) => {
      const iso = normalise(value)
      return iso === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, value, "must be an ISO-8601 date-time, e.g. 2024-05-01T12:00:00Z"))
        : ParseResult.succeed(iso)
    },
    encode: ParseResult.succeed
  }).annotations({ identifier })

/** ISO-8601 string in, normalised UTC ISO string out (`2024-01-02T03:04:05.000Z`). */
export const Timestamp = isoDateTime(toUtcIso, "Timestamp")

/** A query's time bound (`start_time`, `end_time`): as Timestamp, sub-millisecond times rounded up. */
export const TimeBound = isoDateTime(toUtcIsoBound, "TimeBound")

/**
 * A thread's text, derived when a conversation gives only `messages`: the messages one per line,
 * cut to MAX_TEXT_LENGTH (ending "…") so a derived text keeps the limit a given one must keep
 * (three 15,000-character messages made 45,002). The messages themselves are stored whole.
 */
export const threadText = (texts: ReadonlyArray<string>): string => {
  const joined = texts.join("\n")
  if (withinCharacters(joined, MAX_TEXT_LENGTH)) return joined
  // Counted in code points, as the limit is (an emoji is one character), never splitting a pair.
  let end = 0
  for (let characters = 0; characters < MAX_TEXT_LENGTH - 1; characters++) {
    const code = joined.charCodeAt(end)
    end += code >= 0xd800 && code <= 0xdbff && end + 1 < joined.length ? 2 : 1
  }
  return `${joined.slice(0, end)}…`
}

/**
 * Whether `text` has at most `max` characters, counted as Unicode code points (as JSON Schema's
 * maxLength counts them), not UTF-16 units: an emoji is one character, not two.
 */
export const withinCharacters = (text: string, max: number): boolean => {
  if (text.length <= max) return true
  let characters = text.length
  for (let i = 1; i < text.length; i++) {
    const code = text.charCodeAt(i)
    // A low surrogate right after a high one is the second half of one character.
    if (code >= 0xdc00 && code <= 0xdfff) {
      const before = text.charCodeAt(i - 1)
      if (before >= 0xd800 && before <= 0xdbff) characters--
    }
  }
  return characters <= max
}

/**
 * A UTF-16 surrogate without its pair (JSON lets `\ud800` through): not a character, and SQLite
 * would store it as invalid UTF-8, read back as U+FFFD, so the stored text would differ from `raw`.
 */
const LONE_SURROGATE = /\p{Cs}/u
export const isWellFormedText = (text: string): boolean => !LONE_SURROGATE.test(text)

const NonBlank = (max: number, what: string) =>
  Schema.String.pipe(
    Schema.filter((s) => s.trim().length > 0 || `${what} must not be empty or only whitespace`),
    Schema.filter((s) => isWellFormedText(s) || `${what} must be valid Unicode text (it holds an unpaired UTF-16 surrogate, e.g. \\ud800)`),
    Schema.filter((s) => withinCharacters(s, max) || `${what} must be at most ${max} characters`, { jsonSchema: { maxLength: max } })
  )

export const Message = Schema.Struct({
  author: NonBlank(MAX_AUTHOR_LENGTH, "author"),
  text: NonBlank(MAX_TEXT_LENGTH, "text"),
  timestamp: Timestamp,
  inbound: Schema.optionalWith(Schema.Boolean, { exact: true })
  // Other fields are accepted (and kept in `raw`): the OpenAPI document must not say otherwise.
}).annotations({ identifier: "Message", jsonSchema: { additionalProperties: true } })
export type Message = typeof Message.Type

export type ThreadRole = "customer" | "support"

const authorKey = (author: string): string => author.trim().replace(/^@+/, "").toLowerCase()

/**
 * Who wrote each message of a thread: `inbound` says so when given; a message without it is the
 * customer's when its author is the conversation's author (`@Ana` and `ana` alike) or wrote a
 * message marked inbound, and support's when another message is known to be the customer's.
 * Unknown (undefined) when nothing in the thread tells.
 */
export const threadRoles = (conversation: { readonly author: string; readonly messages: ReadonlyArray<Message> | null }): Array<ThreadRole | undefined> => {
  const messages = conversation.messages ?? []
  const customers = new Set([authorKey(conversation.author)])
  for (const message of messages) if (message.inbound === true) customers.add(authorKey(message.author))
  const byAuthor = messages.map((message) => (message.inbound === undefined ? customers.has(authorKey(message.author)) : message.inbound))
  const someCustomer = byAuthor.some((isCustomer) => isCustomer)
  return messages.map((message, i): ThreadRole | undefined => {
    if (message.inbound !== undefined) return message.inbound ? "customer" : "support"
    if (byAuthor[i]) return "customer"
    return someCustomer ? "support" : undefined
  })
}

export const Metadata = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  identifier: "Metadata",
  description: "any JSON object"
})

/** Said when a conversation has neither text nor messages. */
export const TEXT_OR_MESSAGES_REQUIRED = "text is required unless a non-empty messages thread is given"

/** What a client submits. Unknown top-level fields are ignored here and kept in `raw`. */
export const ConversationInput = Schema.Struct({
  id: Schema.optionalWith(ConversationId, { exact: true }),
  text: Schema.optionalWith(NonBlank(MAX_TEXT_LENGTH, "text"), { exact: true }),
  author: NonBlank(MAX_AUTHOR_LENGTH, "author"),
  timestamp: Timestamp,
  messages: Schema.optionalWith(
    Schema.Array(Message).pipe(
      Schema.minItems(1, { message: () => "messages must not be empty" }),
      Schema.maxItems(MAX_MESSAGES, { message: () => `messages must hold at most ${MAX_MESSAGES} items` })
    ),
    { exact: true }
  ),
  metadata: Schema.optionalWith(Metadata, { exact: true })
}).pipe(
  Schema.filter((input) =>
    input.text !== undefined || input.messages !== undefined
      ? undefined
      : { path: ["text"], message: TEXT_OR_MESSAGES_REQUIRED }
  )
).annotations({
  identifier: "ConversationInput",
  description: "author and timestamp, and text or a non-empty messages thread (text is then derived from it); other fields are kept in raw",
  // SPEC §3: unknown top-level fields are kept in `raw`, not rejected.
  jsonSchema: { additionalProperties: true }
})
export type ConversationInput = typeof ConversationInput.Type

/** A validated conversation ready to persist: id assigned, text derived, raw kept verbatim. */
export interface NewConversation {
  readonly id: ConversationId
  readonly text: string
  readonly author: string
  readonly timestamp: string
  readonly messages: ReadonlyArray<Message> | null
  readonly metadata: Readonly<Record<string, unknown>> | null
  /** The submitted JSON exactly as received (the line or array item, re-serialised only for bulk arrays). */
  readonly raw: string
  /** Whether the client chose the id (only then can a resubmission be recognised). */
  readonly clientId: boolean
}

export const ConversationStatus = Schema.Literal("pending", "processing", "completed", "failed")
export type ConversationStatus = typeof ConversationStatus.Type

export interface Conversation {
  readonly id: ConversationId
  readonly text: string
  readonly author: string
  readonly timestamp: string
  readonly messages: ReadonlyArray<Message> | null
  readonly metadata: Readonly<Record<string, unknown>> | null
  readonly raw: string
  readonly status: ConversationStatus
  readonly attempts: number
  readonly lastError: string | null
  readonly receivedAt: string
  readonly updatedAt: string
}
