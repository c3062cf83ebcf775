/** The Store on SQLite (`@effect/sql-sqlite-node`, better-sqlite3): the embedded default. */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import * as SqlError from "@effect/sql/SqlError"
import * as Migrator from "@effect/sql/Migrator"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Cause, Clock, Effect, Layer, Option, Scope } from "effect"
import { existsSync, mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { randomUUID } from "node:crypto"
import { sameContent } from "../domain/content.js"
import type { Conversation, ConversationId, Message } from "../domain/conversation.js"
import { StoreError } from "../domain/errors.js"
import type { Insight, InsightListItem, SentimentLabel } from "../domain/insight.js"
import { migrations, RANGE_BUCKETS, rebuildRollups, SCORE_BUCKETS } from "./migrations.js"
import {
  type ConversationWithInsight,
  type InsightQuery,
  type StatusCounts,
  Store,
  type StoreShape,
  type Submission,
  type SummaryQuery,
  type SubmissionOutcome
} from "./Store.js"

type Row = Record<string, unknown>

const CONVERSATION_COLUMNS = ["id", "text", "author", "timestamp", "messages", "metadata", "raw", "content_hash", "status", "attempts", "received_at", "updated_at"] as const

const storeError = (what: string) => (error: SqlError.SqlError) =>
  new StoreError({ message: `database: ${what} failed: ${String((error.cause as Error | undefined)?.message ?? error.message)}`, cause: error })

const parseJson = <A>(value: unknown): A | null => (typeof value === "string" ? (JSON.parse(value) as A) : null)

const toConversation = (row: Row): Conversation => ({
  id: row.id as ConversationId,
  text: row.text as string,
  author: row.author as string,
  timestamp: row.timestamp as string,
  messages: parseJson<ReadonlyArray<Message>>(row.messages),
  metadata: parseJson<Record<string, unknown>>(row.metadata),
  raw: row.raw as string,
  status: row.status as Conversation["status"],
  attempts: Number(row.attempts),
  lastError: (row.last_error as string | null) ?? null,
  receivedAt: row.received_at as string,
  updatedAt: row.updated_at as string
})

const toInsight = (row: Row): Insight => ({
  conversation_id: row.conversation_id as ConversationId,
  sentiment_score: Number(row.sentiment_score),
  sentiment: row.sentiment as SentimentLabel,
  confidence: Number(row.confidence),
  clusters: JSON.parse(row.clusters as string) as Array<string>,
  reasoning: row.reasoning as string,
  analyzer: row.analyzer as string,
  raw_response: row.raw_response as string,
  prompt_tokens: row.prompt_tokens === null ? null : Number(row.prompt_tokens),
  completion_tokens: row.completion_tokens === null ? null : Number(row.completion_tokens),
  cost_usd: row.cost_usd === null ? null : Number(row.cost_usd),
  analyzed_at: row.analyzed_at as string
})

const toListItem = (row: Row): InsightListItem => ({
  conversation_id: row.conversation_id as string,
  timestamp: row.timestamp as string,
  author: row.author as string,
  text: row.text as string,
  sentiment_score: Number(row.sentiment_score),
  sentiment: row.sentiment as SentimentLabel,
  confidence: Number(row.confidence),
  clusters: JSON.parse(row.clusters as string) as Array<string>,
  reasoning: row.reasoning as string,
  analyzer: row.analyzer as string,
  analyzed_at: row.analyzed_at as string
})

/**
 * Splits rows for multi-row statements into chunks whose sizes are powers of two (at most
 * `size`): the SQL text of a statement depends on its row count, and the client caches prepared
 * statements by text, so a group commit of any size reuses ~10 prepared statements instead of
 * compiling one per distinct size (measured: `prepare` was 6.5 % of ingest CPU).
 */
const chunksOf = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  let start = 0
  while (start < items.length) {
    let length = size
    while (length > items.length - start) length >>= 1
    out.push(items.slice(start, start + length))
    start += length
  }
  return out
}

// SQLite allows 32,766 bound parameters per statement; rows carry at most 14 columns.
const ROWS_PER_INSERT = 512

// A type alias, not an interface: sql.insert takes it as a plain record.
type RollupSums = {
  n: number
  score: number
  prompt_tokens: number
  completion_tokens: number
  cost_usd: number
}

/** What one insight adds to (sign 1) or, when replaced, takes from (sign -1) the rollup tables. */
interface RollupContribution {
  readonly timestamp: string
  readonly sentiment: string
  readonly analyzer: string
  readonly score: number
  readonly confidence: number
  readonly promptTokens: number
  readonly completionTokens: number
  readonly costUsd: number
}

/** The score bucket of migration 0005: the same as its SQL `floor(sentiment_score * SCORE_BUCKETS)`, the product being exact. */
const scoreBucket = (score: number): number => Math.floor(score * SCORE_BUCKETS)

/** The bucket of a score or confidence in the per-day range rollups (migration 0008), exact as above. */
const rangeBucket = (value: number): number => Math.floor(value * RANGE_BUCKETS)

type DayRangeRow = { bucket: number; day: string; sentiment: string; analyzer: string } & RollupSums
type ClusterBucketRow = { cluster: string; bucket: number; sentiment: string; n: number; score: number }

/** Rollup deltas summed per key in memory, so a batch costs one upsert per touched key. */
class RollupDeltas {
  readonly plain = new Map<string, { hour: string; sentiment: string; analyzer: string } & RollupSums>()
  readonly clusters = new Map<string, { cluster: string; hour: string; sentiment: string; analyzer: string } & RollupSums>()
  readonly pairs = new Map<string, { cluster: string; hour: string; other: string; sentiment: string; n: number; score: number }>()
  readonly scores = new Map<string, { bucket: number; sentiment: string; n: number }>()
  readonly clusterScores = new Map<string, ClusterBucketRow>()
  readonly clusterConfidences = new Map<string, ClusterBucketRow>()
  readonly dayScores = new Map<string, DayRangeRow>()
  readonly dayConfidences = new Map<string, DayRangeRow>()

  add(c: RollupContribution, clusters: ReadonlyArray<string>, sign: 1 | -1): void {
    const hour = c.timestamp.slice(0, 13)
    const bump = (sums: RollupSums) => {
      sums.n += sign
      sums.score += sign * c.score
      sums.prompt_tokens += sign * c.promptTokens
      sums.completion_tokens += sign * c.completionTokens
      sums.cost_usd += sign * c.costUsd
    }
    const zero = { n: 0, score: 0, prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 }
    const key = JSON.stringify([hour, c.sentiment, c.analyzer])
    let plain = this.plain.get(key)
    if (plain === undefined) this.plain.set(key, (plain = { hour, sentiment: c.sentiment, analyzer: c.analyzer, ...zero }))
    bump(plain)
    // A re-analysis with another score takes -1 from its old bucket and adds 1 to its new one.
    const bucket = scoreBucket(c.score)
    const scoreKey = JSON.stringify([bucket, c.sentiment])
    let scored = this.scores.get(scoreKey)
    if (scored === undefined) this.scores.set(scoreKey, (scored = { bucket, sentiment: c.sentiment, n: 0 }))
    scored.n += sign
    const day = c.timestamp.slice(0, 10)
    for (const [rows, value] of [[this.dayScores, c.score], [this.dayConfidences, c.confidence]] as const) {
      const dayBucket = rangeBucket(value)
      const dayKey = JSON.stringify([dayBucket, day, c.sentiment, c.analyzer])
      let row = rows.get(dayKey)
      if (row === undefined) rows.set(dayKey, (row = { bucket: dayBucket, day, sentiment: c.sentiment, analyzer: c.analyzer, ...zero }))
      bump(row)
    }
    const confidenceBucket = scoreBucket(c.confidence)
    for (const cluster of clusters) {
      const clusterKey = JSON.stringify([cluster, hour, c.sentiment, c.analyzer])
      let row = this.clusters.get(clusterKey)
      if (row === undefined) this.clusters.set(clusterKey, (row = { cluster, hour, sentiment: c.sentiment, analyzer: c.analyzer, ...zero }))
      bump(row)
      for (const [rows, clusterBucket] of [[this.clusterScores, bucket], [this.clusterConfidences, confidenceBucket]] as const) {
        const bucketKey = JSON.stringify([cluster, clusterBucket, c.sentiment])
        let bucketRow = rows.get(bucketKey)
        if (bucketRow === undefined) rows.set(bucketKey, (bucketRow = { cluster, bucket: clusterBucket, sentiment: c.sentiment, n: 0, score: 0 }))
        bucketRow.n += sign
        bucketRow.score += sign * c.score
      }
      for (const other of clusters) {
        const pairKey = JSON.stringify([cluster, hour, other, c.sentiment])
        let pair = this.pairs.get(pairKey)
        if (pair === undefined) this.pairs.set(pairKey, (pair = { cluster, hour, other, sentiment: c.sentiment, n: 0, score: 0 }))
        pair.n += sign
        pair.score += sign * c.score
      }
    }
  }
}

/** A re-analysis with the same result changes nothing: no write for it. */
const changes = (sums: RollupSums) => sums.n !== 0 || sums.score !== 0 || sums.prompt_tokens !== 0 || sums.completion_tokens !== 0 || sums.cost_usd !== 0

const nowIso = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis).toISOString())

const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

export interface TimeRange {
  readonly startTime?: string | undefined
  readonly endTime?: string | undefined
}

/** A time range as whole UTC hours [from, to) (hour keys, bound absent = open), which the rollups answer, and the partial edges, which the rows answer. */
export interface RangeSplit {
  readonly hours: { readonly from: string | undefined; readonly to: string | undefined } | null
  readonly edges: ReadonlyArray<TimeRange>
}

/**
 * Stored timestamps and the API's bounds are normalised (toISOString), so string order is time
 * order and the first 13 characters name the hour; any other bound (null) is answered from the rows.
 */
export const splitRange = (range: TimeRange): RangeSplit | null => {
  const split = splitWhole(range, "hour")
  return split === null ? null : { hours: split.whole, edges: split.edges }
}

