/**
 * The model's reply is untrusted input. This module turns one chat-completions response body
 * into one result per conversation of the batch:
 *
 * - the envelope (`choices[0].message.content`, `usage`) is decoded with a Schema;
 * - the content may come fenced (```json … ```) or wrapped in prose: the JSON object is cut out;
 * - each result item is decoded with a Schema; results are matched by `conversation_id` ONLY
 *   (order means nothing). A conversation with no result, with an invalid result, or named by
 *   more than one result gets a retryable AnalysisError; results for unknown ids are ignored.
 *   Nothing is ever guessed.
 *
 * Token usage is split across the batch's conversations (see `splitUsage`).
 */
import { Either, ParseResult, Schema } from "effect"
import type { ConversationId } from "../../domain/conversation.js"
import { AnalysisError } from "../../domain/errors.js"
import { type AnalysisResult, ClusterLabel, Confidence, SentimentScore } from "../../domain/insight.js"

/** 1 USD = 10^10 ticks (`usage.cost_in_usd_ticks`). */
export const TICKS_PER_USD = 10_000_000_000

const Count = Schema.Number.pipe(Schema.nonNegative())

export const Usage = Schema.Struct({
  prompt_tokens: Schema.optional(Schema.NullOr(Count)),
  completion_tokens: Schema.optional(Schema.NullOr(Count)),
  cost_in_usd_ticks: Schema.optional(Schema.NullOr(Count))
})
export type Usage = typeof Usage.Type

/** A usage figure that is a finite count, else unknown (null). */
const countOrNull = (value: unknown): number | null => (typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : null)

/**
 * `usage` is bookkeeping, not the answer: a figure that is not a count (negative, a string) is
 * recorded as unknown rather than making the whole reply, and its valid results, unusable.
 */
const LenientUsage = Schema.transform(Schema.Unknown, Usage, {
  strict: true,
  decode: (value) => {
    const fields = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {}
    return {
      prompt_tokens: countOrNull(fields.prompt_tokens),
      completion_tokens: countOrNull(fields.completion_tokens),
      cost_in_usd_ticks: countOrNull(fields.cost_in_usd_ticks)
    }
  },
  encode: (usage) => usage
})

/** The parts of a chat-completions response that are used; everything else is kept in the raw text. */
export const CompletionEnvelope = Schema.Struct({
  choices: Schema.Array(
    Schema.Struct({
      message: Schema.Struct({ content: Schema.NullOr(Schema.String) }),
      finish_reason: Schema.optional(Schema.NullOr(Schema.String))
    })
  ).pipe(Schema.minItems(1)),
  usage: Schema.optional(Schema.NullOr(LenientUsage))
})
export type CompletionEnvelope = typeof CompletionEnvelope.Type

/**
 * Cluster labels are normalised before they are checked (`"Delivery Delay"` → `delivery_delay`);
 * repeated and empty labels are dropped and, as the prompt asks for the most important first,
 * only the first 5 are kept. No label left is invalid.
 */
export const normaliseLabel = (label: string): string =>
  label.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^[^a-z]+/, "").replace(/_+$/g, "").slice(0, 64).replace(/_+$/g, "")

const NormalisedClusters = Schema.transform(Schema.Array(Schema.String), Schema.Array(Schema.String), {
  strict: true,
  decode: (labels) => [...new Set(labels.map(normaliseLabel).filter((label) => label.length > 0))].slice(0, 5),
  encode: (labels) => labels
}).pipe(Schema.compose(Schema.Array(ClusterLabel).pipe(Schema.minItems(1, { message: () => "clusters must hold at least one label" })), { strict: false }))

/** Long reasoning is cut to the schema's 500 characters rather than thrown away. */
const Reasoning = Schema.transform(Schema.String, Schema.String.pipe(Schema.maxLength(500)), {
  strict: true,
  decode: (text) => (text.trim().length > 500 ? `${text.trim().slice(0, 499)}…` : text.trim()),
  encode: (text) => text
})

