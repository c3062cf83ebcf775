/**
 * `insightd query`: insights from the database as JSONL, with the filters of GET /api/v1/insights
 * (decoded by the same parameter schema, so the same values are accepted and refused). It pages
 * through Store.queryInsights with its cursor, so a large result never sits in memory at once.
 */
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import type { ConfigurationError } from "../domain/errors.js"
import { InsightsParams } from "../http/api.js"
import { type InsightCursor, type InsightQuery, Store } from "../store/Store.js"
import { SqliteStoreLive } from "../store/sqlite.js"
import type { QueryOptions } from "./commands.js"
import { CommandFailed, requireDatabase, UsageError, withConfig, writeJsonLines } from "./shared.js"

const PAGE_SIZE = 1000

const optionName = (param: string): string => `--${param.replace(/_/g, "-")}`

const badOption = (message: string) => new UsageError({ message: `query: ${message}` })

/** The options as an InsightQuery (without paging), or a message naming the bad option. */
export const toInsightQuery = (options: QueryOptions): Either.Either<{ query: Omit<InsightQuery, "limit" | "after">; total: number | undefined }, UsageError> => {
  const params: Record<string, string> = {}
  const names: Array<[keyof QueryOptions, string]> = [
    ["startTime", "start_time"],
    ["endTime", "end_time"],
    ["minConfidence", "min_confidence"],
    ["maxConfidence", "max_confidence"],
    ["minSentiment", "min_sentiment"],
    ["maxSentiment", "max_sentiment"],
    ["sentiment", "sentiment"],
    ["cluster", "cluster"],
    ["author", "author"],
    ["order", "order"]
  ]
  for (const [key, param] of names) if (Option.isSome(options[key])) params[param] = options[key].value
  // A union of literals reports each alternative separately: name the choices in one sentence instead.
  for (const [param, choices] of [["sentiment", ["positive", "negative", "neutral"]], ["order", ["asc", "desc"]]] as const) {
    const value = params[param]
    if (value !== undefined && !(choices as ReadonlyArray<string>).includes(value)) {
      return Either.left(badOption(`${optionName(param)} must be one of ${choices.join(", ")} (got ${JSON.stringify(value)})`))
    }
  }
  const decoded = Schema.decodeUnknownEither(InsightsParams)(params)
  if (Either.isLeft(decoded)) {
    const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]
    const param = String(issue?.path[0] ?? "")
    // The API's messages name the query parameter (`min_confidence must be …`): name the option instead.
    const message = (issue?.message ?? decoded.left.message).replace(param, optionName(param))
    return Either.left(badOption(message.startsWith("--") ? message : `${optionName(param)}: ${message}`))
  }
  const p = decoded.right
  for (const [low, high, lowName, highName] of [
    [p.min_confidence, p.max_confidence, "min-confidence", "max-confidence"],
    [p.min_sentiment, p.max_sentiment, "min-sentiment", "max-sentiment"],
    [p.start_time, p.end_time, "start-time", "end-time"]
  ] as const) {
    if (low !== undefined && high !== undefined && low > high) return Either.left(badOption(`--${lowName} must not be greater than --${highName}`))
  }
  let total: number | undefined
  if (Option.isSome(options.limit)) {
    const text = options.limit.value.trim()
    if (!/^\d+$/.test(text) || Number(text) < 1) return Either.left(badOption(`--limit must be a positive integer (got ${JSON.stringify(options.limit.value)})`))
    total = Number(text)
  }
  return Either.right({
    query: {
      startTime: p.start_time,
      endTime: p.end_time,
      minConfidence: p.min_confidence,
      maxConfidence: p.max_confidence,
      minSentiment: p.min_sentiment,
      maxSentiment: p.max_sentiment,
      sentiment: p.sentiment,
      cluster: p.cluster,
      author: p.author,
      order: p.order ?? "desc"
    },
    total
  })
}

export const runQuery = (options: QueryOptions): Effect.Effect<void, CommandFailed | UsageError | ConfigurationError> =>
  withConfig((config) =>
    // The options first (a bad one is the mistake to report), then the file, then the Store
    // (which would create a missing file).
    Effect.flatMap(toInsightQuery(options), ({ query, total }) =>
      Effect.gen(function* () {
        const store = yield* Store
        let written = 0
        let after: InsightCursor | undefined
        for (;;) {
          const limit = Math.min(PAGE_SIZE, total === undefined ? PAGE_SIZE : total - written)
          if (limit <= 0) break
          const page = yield* store.queryInsights({ ...query, limit, after })
          yield* writeJsonLines(page.items)
          written += page.items.length
          if (page.next === null) break
          after = page.next
        }
        yield* Effect.logInfo("query finished").pipe(Effect.annotateLogs({ database: config.databaseFile, insights: written }))
      }).pipe(
        // It only reads: an older schema is refused (run `insightd migrate`), never upgraded here.
        Effect.provide(SqliteStoreLive(config.databaseFile, { readOnly: true })),
        Effect.catchTag("StoreError", (error) => Effect.fail(new CommandFailed({ message: `query: ${error.message}` }))),
        (run) => Effect.zipRight(requireDatabase("query", config.databaseFile), run)
      )
    )
  )