/** The same split into whole UTC days (keys of 10 characters, `2026-03-01`) and partial edges. */
export const splitDays = (range: TimeRange) => splitWhole(range, "day")

const UNITS = {
  hour: { chars: 13, suffix: ":00:00.000Z", millis: 3_600_000 },
  day: { chars: 10, suffix: "T00:00:00.000Z", millis: 86_400_000 }
} as const

const splitWhole = (range: TimeRange, unit: keyof typeof UNITS) => {
  const { chars, millis, suffix } = UNITS[unit]
  const { endTime: end, startTime: start } = range
  if ((start !== undefined && !ISO_MILLIS.test(start)) || (end !== undefined && !ISO_MILLIS.test(end))) return null
  let from: string | undefined
  if (start !== undefined) {
    from = start.endsWith(suffix) ? start.slice(0, chars) : new Date(Date.parse(`${start.slice(0, chars)}${suffix}`) + millis).toISOString().slice(0, chars)
    if (!/^\d{4}-/.test(from)) return null // past year 9999
  }
  const to = end?.slice(0, chars)
  if (from !== undefined && to !== undefined && from >= to) return { whole: null, edges: [range] }
  const edges: Array<TimeRange> = []
  if (start !== undefined && start < `${from}${suffix}`) edges.push({ startTime: start, endTime: `${from}${suffix}` })
  if (end !== undefined && `${to}${suffix}` < end) edges.push({ startTime: `${to}${suffix}`, endTime: end })
  return { whole: { from, to }, edges }
}

/** A value interval from `low` to `high`, each bound included or not; a bound absent is open. */
export interface ValueInterval {
  readonly low: number | undefined
  readonly lowIncluded: boolean
  readonly high: number | undefined
  readonly highIncluded: boolean
}

/**
 * The part of a range inside a partial bucket, answered from the rows. `bucket` is that bucket and
 * `rest` the rest of it, when the part is at one end of the range: the rollup's bucket less the
 * rest's rows is the same part, and fewer rows to read when the values crowd on the part's side
 * (a model's 0.9 confidences, all in the part for min_confidence=0.9).
 */
export interface ValueEdge extends ValueInterval {
  readonly bucket: number | null
  readonly rest: ValueInterval | null
}

/**
 * A score or confidence range [min, max] (both inclusive, either open) as the whole buckets inside
 * it, [first, last] (bucket k is [k / buckets, (k + 1) / buckets); null when none is whole), which
 * the rollups answer, and the partial buckets at either end, which the rows answer.
 */
export const splitBuckets = (min: number | undefined, max: number | undefined, buckets: number) => {
  // The whole buckets: from the first starting at or above min to the last ending at or below max.
  const first = min === undefined ? undefined : Math.ceil(min * buckets)
  const last = max === undefined ? undefined : Math.floor(max * buckets) - 1
  if (first !== undefined && last !== undefined && first > last) {
    return { whole: null, edges: [{ low: min, lowIncluded: true, high: max, highIncluded: true, bucket: null, rest: null }] satisfies Array<ValueEdge> }
  }
  const edges: Array<ValueEdge> = []
  if (min !== undefined && first !== undefined && min < first / buckets) {
    const rest = { low: (first - 1) / buckets, lowIncluded: true, high: min, highIncluded: false }
    edges.push({ low: min, lowIncluded: true, high: first / buckets, highIncluded: false, bucket: first - 1, rest })
  }
  if (max !== undefined && last !== undefined) {
    const rest = { low: max, lowIncluded: false, high: (last + 2) / buckets, highIncluded: false }
    edges.push({ low: (last + 1) / buckets, lowIncluded: true, high: max, highIncluded: true, bucket: last + 1, rest })
  }
  return { whole: { first, last }, edges }
}

/** ROLLBACK, a no-op when no transaction is active (SQLite already rolled it back, or BEGIN failed). */
const rollbackIfActive = (conn: SqlConnection.Connection) =>
  Effect.asVoid(conn.execute("ROLLBACK", [], undefined)).pipe(
    Effect.catchIf(
      (error) => /no transaction is active/.test(String((error.cause as Error | undefined)?.message ?? "")),
      () => Effect.void
    )
  )

/**
 * `sql.withTransaction`, with BEGIN, COMMIT and ROLLBACK run as cached prepared statements:
 * @effect/sql runs them unprepared, so every group commit paid two `prepare` calls (~1 % of ingest
 * CPU). Same transaction tag, so statements inside run on the transaction's connection as before.
 *
 * A failed COMMIT or ROLLBACK is an ordinary failure here, not a defect. @effect/sql makes it a
 * defect (`orDie`), and in WAL mode a full disk shows at COMMIT, when the frames are written: the
 * analysis flow, which restarts after failures, died for good on a defect and left the backlog
 * `pending` until a restart. A COMMIT that failed may leave the transaction open (SQLITE_BUSY,
 * sometimes SQLITE_FULL), so it is rolled back before the failure goes on.
 */
export const preparedTransactions = (sql: SqlClient.SqlClient) => {
  const transaction = SqlClient.makeWithTransaction({
    transactionTag: SqlClient.TransactionConnection,
    spanAttributes: [["db.system.name", "sqlite"]],
    acquireConnection: Effect.flatMap(Scope.make(), (scope) => Effect.map(Scope.extend(sql.reserve, scope), (conn) => [scope, conn] as const)),
    // IMMEDIATE: every transaction here writes, so it takes the write lock at BEGIN, waiting up to
    // busy_timeout for another process's writer (`insightd store` beside the daemon). A deferred
    // BEGIN read first and then upgraded, and SQLite refuses that upgrade at once ("database is
    // locked", no wait) when another connection committed meanwhile: the import beside a daemon
    // stopped half-way, and the daemon's analysis flow restarted.
    begin: (conn) => Effect.asVoid(conn.execute("BEGIN IMMEDIATE", [], undefined)),
    savepoint: (conn, id) => Effect.asVoid(conn.executeUnprepared(`SAVEPOINT effect_sql_${id}`, [], undefined)),
    commit: (conn) =>
      Effect.asVoid(conn.execute("COMMIT", [], undefined)).pipe(
        Effect.tapError(() => Effect.ignore(rollbackIfActive(conn)))
      ),
    // A BEGIN IMMEDIATE that timed out waiting for another writer began nothing: there is nothing
    // to roll back, and that must not turn the busy error into a defect.
    rollback: rollbackIfActive,
    rollbackSavepoint: (conn, id) => Effect.asVoid(conn.executeUnprepared(`ROLLBACK TO SAVEPOINT effect_sql_${id}`, [], undefined))
  })
  return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError.SqlError, R> =>
    transaction(effect).pipe(
      // Only COMMIT and ROLLBACK failures become defects in there; the effect's own stay failures.
      Effect.catchSomeDefect((defect) => (defect instanceof SqlError.SqlError ? Option.some(Effect.fail(defect)) : Option.none()))
    )
}

/** How long a failed write keeps the store reported unwritable (readiness) before a probe may say otherwise. */
const WRITE_FAILURE_HOLD_MS = 10_000