export const ResultItem = Schema.Struct({
  conversation_id: Schema.String,
  sentiment_score: SentimentScore,
  confidence: Confidence,
  clusters: NormalisedClusters,
  reasoning: Reasoning
})
export type ResultItem = typeof ResultItem.Type

const ReplyDocument = Schema.Struct({ results: Schema.Array(Schema.Unknown) })

/** The balanced `{…}` starting at `start` (strings and escapes respected), if any. */
const objectAt = (text: string, start: number): string | undefined => {
  let depth = 0
  let inString = false
  for (let i = start; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === "\\") i++
      else if (c === '"') inString = false
    } else if (c === '"') inString = true
    else if (c === "{") depth++
    else if (c === "}" && --depth === 0) return text.slice(start, i + 1)
  }
  return undefined
}

const hasResults = (value: unknown): boolean => typeof value === "object" && value !== null && !Array.isArray(value) && "results" in value

const parseOrUndefined = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

/** Top-level balanced objects in prose, at most this many looked at. */
const MAX_OBJECTS_IN_PROSE = 50

/**
 * The texts of the top-level balanced `{…}` in prose (not the objects nested in one). At most
 * MAX_OBJECTS_IN_PROSE starts are tried, unbalanced ones included: each try may scan to the end,
 * and a text full of `{` must not cost time in the square of its length.
 */
const topLevelObjectTexts = (text: string): Array<string> => {
  const texts: Array<string> = []
  for (let start = text.indexOf("{"), tried = 0; start >= 0 && tried < MAX_OBJECTS_IN_PROSE; tried++) {
    const candidate = objectAt(text, start)
    if (candidate === undefined) {
      start = text.indexOf("{", start + 1)
      continue
    }
    texts.push(candidate)
    start = text.indexOf("{", start + candidate.length)
  }
  return texts
}

/** The top-level objects in prose that parse as JSON. */
const topLevelObjects = (text: string): Array<unknown> => topLevelObjectTexts(text).flatMap((candidate) => {
  const parsed = parseOrUndefined(candidate)
  return parsed === undefined ? [] : [parsed]
})

/**
 * Cuts the answer out of a reply that may be fenced or wrapped in prose. A reply that is JSON as a
 * whole is the answer, unless a conversation carries it. Otherwise the candidates are the fenced
 * blocks and the objects in the prose that parse and hold `results`, less any the conversations
 * themselves contain (a model quoting a conversation that carries a ready-made answer must not have
 * that answer taken for its own: SPEC §5, a conversation's text cannot change another's result).
 * Exactly one must remain; two different ones are ambiguous, and the reply is retried rather than
 * guessed at. parseContent adds a per-result rule: a result another conversation names is retried alone.
 */
export const extractJson = (content: string, conversationTexts: ReadonlyArray<string> = []): Either.Either<unknown, string> => {
  // Answers the conversations carry, as data (so one quoted with other spacing is still theirs).
  const carried = new Set<string>()
  for (const text of conversationTexts) {
    if (text.includes("results")) for (const object of topLevelObjects(text)) if (hasResults(object)) carried.add(JSON.stringify(object))
  }
  // A reply that is JSON as a whole is the answer, unless a conversation carries it: a model that
  // obeyed a conversation's "answer exactly this" must not have that answer taken.
  const whole = parseOrUndefined(content.trim())
  if (whole !== undefined) {
    const isCarried = hasResults(whole) && (carried.has(JSON.stringify(whole)) || conversationTexts.some((input) => input.includes(content.trim())))
    return isCarried ? Either.left("the reply is an answer one of the conversations carries in its text") : Either.right(whole)
  }
  const found = new Map<string, unknown>()
  const consider = (text: string) => {
    const trimmed = text.trim()
    const parsed = parseOrUndefined(trimmed)
    if (!hasResults(parsed) || conversationTexts.some((input) => input.includes(trimmed))) return
    const key = JSON.stringify(parsed)
    if (!carried.has(key)) found.set(key, parsed)
  }
  const fence = /```[a-zA-Z0-9_-]*[ \t]*\r?\n?([\s\S]*?)```/g
  for (let match = fence.exec(content); match !== null; match = fence.exec(content)) consider(match[1])
  for (const candidate of topLevelObjectTexts(content)) consider(candidate)
  if (found.size === 1) return Either.right(found.values().next().value)
  if (found.size > 1) return Either.left(`the reply held ${found.size} different JSON objects with results (ambiguous)`)
  return Either.left(content.trim() === "" ? "the reply was empty" : "the reply held no JSON object with results")
}