/** Builds the Store over whatever SqlClient is provided (one process owns the SQLite file). */
export const makeSqlStore = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const withTransaction = preparedTransactions(sql)
  // Identifies this process's claims, so a shared database (PostgreSQL) can tell owners apart.
  const owner = `${process.pid}-${randomUUID().slice(0, 8)}`

  // The conversations INSERT for n rows, compiled by the client (so in its dialect) once per chunk
  // size; compiling `sql.insert` over row objects for every group commit was ~4 % of what ingest
  // allocated. Parameters go in CONVERSATION_COLUMNS order.
  const insertSqlBySize = new Map<number, string>()
  const insertConversationsSql = (size: number): string => {
    let text = insertSqlBySize.get(size)
    if (text === undefined) {
      const placeholders = Object.fromEntries(CONVERSATION_COLUMNS.map((column) => [column, null]))
      text = sql`INSERT INTO conversations ${sql.insert(Array.from({ length: size }, () => placeholders))}`.compile()[0]
      insertSqlBySize.set(size, text)
    }
    return text
  }

  const applyRollupDeltas = (deltas: RollupDeltas) =>
    Effect.gen(function* () {
      for (const rows of chunksOf([...deltas.plain.values()].filter(changes), ROWS_PER_INSERT)) {
        yield* sql`INSERT INTO insight_rollup ${sql.insert([...rows])} ON CONFLICT (hour, sentiment, analyzer) DO UPDATE SET
          n = insight_rollup.n + excluded.n, score = insight_rollup.score + excluded.score,
          prompt_tokens = insight_rollup.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = insight_rollup.completion_tokens + excluded.completion_tokens, cost_usd = insight_rollup.cost_usd + excluded.cost_usd`
      }
      for (const rows of chunksOf([...deltas.clusters.values()].filter(changes), ROWS_PER_INSERT)) {
        yield* sql`INSERT INTO insight_cluster_rollup ${sql.insert([...rows])} ON CONFLICT (cluster, hour, sentiment, analyzer) DO UPDATE SET
          n = insight_cluster_rollup.n + excluded.n, score = insight_cluster_rollup.score + excluded.score,
          prompt_tokens = insight_cluster_rollup.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = insight_cluster_rollup.completion_tokens + excluded.completion_tokens,
          cost_usd = insight_cluster_rollup.cost_usd + excluded.cost_usd`
      }
      for (const rows of chunksOf([...deltas.pairs.values()].filter((pair) => pair.n !== 0 || pair.score !== 0), ROWS_PER_INSERT)) {
        yield* sql`INSERT INTO insight_cluster_pair_rollup ${sql.insert([...rows])} ON CONFLICT (cluster, hour, other, sentiment) DO UPDATE SET
          n = insight_cluster_pair_rollup.n + excluded.n, score = insight_cluster_pair_rollup.score + excluded.score`
      }
      for (const rows of chunksOf([...deltas.scores.values()].filter((row) => row.n !== 0), ROWS_PER_INSERT)) {
        yield* sql`INSERT INTO insight_score_rollup ${sql.insert([...rows])} ON CONFLICT (bucket, sentiment) DO UPDATE SET
          n = insight_score_rollup.n + excluded.n`
      }
      for (const [table, deltaRows] of [["insight_cluster_score_rollup", deltas.clusterScores], ["insight_cluster_confidence_rollup", deltas.clusterConfidences]] as const) {
        const name = sql.literal(table)
        for (const rows of chunksOf([...deltaRows.values()].filter((row) => row.n !== 0 || row.score !== 0), ROWS_PER_INSERT)) {
          yield* sql`INSERT INTO ${name} ${sql.insert([...rows])} ON CONFLICT (cluster, bucket, sentiment) DO UPDATE SET
            n = ${name}.n + excluded.n, score = ${name}.score + excluded.score`
        }
      }
      for (const [table, deltaRows] of [["insight_day_score_rollup", deltas.dayScores], ["insight_day_confidence_rollup", deltas.dayConfidences]] as const) {
        const name = sql.literal(table)
        for (const rows of chunksOf([...deltaRows.values()].filter(changes), ROWS_PER_INSERT)) {
          yield* sql`INSERT INTO ${name} ${sql.insert([...rows])} ON CONFLICT (bucket, day, sentiment, analyzer) DO UPDATE SET
            n = ${name}.n + excluded.n, score = ${name}.score + excluded.score,
            prompt_tokens = ${name}.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = ${name}.completion_tokens + excluded.completion_tokens, cost_usd = ${name}.cost_usd + excluded.cost_usd`
        }
      }
    })

  /**
   * Why the latest write failed, until one succeeds: a full disk or a lock held elsewhere fails
   * every write while reads (the readiness ping) still answer.
   */
  let writeFailure: { readonly error: StoreError; readonly at: number } | null = null
  const trackWrite = <A>(write: Effect.Effect<A, StoreError>): Effect.Effect<A, StoreError> =>
    Effect.tapBoth(write, {
      onFailure: (error) => Effect.map(Clock.currentTimeMillis, (at) => void (writeFailure = { error, at })),
      onSuccess: () => Effect.sync(() => (writeFailure = null))
    })

  const submit: StoreShape["submit"] = (submissions) =>
    Effect.gen(function* () {
      const now = yield* nowIso
      const clientIds = new Set<string>()
      for (const submission of submissions) for (const c of submission.conversations) if (c.clientId) clientIds.add(c.id)
      // Raw JSON of ids already stored: a resubmission is recognised by its content.
      const known = new Map<string, string>()
      for (const ids of chunksOf([...clientIds], ROWS_PER_INSERT)) {
        const rows = yield* sql<{ id: string; raw: string }>`SELECT id, raw FROM conversations WHERE ${sql.in("id", ids)}`
        for (const row of rows) known.set(row.id, row.raw)
      }
      const outcomes: Array<SubmissionOutcome> = []
      const fresh: Array<Submission["conversations"][number]> = []
      for (const submission of submissions) {
        const conflictingIds: Array<ConversationId> = []
        // Server-assigned ids are new by construction: only client ids are looked up and tracked.
        const candidates: Array<Submission["conversations"][number]> = []
        let own: Map<string, string> | undefined
        let resubmitted = 0
        for (const conversation of submission.conversations) {
          if (!conversation.clientId) {
            candidates.push(conversation)
            continue
          }
          const previous = known.get(conversation.id) ?? own?.get(conversation.id)
          if (previous === undefined) {
            ;(own ??= new Map()).set(conversation.id, conversation.raw)
            candidates.push(conversation)
          } else if (sameContent(previous, conversation.raw)) resubmitted++
          else conflictingIds.push(conversation.id)
        }
        if (conflictingIds.length > 0) {
          outcomes.push({ _tag: "Conflict", conflictingIds })
          continue
        }
        if (own !== undefined) for (const [id, raw] of own) known.set(id, raw)
        for (const conversation of candidates) fresh.push(conversation)
        outcomes.push({ _tag: "Accepted", ids: submission.conversations.map((c) => c.id), resubmitted })
      }
      for (const chunk of chunksOf(fresh, ROWS_PER_INSERT)) {
        // Sized once: pushing 12 values per row grew (and copied) the array a dozen times per chunk.
        const params = new Array<string | number | null>(chunk.length * CONVERSATION_COLUMNS.length)
        let at = 0
        for (const c of chunk) {
          // In CONVERSATION_COLUMNS order; content_hash is unused (see migration 0001).
          params[at++] = c.id
          params[at++] = c.text
          params[at++] = c.author
          params[at++] = c.timestamp
          params[at++] = c.messages === null ? null : JSON.stringify(c.messages)
          params[at++] = c.metadata === null ? null : JSON.stringify(c.metadata)
          params[at++] = c.raw
          params[at++] = ""
          params[at++] = "pending"
          params[at++] = 0
          params[at++] = now
          params[at++] = now
        }
        yield* sql.unsafe(insertConversationsSql(chunk.length), params)
      }
      return outcomes
    }).pipe(withTransaction, Effect.mapError(storeError("storing conversations")), trackWrite)

  const getConversation: StoreShape["getConversation"] = (id) =>
    Effect.gen(function* () {
      const rows = yield* sql<Row>`SELECT * FROM conversations WHERE id = ${id}`
      if (rows.length === 0) return Option.none<ConversationWithInsight>()
      const insights = yield* sql<Row>`SELECT * FROM insights WHERE conversation_id = ${id}`
      return Option.some({ conversation: toConversation(rows[0]), insight: insights.length === 0 ? null : toInsight(insights[0]) })
    }).pipe(Effect.mapError(storeError("reading a conversation")))

  const existingIds: StoreShape["existingIds"] = (ids) =>
    Effect.gen(function* () {
      const found = new Set<string>()
      for (const chunk of chunksOf([...new Set(ids)], ROWS_PER_INSERT)) {
        const rows = yield* sql<{ id: string }>`SELECT id FROM conversations WHERE ${sql.in("id", chunk)}`
        for (const row of rows) found.add(row.id)
      }
      return found as ReadonlySet<string>
    }).pipe(Effect.mapError(storeError("reading conversation ids")))

  const retry: StoreShape["retry"] = (id) =>
    Effect.gen(function* () {
      const now = yield* nowIso
      const updated = yield* sql<Row>`UPDATE conversations SET status = 'pending', attempts = 0, updated_at = ${now}
        WHERE id = ${id} AND status = 'failed' RETURNING id`
      if (updated.length > 0) return "retried" as const
      const exists = yield* sql<Row>`SELECT id FROM conversations WHERE id = ${id}`
      return exists.length === 0 ? ("not_found" as const) : ("not_failed" as const)
    }).pipe(withTransaction, Effect.mapError(storeError("retrying a conversation")))

  const retryAllFailed: StoreShape["retryAllFailed"] = Effect.gen(function* () {
    const now = yield* nowIso
    const updated = yield* sql<Row>`UPDATE conversations SET status = 'pending', attempts = 0, updated_at = ${now}
      WHERE status = 'failed' RETURNING id`
    return updated.length
  }).pipe(Effect.mapError(storeError("retrying failed conversations")))

  const retryFailedMatching: StoreShape["retryFailedMatching"] = (prefix) =>
    Effect.gen(function* () {
      const now = yield* nowIso
      // LIKE with an escaped pattern: the prefix is matched literally, `%` and `_` included.
      const pattern = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
      const updated = yield* sql<Row>`UPDATE conversations SET status = 'pending', attempts = 0, updated_at = ${now}
        WHERE status = 'failed' AND last_error LIKE ${pattern} ESCAPE ${"\\"} RETURNING id`
      return updated.length
    }).pipe(Effect.mapError(storeError("retrying failed conversations")))

  const claim: StoreShape["claim"] = (limit, options) =>
    Effect.gen(function* () {
      const now = yield* nowIso
      const started = options?.startsAnalysis === false ? 0 : 1
      // PostgreSQL: the inner SELECT gets FOR UPDATE SKIP LOCKED so daemons never claim the same rows.
      const rows = yield* sql<Row>`UPDATE conversations
        SET status = 'processing', attempts = attempts + 1, analysis_started = ${started}, claimed_by = ${owner}, claimed_at = ${now}, updated_at = ${now}
        WHERE seq IN (SELECT seq FROM conversations WHERE status = 'pending' ORDER BY seq LIMIT ${limit})
        RETURNING *`
      return [...rows].sort((a, b) => Number(a.seq) - Number(b.seq)).map(toConversation)
    }).pipe(Effect.mapError(storeError("claiming conversations")))

  const markStarted: StoreShape["markStarted"] = (ids) =>
    Effect.gen(function* () {
      for (const chunk of chunksOf([...ids], ROWS_PER_INSERT)) {
        yield* sql`UPDATE conversations SET analysis_started = 1
          WHERE ${sql.in("id", chunk)} AND status = 'processing' AND claimed_by = ${owner} AND analysis_started = 0`
      }
    }).pipe(Effect.mapError(storeError("marking analysis started")), trackWrite)

  const record: StoreShape["record"] = (outcomes) =>
    Effect.gen(function* () {
      if (outcomes.length === 0) return
      const now = yield* nowIso
      // The last outcome for an id wins, as the upsert below would make it.
      const completed = [...new Map(outcomes.flatMap((o) => (o._tag === "Completed" ? [[o.insight.conversation_id, o.insight] as const] : []))).values()]
      // Rollup deltas of the whole call, upserted once at the end: a handful of keys per batch.
      const deltas = new RollupDeltas()
      for (const chunk of chunksOf(completed, ROWS_PER_INSERT)) {
        const ids = chunk.map((insight) => insight.conversation_id)
        // The insight being replaced (re-analysis), if any: its contribution leaves the rollups.
        const located = yield* sql<{
          id: string
          timestamp: string
          author: string
          old_timestamp: string | null
          old_sentiment: string | null
          old_analyzer: string | null
          old_score: number | null
          old_confidence: number | null
          old_pt: number | null
          old_ct: number | null
          old_cost: number | null
        }>`SELECT c.id, c.timestamp, c.author, i.timestamp AS old_timestamp, i.sentiment AS old_sentiment, i.analyzer AS old_analyzer,
            i.sentiment_score AS old_score, i.confidence AS old_confidence, i.prompt_tokens AS old_pt, i.completion_tokens AS old_ct, i.cost_usd AS old_cost
          FROM conversations c LEFT JOIN insights i ON i.conversation_id = c.id WHERE ${sql.in("c.id", ids)}`
        const byId = new Map(located.map((row) => [row.id, row]))
        const present = chunk.filter((insight) => byId.has(insight.conversation_id))
        if (present.length === 0) continue
        const presentIds = present.map((insight) => insight.conversation_id)
        const oldClusters = yield* sql<{ conversation_id: string; cluster: string }>`DELETE FROM insight_clusters WHERE ${sql.in("conversation_id", presentIds)}
          RETURNING conversation_id, cluster`
        const oldClustersById = new Map<string, Array<string>>()
        for (const row of oldClusters) oldClustersById.set(row.conversation_id, [...(oldClustersById.get(row.conversation_id) ?? []), row.cluster])
        for (const row of located) {
          if (row.old_timestamp === null || !presentIds.includes(row.id as ConversationId)) continue
          deltas.add(
            {
              timestamp: row.old_timestamp,
              sentiment: row.old_sentiment ?? "",
              analyzer: row.old_analyzer ?? "",
              score: Number(row.old_score),
              confidence: Number(row.old_confidence),
              promptTokens: Number(row.old_pt ?? 0),
              completionTokens: Number(row.old_ct ?? 0),
              costUsd: Number(row.old_cost ?? 0)
            },
            oldClustersById.get(row.id) ?? [],
            -1
          )
        }
        for (const insight of present) {
          const row = byId.get(insight.conversation_id)!
          deltas.add(
            {
              // The upsert keeps a replaced insight's timestamp.
              timestamp: row.old_timestamp ?? row.timestamp,
              sentiment: insight.sentiment,
              analyzer: insight.analyzer,
              score: insight.sentiment_score,
              confidence: insight.confidence,
              promptTokens: insight.prompt_tokens ?? 0,
              completionTokens: insight.completion_tokens ?? 0,
              costUsd: insight.cost_usd ?? 0
            },
            [...new Set(insight.clusters)],
            1
          )
        }
        yield* sql`INSERT INTO insights ${sql.insert(
          present.map((insight) => ({
            conversation_id: insight.conversation_id,
            timestamp: byId.get(insight.conversation_id)!.timestamp,
            author: byId.get(insight.conversation_id)!.author,
            sentiment_score: insight.sentiment_score,
            sentiment: insight.sentiment,
            confidence: insight.confidence,
            clusters: JSON.stringify(insight.clusters),
            reasoning: insight.reasoning,
            analyzer: insight.analyzer,
            raw_response: insight.raw_response,
            prompt_tokens: insight.prompt_tokens,
            completion_tokens: insight.completion_tokens,
            cost_usd: insight.cost_usd,
            analyzed_at: insight.analyzed_at
          }))
        )} ON CONFLICT (conversation_id) DO UPDATE SET
          sentiment_score = excluded.sentiment_score, sentiment = excluded.sentiment, confidence = excluded.confidence,
          clusters = excluded.clusters, reasoning = excluded.reasoning, analyzer = excluded.analyzer,
          raw_response = excluded.raw_response, prompt_tokens = excluded.prompt_tokens,
          completion_tokens = excluded.completion_tokens, cost_usd = excluded.cost_usd, analyzed_at = excluded.analyzed_at`
        const clusterRows = present.flatMap((insight) =>
          [...new Set(insight.clusters)].map((cluster) => ({
            conversation_id: insight.conversation_id,
            cluster,
            timestamp: byId.get(insight.conversation_id)!.timestamp,
            sentiment_score: insight.sentiment_score,
            confidence: insight.confidence
          }))
        )
        for (const clusterChunk of chunksOf(clusterRows, ROWS_PER_INSERT)) {
          yield* sql`INSERT INTO insight_clusters ${sql.insert([...clusterChunk])}`
        }
        // attempts ≥ 1: an insight took an analysis, also when `insightd analyze | insightd store` made it
        // unclaimed (the daemon's row after one analysis says 1, and so must this one).
        yield* sql`UPDATE conversations SET status = 'completed', attempts = MAX(attempts, 1), last_error = NULL, claimed_by = NULL, claimed_at = NULL, updated_at = ${now}
          WHERE ${sql.in("id", presentIds)}`
      }
      yield* applyRollupDeltas(deltas)
      for (const outcome of outcomes) {
        if (outcome._tag === "Failed") {
          yield* sql`UPDATE conversations SET status = 'failed', last_error = ${outcome.error.slice(0, 2000)}, claimed_by = NULL, claimed_at = NULL, updated_at = ${now}
            WHERE id = ${outcome.id}`
        }
      }
      // A release is not an attempt when nothing was spent on the conversation; when calls were
      // (handed back mid-retry by a shutdown) the attempt stays counted.
      for (const keep of [false, true]) {
        const released = outcomes.flatMap((o) => (o._tag === "Released" && (o.keepAttempt === true) === keep ? [o.id] : []))
        const refund = keep ? 0 : 1
        for (const ids of chunksOf(released, ROWS_PER_INSERT)) {
          yield* sql`UPDATE conversations SET status = 'pending', claimed_by = NULL, claimed_at = NULL, updated_at = ${now},
            attempts = MAX(attempts - ${refund}, 0)
            WHERE status = 'processing' AND ${sql.in("id", ids)}`
        }
      }
    }).pipe(withTransaction, Effect.mapError(storeError("recording analysis results")), trackWrite)

  const releaseClaims: StoreShape["releaseClaims"] = (attempt) =>
    Effect.gen(function* () {
      const now = yield* nowIso
      // "keep" keeps it only where the analysis had begun, as the recovery after a crash does.
      const refund = attempt === "refund" ? sql`1` : sql`(1 - analysis_started)`
      const rows = yield* sql<Row>`UPDATE conversations SET status = 'pending', claimed_by = NULL, claimed_at = NULL, updated_at = ${now},
        attempts = MAX(attempts - ${refund}, 0)
        WHERE status = 'processing' AND claimed_by = ${owner} RETURNING id`
      return rows.length
    }).pipe(Effect.mapError(storeError("releasing claims")))

  // One daemon owns a SQLite file, so any `processing` row at start was left by a dead process.
  // Once its analysis had begun its attempt stays counted: a conversation that crashes the
  // analyzer cannot loop forever. One still waiting for a Grok call slot was not at fault.
  const recoverAbandoned: StoreShape["recoverAbandoned"] = Effect.gen(function* () {
    const now = yield* nowIso
    const rows = yield* sql<Row>`UPDATE conversations SET status = 'pending', claimed_by = NULL, claimed_at = NULL, updated_at = ${now},
      attempts = MAX(attempts - (1 - analysis_started), 0), analysis_started = 1
      WHERE status = 'processing' RETURNING id`
    return rows.length
  }).pipe(Effect.mapError(storeError("recovering abandoned claims")))

  type Filters = Omit<InsightQuery, "order" | "limit" | "after">

  /**
   * WHERE conditions on the insight row (alias `i`), the cluster filter left out (see clusterIn and
   * the cluster-driven queries). `walk`: score and confidence conditions are written `+column`, which
   * keeps SQLite from picking their index (then sorting every match) so the page walks the ordered
   * (timestamp, id) or (sentiment, timestamp, id) index and checks them on the way.
   */
  const hasConfidenceRange = (query: Filters) => query.minConfidence !== undefined || query.maxConfidence !== undefined
  const hasScoreRange = (query: Filters) => query.minSentiment !== undefined || query.maxSentiment !== undefined

  const rowFilters = (query: Filters, walk = false) => {
    const score = walk ? sql`+i.sentiment_score` : sql`i.sentiment_score`
    const confidence = walk ? sql`+i.confidence` : sql`i.confidence`
    return [
      query.startTime === undefined ? null : sql`i.timestamp >= ${query.startTime}`,
      query.endTime === undefined ? null : sql`i.timestamp < ${query.endTime}`,
      query.minConfidence === undefined ? null : sql`${confidence} >= ${query.minConfidence}`,
      query.maxConfidence === undefined ? null : sql`${confidence} <= ${query.maxConfidence}`,
      query.minSentiment === undefined ? null : sql`${score} >= ${query.minSentiment}`,
      query.maxSentiment === undefined ? null : sql`${score} <= ${query.maxSentiment}`,
      query.sentiment === undefined ? null : sql`i.sentiment = ${query.sentiment}`,
      query.author === undefined ? null : sql`i.author = ${query.author}`
    ].filter((f) => f !== null)
  }

  /** The confidence and score filters on cluster rows, which carry their insight's values. */
  const clusterRowFilters = (query: Filters) =>
    [
      query.minConfidence === undefined ? null : sql`c.confidence >= ${query.minConfidence}`,
      query.maxConfidence === undefined ? null : sql`c.confidence <= ${query.maxConfidence}`,
      query.minSentiment === undefined ? null : sql`c.sentiment_score >= ${query.minSentiment}`,
      query.maxSentiment === undefined ? null : sql`c.sentiment_score <= ${query.maxSentiment}`
    ].filter((f) => f !== null)

  /** The cluster filter as a subquery, for when the planner should choose (an author filter leads). */
  const clusterIn = (query: Filters) =>
    // The time range again inside: the subquery then reads only that range of the cluster's rows.
    query.cluster === undefined
      ? []
      : [
          sql`i.conversation_id IN (SELECT conversation_id FROM insight_clusters WHERE cluster = ${query.cluster}
            AND timestamp >= ${query.startTime ?? ""} AND timestamp < ${query.endTime ?? "\uffff"})`
        ]

  /**
   * Conditions on `k`, the filter cluster's rows, driving a query over its (cluster, timestamp, id)
   * index: a cluster's insights in time order without visiting the others. `k` must come first in
   * the FROM (CROSS JOIN fixes SQLite's join order).
   */
  const clusterDriven = (query: Filters & { readonly cluster: string }) => [
    sql`k.cluster = ${query.cluster}`,
    query.startTime === undefined ? null : sql`k.timestamp >= ${query.startTime}`,
    query.endTime === undefined ? null : sql`k.timestamp < ${query.endTime}`,
    sql`i.conversation_id = k.conversation_id`,
    ...rowFilters(query)
  ].filter((f) => f !== null)

  /** The filters the rollup tables answer (time range, label, cluster); null when others are set. */
  const rollupSplit = (query: Filters): RangeSplit | null =>
    !hasConfidenceRange(query) && !hasScoreRange(query) && query.author === undefined ? splitRange(query) : null

  /** Conditions on a rollup table for the whole hours of `split` and the label/cluster filters. */
  const rollupFilters = (query: Filters, hours: NonNullable<RangeSplit["hours"]>) =>
    [
      hours.from === undefined ? null : sql`hour >= ${hours.from}`,
      hours.to === undefined ? null : sql`hour < ${hours.to}`,
      query.sentiment === undefined ? null : sql`sentiment = ${query.sentiment}`,
      query.cluster === undefined ? null : sql`cluster = ${query.cluster}`
    ].filter((f) => f !== null)

  const rollupTable = (query: Filters) => sql.literal(query.cluster === undefined ? "insight_rollup" : "insight_cluster_rollup")

  /** Conditions on a bucket-keyed rollup for the whole buckets of a split. */
  const wholeBuckets = (whole: { readonly first: number | undefined; readonly last: number | undefined }) => [
    whole.first === undefined ? null : sql`bucket >= ${whole.first}`,
    whole.last === undefined ? null : sql`bucket <= ${whole.last}`
  ]
  const labelIs = (query: Filters, alias = "") => (query.sentiment === undefined ? null : sql`${sql.literal(alias)}sentiment = ${query.sentiment}`)
  /** Conditions on an insight column for an interval. */
  const within = (column: string, interval: ValueInterval) => [
    interval.low === undefined ? null : interval.lowIncluded ? sql`${sql.literal(column)} >= ${interval.low}` : sql`${sql.literal(column)} > ${interval.low}`,
    interval.high === undefined ? null : interval.highIncluded ? sql`${sql.literal(column)} <= ${interval.high}` : sql`${sql.literal(column)} < ${interval.high}`
  ]

  const exactCount = (query: Filters) =>
    Effect.map(sql<{ n: number }>`SELECT COUNT(*) AS n FROM insights i WHERE ${sql.and([...rowFilters(query), ...clusterIn(query)])}`, (rows) => Number(rows[0]?.n ?? 0))

  /**
   * Insights with a score in [low, high) (or [low, high] when `highIncluded`), counted from the score
   * index with the label and cluster filters checked per row: the range is at most one score
   * bucket, a few hundred rows. Written so no planner walks the label or cluster index instead
   * (which visits every insight of the label, ~1 s at a million): the label as a CASE, the cluster
   * joined after the insight (CROSS JOIN fixes SQLite's order; the lookup is its primary key).
   */
  const scoreEdgeCount = (query: Filters, low: number | undefined, high: number | undefined, highIncluded: boolean) => {
    const where = [
      low === undefined ? null : sql`i.sentiment_score >= ${low}`,
      high === undefined ? null : highIncluded ? sql`i.sentiment_score <= ${high}` : sql`i.sentiment_score < ${high}`,
      query.cluster === undefined ? null : sql`k.conversation_id = i.conversation_id AND k.cluster = ${query.cluster}`
    ].filter((f) => f !== null)
    const counted = query.sentiment === undefined ? sql`COUNT(*)` : sql`SUM(CASE WHEN i.sentiment = ${query.sentiment} THEN 1 ELSE 0 END)`
    const from = query.cluster === undefined ? sql`insights i` : sql`insights i CROSS JOIN insight_clusters k`
    return Effect.map(sql<{ n: number | null }>`SELECT ${counted} AS n FROM ${from} WHERE ${sql.and(where)}`, (rows) => Number(rows[0]?.n ?? 0))
  }

  /**
   * Exact count of a score range over all time (label and cluster filters allowed): the whole score
   * buckets inside [min, max] from the score rollups, the partial buckets at either end from the rows.
   * Bucket k is [k / SCORE_BUCKETS, (k + 1) / SCORE_BUCKETS); both bounds are inclusive.
   */
  const scoreRangeCount = (query: Filters) =>
    Effect.gen(function* () {
      const split = splitBuckets(query.minSentiment, query.maxSentiment, SCORE_BUCKETS)
      let n = 0
      if (split.whole !== null) {
        const table = sql.literal(query.cluster === undefined ? "insight_score_rollup" : "insight_cluster_score_rollup")
        const rows = yield* sql<{ n: number | null }>`SELECT SUM(n) AS n FROM ${table} WHERE ${sql.and(
          [query.cluster === undefined ? null : sql`cluster = ${query.cluster}`, ...wholeBuckets(split.whole), labelIs(query)].filter((f) => f !== null)
        )}`
        n += Number(rows[0]?.n ?? 0)
      }
      for (const edge of split.edges) n += yield* scoreEdgeCount(query, edge.low, edge.high, edge.highIncluded)
      return n
    })

  /** Exact number of insights matching the filters: whole hours or score buckets from the rollups when they answer them, edges and the rest from the rows. */
  const countInsights = (query: Filters) =>
    Effect.gen(function* () {
      if (
        (query.minSentiment !== undefined || query.maxSentiment !== undefined) &&
        query.startTime === undefined &&
        query.endTime === undefined &&
        query.minConfidence === undefined &&
        query.maxConfidence === undefined &&
        query.author === undefined
      ) {
        return yield* scoreRangeCount(query)
      }
      const split = rollupSplit(query)
      if (split === null) return yield* exactCount(query)
      let n = 0
      if (split.hours !== null) {
        const rows = yield* sql<{ n: number | null }>`SELECT SUM(n) AS n FROM ${rollupTable(query)} WHERE ${sql.and(rollupFilters(query, split.hours))}`
        n += Number(rows[0]?.n ?? 0)
      }
      for (const edge of split.edges) n += yield* exactCount({ ...query, ...edge })
      return n
    })

  const queryInsights: StoreShape["queryInsights"] = (query) =>
    Effect.gen(function* () {
      const totalCount = yield* countInsights(query)
      const direction = sql.literal(query.order === "desc" ? "DESC" : "ASC")
      const comparison = sql.literal(query.order === "desc" ? "<" : ">")
      const limit = query.limit + 1 // one extra row tells whether another page follows
      let rows: ReadonlyArray<Row>
      if (query.cluster !== undefined && query.author === undefined) {
        const after = query.after === undefined ? [] : [sql`(k.timestamp, k.conversation_id) ${comparison} (${query.after.timestamp}, ${query.after.id})`]
        rows = yield* sql<Row>`SELECT i.*, c.text FROM insight_clusters k CROSS JOIN insights i JOIN conversations c ON c.id = i.conversation_id
          WHERE ${sql.and([...clusterDriven({ ...query, cluster: query.cluster }), ...after])}
          ORDER BY k.timestamp ${direction}, k.conversation_id ${direction}
          LIMIT ${limit}`
      } else {
        // Walking the time order finds a page after ~limit × (rows in range / matches) rows; the score or
        // confidence index visits every match and sorts them. Walk unless the matches are that rare.
        let walk = false
        const ranged = hasConfidenceRange(query) || hasScoreRange(query)
        // Past 10 k matches the walk is short at any size this store serves: skip counting the range.
        if (ranged && query.author === undefined && totalCount >= 10_000) walk = true
        else if (ranged && query.author === undefined) {
          const inRange = yield* countInsights({ startTime: query.startTime, endTime: query.endTime, sentiment: query.sentiment, cluster: query.cluster })
          walk = totalCount * totalCount >= limit * inRange
        }
        const after = query.after === undefined ? [] : [sql`(i.timestamp, i.conversation_id) ${comparison} (${query.after.timestamp}, ${query.after.id})`]
        rows = yield* sql<Row>`SELECT i.*, c.text FROM insights i JOIN conversations c ON c.id = i.conversation_id
          WHERE ${sql.and([...rowFilters(query, walk), ...clusterIn(query), ...after])}
          ORDER BY i.timestamp ${direction}, i.conversation_id ${direction}
          LIMIT ${limit}`
      }
      const page = rows.slice(0, query.limit).map(toListItem)
      const last = page[page.length - 1]
      return {
        items: page,
        totalCount,
        next: rows.length > query.limit && last !== undefined ? { timestamp: last.timestamp, id: last.conversation_id } : null
      }
    }).pipe(Effect.mapError(storeError("querying insights")))

  const topClusters: StoreShape["topClusters"] = (limit) =>
    sql<{ cluster: string }>`SELECT cluster, SUM(n) AS n FROM insight_cluster_rollup GROUP BY cluster HAVING SUM(n) > 0
      ORDER BY n DESC, cluster ASC LIMIT ${limit}`.pipe(
      Effect.map((rows) => rows.map((row) => row.cluster)),
      Effect.mapError(storeError("reading cluster labels"))
    )

  const statusCounts: StoreShape["statusCounts"] = sql<{ status: string; n: number }>`SELECT status, COUNT(*) AS n FROM conversations GROUP BY status`.pipe(
    Effect.map((rows) => {
      const counts = { pending: 0, processing: 0, completed: 0, failed: 0 }
      for (const row of rows) if (row.status in counts) counts[row.status as keyof typeof counts] = Number(row.n)
      return counts as StatusCounts
    }),
    Effect.mapError(storeError("counting conversations"))
  )

  type GroupRow = { b: string; a: string; s: SentimentLabel; n: number; score: number; pt: number | null; ct: number | null; cost: number | null }
  type ClusterRow = { cluster: string; n: number; score: number }

  const rangedWithoutAuthor = (query: Filters) => query.author === undefined && (hasConfidenceRange(query) || hasScoreRange(query))

  /** Bucket × analyzer × label aggregates read from the insight rows. */
  const rowGroups = (query: Filters, prefix: number) =>
    query.cluster !== undefined && query.author === undefined
      ? sql<GroupRow>`SELECT substr(i.timestamp, 1, ${prefix}) AS b, i.analyzer AS a, i.sentiment AS s, COUNT(*) AS n, SUM(i.sentiment_score) AS score,
          SUM(i.prompt_tokens) AS pt, SUM(i.completion_tokens) AS ct, SUM(i.cost_usd) AS cost
        FROM insight_clusters k CROSS JOIN insights i WHERE ${sql.and(clusterDriven({ ...query, cluster: query.cluster }))} GROUP BY b, a, s`
      : // Without a cluster: from the summary index (migration 0002), seeking to the time range. It
        // is named for a confidence or score range: the planner took the narrow filter index and
        // read every match's row (0.7-0.9 s at a million); this reads index entries only (~0.12 s
        // over all time at a million, less with a time range). An author leads with its own index.
        sql<GroupRow>`SELECT substr(i.timestamp, 1, ${prefix}) AS b, i.analyzer AS a, i.sentiment AS s, COUNT(*) AS n, SUM(i.sentiment_score) AS score,
          SUM(i.prompt_tokens) AS pt, SUM(i.completion_tokens) AS ct, SUM(i.cost_usd) AS cost
        FROM insights i ${rangedWithoutAuthor(query) ? sql`INDEXED BY insights_summary` : sql``}
        WHERE ${sql.and([...rowFilters(query), ...clusterIn(query)])} GROUP BY b, a, s`

  /** Per cluster count and score sum of the matching insights, read from the rows (all clusters when limit is null). */
  const rowClusters = (query: Filters, limit: number | null) => {
    const tail = limit === null ? sql`` : sql`ORDER BY n DESC, c.cluster ASC LIMIT ${limit}`
    const confidenceRange = hasConfidenceRange(query)
    const scoreRange = hasScoreRange(query)
    const otherFilters = [query.cluster, query.author, query.sentiment].some((value) => value !== undefined)
    const timed = query.startTime !== undefined || query.endTime !== undefined
    if ((confidenceRange || scoreRange) && !otherFilters) {
      // A confidence or score range (and maybe a time range): the cluster rows carry both, and the
      // time (migration 0007), so no insight is looked up. The index is named: without ANALYZE
      // statistics SQLite scanned the whole cluster index in cluster order, reading every row,
      // rather than seek the range; with them it took the insights' confidence index and looked
      // up every match's row (0.45 s for a week at a million insights). A confidence range seeks
      // insight_clusters_confidence. A score range over all time reads insight_clusters_summary,
      // which holds the score (all cluster rows, ~60 ms at a million insights; joining every match
      // was 1.5 s); with a time range it seeks that index's time range cluster by cluster.
      const time = [
        query.startTime === undefined ? null : sql`c.timestamp >= ${query.startTime}`,
        query.endTime === undefined ? null : sql`c.timestamp < ${query.endTime}`
      ].filter((f) => f !== null)
      const where = sql.and([...clusterRowFilters(query), ...time])
      if (confidenceRange || !timed) {
        const from = confidenceRange ? sql`insight_clusters c INDEXED BY insight_clusters_confidence` : sql`insight_clusters c`
        return sql<ClusterRow>`SELECT c.cluster AS cluster, COUNT(*) AS n, SUM(c.sentiment_score) AS score FROM ${from}
          WHERE ${where} GROUP BY c.cluster ${tail}`
      }
      return sql<ClusterRow>`SELECT c.cluster AS cluster, COUNT(*) AS n, SUM(c.sentiment_score) AS score
        FROM (SELECT DISTINCT cluster FROM insight_cluster_rollup) k CROSS JOIN insight_clusters c INDEXED BY insight_clusters_summary
        WHERE c.cluster = k.cluster AND ${where} GROUP BY c.cluster ${tail}`
    }
    if ((confidenceRange || scoreRange) && timed && query.cluster === undefined && query.author === undefined) {
      // A range, a time range and a label: the insights' summary index leads (time order; it
      // holds the range columns and the label), so only the matches' rows are looked up.
      return sql<ClusterRow>`SELECT c.cluster AS cluster, COUNT(*) AS n, SUM(i.sentiment_score) AS score
        FROM insights i INDEXED BY insights_summary CROSS JOIN insight_clusters c
        WHERE ${sql.and([...rowFilters(query), sql`c.conversation_id = i.conversation_id`])}
        GROUP BY c.cluster ${tail}`
    }
    return query.cluster !== undefined && query.author === undefined
      ? // The other clusters of the filter cluster's insights: from its rows, then each insight's cluster rows.
        sql<ClusterRow>`SELECT c.cluster AS cluster, COUNT(*) AS n, SUM(i.sentiment_score) AS score
          FROM insight_clusters k CROSS JOIN insights i CROSS JOIN insight_clusters c
          WHERE ${sql.and([...clusterDriven({ ...query, cluster: query.cluster }), sql`c.conversation_id = k.conversation_id`])}
          GROUP BY c.cluster ${tail}`
      : sql<ClusterRow>`SELECT c.cluster AS cluster, COUNT(*) AS n, SUM(i.sentiment_score) AS score
          FROM insights i CROSS JOIN insight_clusters c
          WHERE ${sql.and([...rowFilters(query), ...clusterIn(query), sql`c.conversation_id = i.conversation_id`])}
          GROUP BY c.cluster ${tail}`
  }

  /** The ten clusters with the most insights, from parts that may each count some of a cluster's. */
  const topClustersOf = (parts: ReadonlyArray<ReadonlyArray<ClusterRow>>): ReadonlyArray<ClusterRow> => {
    const merged = new Map<string, { n: number; score: number }>()
    for (const row of parts.flat()) {
      const entry = merged.get(row.cluster) ?? { n: 0, score: 0 }
      merged.set(row.cluster, { n: entry.n + Number(row.n), score: entry.score + Number(row.score) })
    }
    return [...merged.entries()]
      .filter(([, entry]) => entry.n > 0)
      .sort(([a, x], [b, y]) => y.n - x.n || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, 10)
      .map(([cluster, entry]) => ({ cluster, n: entry.n, score: entry.score }))
  }

  /**
   * A summary by day over one score or confidence range (a label filter and a time range allowed;
   * no author or cluster, no other range) is answered by the range rollups (migration 0008): this
   * says which. Null: the other paths answer it.
   */
  const rangeRollupPlan = (query: SummaryQuery) => {
    if (query.bucket !== "day" || query.author !== undefined || query.cluster !== undefined) return null
    const score = hasScoreRange(query)
    if (score === hasConfidenceRange(query)) return null
    const days = splitDays(query)
    if (days === null) return null
    return score
      ? { days, column: "i.sentiment_score", index: "insights_score", dayTable: "insight_day_score_rollup", clusterTable: "insight_cluster_score_rollup", min: query.minSentiment, max: query.maxSentiment }
      : { days, column: "i.confidence", index: "insights_confidence", dayTable: "insight_day_confidence_rollup", clusterTable: "insight_cluster_confidence_rollup", min: query.minConfidence, max: query.maxConfidence }
  }
  type RangePlan = NonNullable<ReturnType<typeof rangeRollupPlan>>

  /** Insights with the range column in an interval, counted from its index alone (no row read). */
  const countWithin = (plan: RangePlan, interval: ValueInterval) =>
    Effect.map(
      sql<{ n: number }>`SELECT COUNT(*) AS n FROM insights i INDEXED BY ${sql.literal(plan.index)} WHERE ${sql.and(within(plan.column, interval).filter((f) => f !== null))}`,
      (rows) => Number(rows[0]?.n ?? 0)
    )

  /**
   * How a partial bucket is answered: from its part's rows, or (`rest`) as the rollup's whole bucket
   * less the rest's rows, whichever reads fewer rows (counted from the index alone).
   */
  const edgeStrategy = (plan: RangePlan, edge: ValueEdge) =>
    Effect.gen(function* () {
      if (edge.bucket === null || edge.rest === null) return { part: edge as ValueInterval, rest: null }
      const inPart = yield* countWithin(plan, edge)
      const inRest = yield* countWithin(plan, edge.rest)
      return inRest < inPart ? { part: null, rest: { bucket: edge.bucket, interval: edge.rest } } : { part: edge as ValueInterval, rest: null }
    })

  type WholeBuckets = { readonly first: number | undefined; readonly last: number | undefined }

  /**
   * The parts a range's rows add up from: its whole buckets from a rollup, and each partial edge
   * bucket from the rows, or as the rollup's bucket less the rest's rows (see edgeStrategy).
   */
  const rangeParts = <Row>(
    plan: RangePlan,
    buckets: ReturnType<typeof splitBuckets>,
    fromRollup: (range: WholeBuckets) => Effect.Effect<ReadonlyArray<Row>, SqlError.SqlError>,
    fromRows: (interval: ValueInterval) => Effect.Effect<ReadonlyArray<Row>, SqlError.SqlError>,
    negate: (row: Row) => Row
  ) =>
    Effect.gen(function* () {
      const parts: Array<Row> = []
      if (buckets.whole !== null) parts.push(...(yield* fromRollup(buckets.whole)))
      for (const edge of buckets.edges) {
        const strategy = yield* edgeStrategy(plan, edge)
        if (strategy.part !== null) parts.push(...(yield* fromRows(strategy.part)))
        else {
          parts.push(...(yield* fromRollup({ first: strategy.rest.bucket, last: strategy.rest.bucket })))
          parts.push(...(yield* fromRows(strategy.rest.interval)).map(negate))
        }
      }
      return parts
    })

  /**
   * The day groups of a range: whole days × whole buckets from the day rollup, whole days × the
   * partial edge buckets from the rows through the range column's index (see rangeParts), and
   * the partial edge days from the rows through the time index.
   */
  const rangeGroups = (query: SummaryQuery, plan: RangePlan) =>
    Effect.gen(function* () {
      const groups: Array<GroupRow> = []
      const whole = plan.days.whole
      if (whole !== null) {
        const fromRollup = (range: WholeBuckets) => {
          const where = [
            ...wholeBuckets(range),
            whole.from === undefined ? null : sql`day >= ${whole.from}`,
            whole.to === undefined ? null : sql`day < ${whole.to}`,
            labelIs(query)
          ].filter((f) => f !== null)
          return sql<GroupRow>`SELECT day AS b, analyzer AS a, sentiment AS s, SUM(n) AS n, SUM(score) AS score,
            SUM(prompt_tokens) AS pt, SUM(completion_tokens) AS ct, SUM(cost_usd) AS cost
            FROM ${sql.literal(plan.dayTable)} ${where.length === 0 ? sql`` : sql`WHERE ${sql.and(where)}`} GROUP BY b, a, s`
        }
        const fromRows = (interval: ValueInterval) => {
          const where = [
            ...within(plan.column, interval),
            whole.from === undefined ? null : sql`i.timestamp >= ${`${whole.from}T00:00:00.000Z`}`,
            whole.to === undefined ? null : sql`i.timestamp < ${`${whole.to}T00:00:00.000Z`}`,
            labelIs(query, "i.")
          ].filter((f) => f !== null)
          return sql<GroupRow>`SELECT substr(i.timestamp, 1, 10) AS b, i.analyzer AS a, i.sentiment AS s, COUNT(*) AS n, SUM(i.sentiment_score) AS score,
            SUM(i.prompt_tokens) AS pt, SUM(i.completion_tokens) AS ct, SUM(i.cost_usd) AS cost
            FROM insights i INDEXED BY ${sql.literal(plan.index)} WHERE ${sql.and(where)} GROUP BY b, a, s`
        }
        // Less the rest: tokens and cost too.
        const negate = (row: GroupRow): GroupRow => ({ ...row, n: -Number(row.n), score: -Number(row.score), pt: -Number(row.pt ?? 0), ct: -Number(row.ct ?? 0), cost: -Number(row.cost ?? 0) })
        groups.push(...(yield* rangeParts(plan, splitBuckets(plan.min, plan.max, RANGE_BUCKETS), fromRollup, fromRows, negate)))
      }
      for (const edge of plan.days.edges) groups.push(...(yield* rowGroups({ ...query, ...edge }, 10)))
      return groups
    })

  /**
   * The top clusters of a range: over all time from the cluster bucket rollups and the partial
   * edge buckets as the day groups take them; with a time range from the rows, as other filters.
   */
  const rangeClusters = (query: SummaryQuery, plan: RangePlan) =>
    Effect.gen(function* () {
      if (query.startTime !== undefined || query.endTime !== undefined) return yield* rowClusters(query, 10)
      const fromRollup = (range: WholeBuckets) => {
        const where = [...wholeBuckets(range), labelIs(query)].filter((f) => f !== null)
        return sql<ClusterRow>`SELECT cluster, SUM(n) AS n, SUM(score) AS score FROM ${sql.literal(plan.clusterTable)}
          ${where.length === 0 ? sql`` : sql`WHERE ${sql.and(where)}`} GROUP BY cluster`
      }
      const fromRows = (interval: ValueInterval) => {
        const where = [...within(plan.column, interval), sql`c.conversation_id = i.conversation_id`, labelIs(query, "i.")].filter((f) => f !== null)
        return sql<ClusterRow>`SELECT c.cluster AS cluster, COUNT(*) AS n, SUM(i.sentiment_score) AS score
          FROM insights i INDEXED BY ${sql.literal(plan.index)} CROSS JOIN insight_clusters c WHERE ${sql.and(where)} GROUP BY c.cluster`
      }
      const negate = (row: ClusterRow): ClusterRow => ({ ...row, n: -Number(row.n), score: -Number(row.score) })
      return topClustersOf([yield* rangeParts(plan, splitBuckets(plan.min, plan.max, SCORE_BUCKETS), fromRollup, fromRows, negate)])
    })

  const summarize: StoreShape["summarize"] = (query) =>
    Effect.gen(function* () {
      // Timestamps are normalised UTC ISO strings: the first 13 (hour) or 10 (day) characters name the bucket.
      const prefix = query.bucket === "hour" ? 13 : 10
      const split = rollupSplit(query)
      const ranged = rangeRollupPlan(query)
      const groups: Array<GroupRow> = []
      let clusters: ReadonlyArray<ClusterRow>
      if (ranged !== null) {
        groups.push(...(yield* rangeGroups(query, ranged)))
        clusters = yield* rangeClusters(query, ranged)
      } else if (split === null) {
        groups.push(...(yield* rowGroups(query, prefix)))
        clusters = yield* rowClusters(query, 10)
      } else {
        // Whole hours from the rollups, the (at most two) partial edge hours from the rows.
        if (split.hours !== null) {
          groups.push(
            ...(yield* sql<GroupRow>`SELECT substr(hour, 1, ${prefix}) AS b, analyzer AS a, sentiment AS s, SUM(n) AS n, SUM(score) AS score,
              SUM(prompt_tokens) AS pt, SUM(completion_tokens) AS ct, SUM(cost_usd) AS cost
              FROM ${rollupTable(query)} WHERE ${sql.and(rollupFilters(query, split.hours))} GROUP BY b, a, s`)
          )
        }
        for (const edge of split.edges) groups.push(...(yield* rowGroups({ ...query, ...edge }, prefix)))
        {
          const parts: Array<ReadonlyArray<ClusterRow>> = []
          if (split.hours !== null) {
            parts.push(
              query.cluster === undefined
                ? yield* sql<ClusterRow>`SELECT cluster, SUM(n) AS n, SUM(score) AS score FROM insight_cluster_rollup
                  WHERE ${sql.and(rollupFilters(query, split.hours))} GROUP BY cluster`
                : // The clusters the filter cluster's insights carry (itself included).
                  yield* sql<ClusterRow>`SELECT other AS cluster, SUM(n) AS n, SUM(score) AS score FROM insight_cluster_pair_rollup
                  WHERE ${sql.and(rollupFilters(query, split.hours))} GROUP BY other`
            )
          }
          for (const edge of split.edges) parts.push(yield* rowClusters({ ...query, ...edge }, null))
          clusters = topClustersOf(parts)
        }
      }
      const emptyLabels = () => ({ positive: 0, neutral: 0, negative: 0 })
      const buckets = new Map<string, { count: number; score: number; labels: Record<SentimentLabel, number> }>()
      const analyzers = new Map<string, { count: number; promptTokens: number; completionTokens: number; costUsd: number }>()
      const labels = emptyLabels()
      let total = 0
      let scoreSum = 0
      // One row per key: parts of a key come from several sources, some taken away (rangeGroups).
      const keyed = new Map<string, GroupRow>()
      for (const row of groups) {
        const key = JSON.stringify([row.b, row.a, row.s])
        const seen = keyed.get(key)
        if (seen === undefined) keyed.set(key, { ...row, n: Number(row.n), score: Number(row.score), pt: Number(row.pt ?? 0), ct: Number(row.ct ?? 0), cost: Number(row.cost ?? 0) })
        else {
          seen.n += Number(row.n)
          seen.score += Number(row.score)
          seen.pt = Number(seen.pt) + Number(row.pt ?? 0)
          seen.ct = Number(seen.ct) + Number(row.ct ?? 0)
          seen.cost = Number(seen.cost) + Number(row.cost ?? 0)
        }
      }
      for (const row of keyed.values()) {
        const n = Number(row.n)
        // A rollup key whose insights were all re-analysed away stays behind with n = 0.
        if (n === 0) continue
        const score = Number(row.score)
        total += n
        scoreSum += score
        if (row.s in labels) labels[row.s] += n
        let bucket = buckets.get(row.b)
        if (bucket === undefined) buckets.set(row.b, (bucket = { count: 0, score: 0, labels: emptyLabels() }))
        bucket.count += n
        bucket.score += score
        if (row.s in bucket.labels) bucket.labels[row.s] += n
        let analyzer = analyzers.get(row.a)
        if (analyzer === undefined) analyzers.set(row.a, (analyzer = { count: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 }))
        analyzer.count += n
        analyzer.promptTokens += Number(row.pt ?? 0)
        analyzer.completionTokens += Number(row.ct ?? 0)
        analyzer.costUsd += Number(row.cost ?? 0)
      }
      const bucketStart = (key: string) => (query.bucket === "hour" ? `${key}:00:00.000Z` : `${key}T00:00:00.000Z`)
      return {
        total,
        meanSentiment: total === 0 ? null : scoreSum / total,
        buckets: [...buckets.entries()]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([key, bucket]) => ({ start: bucketStart(key), count: bucket.count, meanSentiment: bucket.score / bucket.count, labels: bucket.labels })),
        labels,
        topClusters: clusters.map((row) => ({ cluster: row.cluster, count: Number(row.n), meanSentiment: Number(row.score) / Number(row.n) })),
        // Ties by name, so the order does not depend on which path answered.
        analyzers: [...analyzers.entries()]
          .sort(([a, x], [b, y]) => y.count - x.count || (a < b ? -1 : a > b ? 1 : 0))
          .map(([analyzer, stats]) => ({ analyzer, ...stats }))
      }
    }).pipe(Effect.mapError(storeError("summarizing insights")))

  const ping: StoreShape["ping"] = sql`SELECT 1`.pipe(Effect.asVoid, Effect.mapError(storeError("ping")))

  const writable: StoreShape["writable"] = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    if (writeFailure === null) return Effect.void
    // A real write failed within the window: not writable, whatever a probe would say. A small
    // probe can pass on a full disk (it fits in the WAL's room while a batch of rows does not),
    // and it answered 200 between failing writes the whole time the disk was full.
    if (now - writeFailure.at < WRITE_FAILURE_HOLD_MS) return Effect.fail(writeFailure.error)
    // After it, with no write since (a daemon out of rotation gets none), the probe decides:
    // writing the header's user_version back unchanged is the smallest real write (WAL frame,
    // commit), so the daemon comes back once writes pass again, without traffic.
    return Effect.gen(function* () {
      const rows = yield* sql<{ user_version: number }>`PRAGMA user_version`
      yield* sql.unsafe(`PRAGMA user_version = ${Number(rows[0]?.user_version ?? 0)}`)
    }).pipe(Effect.mapError(storeError("writing")), trackWrite)
  })

  // SQLite's data_version changes when another connection commits, never for this one's own
  // commits (the client has one connection), so it tells exactly when someone else wrote.
  const dataVersion = sql<{ data_version: number }>`PRAGMA data_version`.pipe(Effect.map((rows) => Number(rows[0]?.data_version ?? 0)))
  let seenVersion = yield* dataVersion.pipe(Effect.mapError(storeError("opening")))
  const committedElsewhere: StoreShape["committedElsewhere"] = dataVersion.pipe(
    Effect.map((version) => {
      const changed = version !== seenVersion
      seenVersion = version
      return changed
    }),
    Effect.mapError(storeError("checking for other writers"))
  )

  return {
    submit,
    getConversation,
    existingIds,
    retry,
    retryAllFailed,
    retryFailedMatching,
    claim,
    markStarted,
    record,
    releaseClaims,
    recoverAbandoned,
    queryInsights,
    topClusters,
    statusCounts,
    summarize,
    ping,
    writable,
    committedElsewhere
  } satisfies StoreShape
})

const migrate = Migrator.make({})({ loader: Migrator.fromRecord(migrations) })

/**
 * The rollups are derived from the insights; rows written around the Store (the benchmarks' direct
 * fills, a hand edit) leave them behind. Their totals are compared at start (tens of ms at a
 * million insights) and on a difference they are rebuilt from the rows.
 */
const checkRollups = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Cluster rows written around the Store (older tools, the benchmark fills) lack the confidence
  // (migration 0007), and maybe the score, that the summary reads from them. The check is a seek
  // on insight_clusters_confidence: a writer that knows the confidence column writes the score too.
  const [unfilled] = yield* sql<{ n: number }>`SELECT EXISTS (SELECT 1 FROM insight_clusters WHERE confidence IS NULL) AS n`
  if (Number(unfilled?.n ?? 0) === 1) {
    yield* Effect.logWarning("cluster rows without their insight's score or confidence (written outside the daemon?): filling them in")
    yield* sql`UPDATE insight_clusters SET
      sentiment_score = (SELECT i.sentiment_score FROM insights i WHERE i.conversation_id = insight_clusters.conversation_id),
      confidence = (SELECT i.confidence FROM insights i WHERE i.conversation_id = insight_clusters.conversation_id)
      WHERE confidence IS NULL OR sentiment_score IS NULL`
  }
  const [row] = yield* sql<{
    insights: number
    rolled: number | null
    scoreRolled: number | null
    clusters: number
    clusterRolled: number | null
    pairRolled: number | null
    clusterScoreRolled: number | null
    clusterConfidenceRolled: number | null
    dayScoreRolled: number | null
    dayConfidenceRolled: number | null
  }>`SELECT
    (SELECT COUNT(*) FROM insights) AS insights, (SELECT SUM(n) FROM insight_rollup) AS rolled,
    (SELECT SUM(n) FROM insight_score_rollup) AS scoreRolled,
    (SELECT COUNT(*) FROM insight_clusters) AS clusters, (SELECT SUM(n) FROM insight_cluster_rollup) AS clusterRolled,
    (SELECT SUM(n) FROM insight_cluster_pair_rollup WHERE other = cluster) AS pairRolled,
    (SELECT SUM(n) FROM insight_cluster_score_rollup) AS clusterScoreRolled,
    (SELECT SUM(n) FROM insight_cluster_confidence_rollup) AS clusterConfidenceRolled,
    (SELECT SUM(n) FROM insight_day_score_rollup) AS dayScoreRolled,
    (SELECT SUM(n) FROM insight_day_confidence_rollup) AS dayConfidenceRolled`
  if (row === undefined) return
  const insights = Number(row.insights)
  const clusters = Number(row.clusters)
  if (
    insights === Number(row.rolled ?? 0) &&
    insights === Number(row.scoreRolled ?? 0) &&
    clusters === Number(row.clusterRolled ?? 0) &&
    clusters === Number(row.pairRolled ?? 0) &&
    clusters === Number(row.clusterScoreRolled ?? 0) &&
    clusters === Number(row.clusterConfidenceRolled ?? 0) &&
    insights === Number(row.dayScoreRolled ?? 0) &&
    insights === Number(row.dayConfidenceRolled ?? 0)
  ) return
  yield* Effect.logWarning("insight rollups differ from the insights (rows written outside the daemon?): rebuilding them").pipe(
    Effect.annotateLogs({ insights: Number(row.insights), rolled: Number(row.rolled ?? 0) })
  )
  yield* sql.withTransaction(rebuildRollups)
})