const issueText = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return error.message
  return issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`
}

export type ItemOutcome = Either.Either<ResultItem, AnalysisError>

export interface ParsedReply {
  readonly items: ReadonlyMap<ConversationId, ItemOutcome>
  /** `conversation_id`s in the reply that are not in the batch (ignored). */
  readonly unknownIds: ReadonlyArray<string>
  /** Characters of each matched result item (the basis of the completion-token split). */
  readonly itemSizes: ReadonlyMap<ConversationId, number>
}

const retryable = (message: string) => new AnalysisError({ message, retryable: true })

const ID_CHARACTER = /[A-Za-z0-9_-]/

const codePoint = (hex: string, radix = 16): string => {
  const value = Number.parseInt(hex, radix)
  return Number.isInteger(value) && value >= 0 && value <= 0x10ffff ? String.fromCodePoint(value) : ""
}

/**
 * A text as a model may read it, for finding ids in it: the escapes a model decodes without being
 * asked (JSON's and JavaScript's `\u005f`, `\u{5f}`, `\x5f`, HTML's `&#95;`, URLs' `%5F`) decoded,
 * compatibility forms folded (NFKC: full-width `ｃｏｎｖ＿` is `conv_`), invisible characters
 * (zero-width spaces, joiners, combining marks) dropped, and case folded. A literal search missed
 * `conv\u005fvicB`, and the model obeyed it as `conv_vicB`.
 */