/**
 * Creates `dir` and any missing parents, one level at a time. Not `mkdirSync(dir, { recursive: true })`:
 * Node's recursive mkdir never returns where the kernel answers ENOENT for a directory under an
 * existing parent (`/proc/x`, measured on Node 20: it spins at full CPU, SIGTERM unheard), and the
 * daemon hung at start-up instead of saying why.
 */
export const ensureDirectory = (dir: string): void => {
  if (existsSync(dir)) return
  const parent = dirname(dir)
  if (parent !== dir) ensureDirectory(parent)
  try {
    mkdirSync(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
  }
}

export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Opens the SQLite file (creating its directory), with no schema work: see prepareDatabase. */
export const sqliteConnection = (filename: string) =>
  Layer.unwrapEffect(
    Effect.try({
      try: () => {
        if (filename !== ":memory:") ensureDirectory(dirname(filename))
        return SqliteClient.layer({ filename }).pipe(
          // better-sqlite3 says only "unable to open database file" (a directory, no permission, a
          // read-only mount), and as a defect: name the file, as a StoreError.
          Layer.catchAllCause((cause) => {
            const error = Cause.squash(cause)
            return Layer.fail(new StoreError({ message: `database ${filename}: cannot open it (${messageOf(error)})`, cause: error }))
          })
        )
      },
      catch: (cause) => new StoreError({ message: `database ${filename}: cannot create its directory (${messageOf(cause)})`, cause })
    })
  )

/** The newest migration this build knows (ids are the numeric prefixes of the migration names). */
const KNOWN_SCHEMA_VERSION = Math.max(...Object.keys(migrations).map((name) => Number.parseInt(name, 10)))

/** The database's schema version: its newest applied migration (the table is @effect/sql's), 0 if none. */
const schemaVersion = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const table = yield* sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'effect_sql_migrations'`
  if (table.length === 0) return 0
  const rows = yield* sql<{ version: number | null }>`SELECT MAX(migration_id) AS version FROM effect_sql_migrations`.withoutTransform
  return Number(rows[0]?.version ?? 0)
})

/**
 * A database migrated by a newer insightd (after a rollback, say) is refused: this build would
 * write rows the newer schema may not expect (a column it fills, a table it keeps in step), and
 * nothing would say so. A reader (`readOnly`) refuses an older one too, since it may not migrate.
 */
const checkSchemaVersion = (readOnly: boolean) =>
  Effect.gen(function* () {
    const version = yield* schemaVersion
    if (version > KNOWN_SCHEMA_VERSION) {
      return yield* new StoreError({
        message: `its schema version ${version} is newer than this insightd knows (${KNOWN_SCHEMA_VERSION}): run the insightd that migrated it, or a newer one`
      })
    }
    if (readOnly && version < KNOWN_SCHEMA_VERSION) {
      return yield* new StoreError({
        message: `its schema version ${version} is older than this insightd's (${KNOWN_SCHEMA_VERSION}); reading does not change it: run \`insightd migrate\` (or start the daemon) first`
      })
    }
    return version
  })

/** How a database is opened: `readOnly` for a command that only reads (`insightd query`). */
export interface OpenOptions {
  readonly readOnly?: boolean
}

/**
 * Tunes the connection for a daemon (WAL is set by the client), applies pending migrations, checks
 * the rollups. `readOnly` (a command that only reads, `insightd query`): no migration and no
 * rollup repair; a database of another schema version is refused, so an older daemon still
 * running on it is not changed under its feet by a reader.
 */
export const prepareDatabase = (filename: string, options: OpenOptions = {}) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // FULL: a committed (202-acknowledged) row survives power loss too, not only kill -9;
    // group commit makes the extra fsync cheap.
    yield* sql.unsafe("PRAGMA synchronous = FULL")
    yield* sql.unsafe("PRAGMA busy_timeout = 5000")
    yield* sql.unsafe("PRAGMA foreign_keys = ON")
    // Statement journals (kept for multi-row INSERTs and upserts, which may fail half-way) in
    // memory, not in temp files: a perf profile of a backlog being analysed had 14 % of the main
    // thread in subjournal page writes through the kernel.
    yield* sql.unsafe("PRAGMA temp_store = MEMORY")
    yield* checkSchemaVersion(options.readOnly === true)
    if (options.readOnly === true) return
    yield* migrate
    yield* checkRollups
  }).pipe(Effect.mapError((error) => new StoreError({ message: `database ${filename}: ${error.message}`, cause: error })))

/** SQLite connection ready for the Store: prepared (migrated, unless `readOnly`) before anything uses it. */
export const sqliteClientLayer = (filename: string, options: OpenOptions = {}) =>
  Layer.effectDiscard(prepareDatabase(filename, options)).pipe(Layer.provideMerge(sqliteConnection(filename)))

export const SqliteStoreLive = (filename: string, options: OpenOptions = {}): Layer.Layer<Store, StoreError> =>
  Layer.effect(Store, makeSqlStore).pipe(Layer.provide(sqliteClientLayer(filename, options)))