export const asModelReads = (text: string): string => {
  let decoded = text.normalize("NFKC")
  for (let pass = 0; pass < 3; pass++) {
    const next = decoded
      .replace(/\\+u\{([0-9a-fA-F]{1,6})\}/g, (_, hex: string) => codePoint(hex))
      .replace(/\\+u([0-9a-fA-F]{4})/g, (_, hex: string) => codePoint(hex))
      .replace(/\\+x([0-9a-fA-F]{2})/g, (_, hex: string) => codePoint(hex))
      .replace(/&#x([0-9a-fA-F]{1,6});?/g, (_, hex: string) => codePoint(hex))
      .replace(/&#([0-9]{1,7});?/g, (_, digits: string) => codePoint(digits, 10))
      .replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => codePoint(hex))
      .normalize("NFKC")
    if (next === decoded) break
    decoded = next
  }
  return decoded.replace(/[\p{Cf}\p{Mn}]/gu, "").toLowerCase()
}

/** Whether `text` contains the conversation id `id` as a whole word (`conv_1` is not in `conv_10`). */
const namesId = (text: string, id: string): boolean => {
  for (let at = text.indexOf(id); at >= 0; at = text.indexOf(id, at + 1)) {
    const before = at === 0 ? "" : text[at - 1]
    const after = text[at + id.length] ?? ""
    if (!ID_CHARACTER.test(before) && !ID_CHARACTER.test(after)) return true
  }
  return false
}

/**
 * Decodes the message content for a batch. A malformed reply yields a retryable error for all.
 * `conversationTexts` are the batch's texts as sent (see extractJson); `finishReason` says why the
 * model stopped (`length`: cut off at the token limit, which the error then says).
 */
export const parseContent = (
  content: string | null,
  batchIds: ReadonlyArray<ConversationId>,
  conversationTexts: ReadonlyArray<string> = [],
  finishReason: string | null = null,
  textsById: ReadonlyMap<ConversationId, ReadonlyArray<string>> = new Map()
): ParsedReply => {
  const allFail = (why: string): ParsedReply => ({
    items: new Map(
      batchIds.map((id) => [
        id,
        Either.left(retryable(`grok reply malformed: ${why}${finishReason === "length" ? " (the reply was cut off at the token limit: finish_reason length)" : ""}`))
      ])
    ),
    unknownIds: [],
    itemSizes: new Map()
  })
  if (content === null) return allFail("the reply had no content")
  const json = extractJson(content, conversationTexts)
  if (Either.isLeft(json)) return allFail(json.left)
  const document = Schema.decodeUnknownEither(ReplyDocument)(json.right)
  if (Either.isLeft(document)) return allFail(issueText(document.left))

  const inBatch = new Set<string>(batchIds)
  const readableTexts = new Map([...textsById].map(([id, texts]) => [id, texts.map(asModelReads)]))
  const seen = new Map<string, Array<unknown>>()
  const unknownIds: Array<string> = []
  for (const item of document.right.results) {
    const id = typeof item === "object" && item !== null && "conversation_id" in item ? (item as { conversation_id: unknown }).conversation_id : undefined
    if (typeof id !== "string" || !inBatch.has(id.trim())) {
      if (typeof id === "string") unknownIds.push(id)
      continue
    }
    const list = seen.get(id.trim()) ?? []
    list.push(item)
    seen.set(id.trim(), list)
  }

  const items = new Map<ConversationId, ItemOutcome>()
  const itemSizes = new Map<ConversationId, number>()
  for (const id of batchIds) {
    const found = seen.get(id)
    if (found === undefined) {
      items.set(id, Either.left(retryable("grok reply had no result for this conversation")))
      continue
    }
    if (found.length > 1) {
      items.set(id, Either.left(retryable(`grok reply held ${found.length} results for this conversation`)))
      continue
    }
    const decoded = Schema.decodeUnknownEither(ResultItem)(found[0])
    if (Either.isLeft(decoded)) {
      items.set(id, Either.left(retryable(`grok result invalid: ${issueText(decoded.left)}`)))
      continue
    }
    const lowerId = id.toLowerCase()
    const namedBy = batchIds.find((other) => other !== id && (readableTexts.get(other) ?? []).some((text) => namesId(text, lowerId)))
    if (namedBy !== undefined) {
      // Another conversation of the batch names this one: whatever it says about it (a forged
      // answer, an instruction) may have steered this result. Asked again alone, it cannot.
      items.set(id, Either.left(retryable(`grok result not trusted: conversation ${namedBy} in the same call names this conversation's id`)))
      continue
    }
    items.set(id, Either.right(decoded.right))
    itemSizes.set(id, JSON.stringify(found[0]).length)
  }
  return { items, unknownIds, itemSizes }
}

/** Splits `total` into integer parts proportional to `weights` (largest remainder), summing to `total`. */
export const apportion = <K>(total: number, weights: ReadonlyMap<K, number>): Map<K, number> => {
  const keys = [...weights.keys()]
  const result = new Map<K, number>()
  if (keys.length === 0) return result
  const sum = keys.reduce((acc, key) => acc + Math.max(0, weights.get(key) ?? 0), 0)
  const shareOf = (key: K) => (sum > 0 ? (total * Math.max(0, weights.get(key) ?? 0)) / sum : total / keys.length)
  let assigned = 0
  const remainders = keys.map((key) => {
    const exact = shareOf(key)
    const floor = Math.floor(exact)
    result.set(key, floor)
    assigned += floor
    return { key, remainder: exact - floor }
  })
  remainders.sort((a, b) => b.remainder - a.remainder)
  for (let i = 0; i < Math.round(total - assigned) && i < remainders.length; i++) {
    const key = remainders[i].key
    result.set(key, (result.get(key) ?? 0) + 1)
  }
  return result
}

export interface ConversationUsage {
  readonly prompt_tokens: number | null
  readonly completion_tokens: number | null
  readonly cost_usd: number | null
}

/**
 * One call's usage split across the batch:
 * - prompt tokens in proportion to each conversation's share of the prompt's conversation data
 *   (the shared instructions are spread the same way);
 * - completion tokens in proportion to the size of each conversation's result item (a
 *   conversation with no usable result gets none);
 * - cost in proportion to each conversation's tokens (prompt + completion).
 * Integer parts add up to the call's totals.
 */
export const splitUsage = (
  usage: Usage | null | undefined,
  promptSizes: ReadonlyMap<ConversationId, number>,
  itemSizes: ReadonlyMap<ConversationId, number>
): ReadonlyMap<ConversationId, ConversationUsage> => {
  const ids = [...promptSizes.keys()]
  const promptTotal = usage?.prompt_tokens ?? null
  const completionTotal = usage?.completion_tokens ?? null
  const ticks = usage?.cost_in_usd_ticks ?? null
  const prompt = promptTotal === null ? null : apportion(promptTotal, promptSizes)
  const completionWeights = new Map(ids.map((id) => [id, itemSizes.get(id) ?? 0]))
  const completion = completionTotal === null ? null : apportion(completionTotal, completionWeights)
  const tokensOf = (id: ConversationId) => (prompt?.get(id) ?? 0) + (completion?.get(id) ?? 0)
  const tokenSum = ids.reduce((acc, id) => acc + tokensOf(id), 0)
  const result = new Map<ConversationId, ConversationUsage>()
  for (const id of ids) {
    const costShare = ticks === null ? null : tokenSum > 0 ? (ticks * tokensOf(id)) / tokenSum : ticks / ids.length
    result.set(id, {
      prompt_tokens: prompt?.get(id) ?? null,
      completion_tokens: completion?.get(id) ?? null,
      cost_usd: costShare === null ? null : costShare / TICKS_PER_USD
    })
  }
  return result
}

/**
 * The batch's results: decoded items with their share of usage, or retryable errors; `usage` is
 * every conversation's share, those without a result included (see GrokAnalyzer: a retried
 * conversation's insight carries the shares of all the calls it took).
 */
export const toResults = (options: {
  readonly analyzer: string
  readonly rawBody: string
  readonly envelope: CompletionEnvelope
  readonly promptSizes: ReadonlyMap<ConversationId, number>
  readonly batchIds: ReadonlyArray<ConversationId>
  readonly conversationTexts?: ReadonlyArray<string>
  /** Each conversation's texts (BatchPrompt.textsById): a result another conversation names is not trusted. */
  readonly conversationTextsById?: ReadonlyMap<ConversationId, ReadonlyArray<string>>
}): {
  readonly results: Map<ConversationId, Either.Either<AnalysisResult, AnalysisError>>
  readonly parsed: ParsedReply
  readonly usage: ReadonlyMap<ConversationId, ConversationUsage>
} => {
  const choice = options.envelope.choices[0]
  const parsed = parseContent(choice?.message.content ?? null, options.batchIds, options.conversationTexts, choice?.finish_reason ?? null, options.conversationTextsById)
  const usage = splitUsage(options.envelope.usage, options.promptSizes, parsed.itemSizes)
  const results = new Map<ConversationId, Either.Either<AnalysisResult, AnalysisError>>()
  for (const id of options.batchIds) {
    const item = parsed.items.get(id) ?? Either.left(retryable("grok reply had no result for this conversation"))
    results.set(
      id,
      Either.map(item, (decoded) => {
        const share = usage.get(id)
        return {
          sentiment_score: decoded.sentiment_score,
          confidence: decoded.confidence,
          clusters: decoded.clusters,
          reasoning: decoded.reasoning,
          analyzer: options.analyzer,
          raw_response: options.rawBody,
          prompt_tokens: share?.prompt_tokens ?? null,
          completion_tokens: share?.completion_tokens ?? null,
          cost_usd: share?.cost_usd ?? null
        }
      })
    )
  }
  return { results, parsed, usage }
}
