/** The Store on SQLite (`@effect/sql-sqlite-node`, better-sqlite3): the embedded default. */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Migrator from "@effect/sql/Migrator"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Clock, Effect, Layer, Option } from "effect"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { randomUUID } from "node:crypto"
import type { Conversation, ConversationId, Message } from "../domain/conversation.js"
import { StoreError } from "../domain/errors.js"
import type { Insight, InsightListItem, SentimentLabel } from "../domain/insight.js"
import { migrations } from "./migrations.js"
import {
  type ConversationWithInsight,
  type InsightQuery,
  type StatusCounts,
  Store,
  type StoreShape,
  type Submission,
  type SubmissionOutcome
} from "./Store.js"

type Row = Record<string, unknown>

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

const nowIso = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis).toISOString())

/** Builds the Store over whatever SqlClient is provided (one process owns the SQLite file). */
export const makeSqlStore = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Identifies this process's claims, so a shared database (PostgreSQL) can tell owners apart.
  const owner = `${process.pid}-${randomUUID().slice(0, 8)}`

  const submit: StoreShape["submit"] = (submissions) =>
    Effect.gen(function* () {
      const now = yield* nowIso
      const clientIds = new Set<string>()
      for (const submission of submissions) for (const c of submission.conversations) if (c.clientId) clientIds.add(c.id)
      const known = new Map<string, string>()
      for (const ids of chunksOf([...clientIds], ROWS_PER_INSERT)) {
        const rows = yield* sql<{ id: string; content_hash: string }>`SELECT id, content_hash FROM conversations WHERE ${sql.in("id", ids)}`
        for (const row of rows) known.set(row.id, row.content_hash)
      }
      const outcomes: Array<SubmissionOutcome> = []
      const rows: Array<Row> = []
      for (const submission of submissions) {
        const conflictingIds: Array<ConversationId> = []
        const fresh = new Map<string, Submission["conversations"][number]>()
        let resubmitted = 0
        for (const conversation of submission.conversations) {
          const previous = known.get(conversation.id) ?? fresh.get(conversation.id)?.contentHash
          if (previous === undefined) fresh.set(conversation.id, conversation)
          else if (previous === conversation.contentHash) resubmitted++
          else conflictingIds.push(conversation.id)
        }
        if (conflictingIds.length > 0) {
          outcomes.push({ _tag: "Conflict", conflictingIds })
          continue
        }
        for (const conversation of fresh.values()) {
          known.set(conversation.id, conversation.contentHash)
          rows.push({
            id: conversation.id,
            text: conversation.text,
            author: conversation.author,
            timestamp: conversation.timestamp,
            messages: conversation.messages === null ? null : JSON.stringify(conversation.messages),
            metadata: conversation.metadata === null ? null : JSON.stringify(conversation.metadata),
            raw: conversation.raw,
            content_hash: conversation.contentHash,
            status: "pending",
            attempts: 0,
            received_at: now,
            updated_at: now
          })
        }
        outcomes.push({ _tag: "Accepted", ids: submission.conversations.map((c) => c.id), resubmitted })
      }
      for (const chunk of chunksOf(rows, ROWS_PER_INSERT)) {
        yield* sql`INSERT INTO conversations ${sql.insert(chunk as Array<Row>)}`
      }
      return outcomes
    }).pipe(sql.withTransaction, Effect.mapError(storeError("storing conversations")))

  const getConversation: StoreShape["getConversation"] = (id) =>
    Effect.gen(function* () {
      const rows = yield* sql<Row>`SELECT * FROM conversations WHERE id = ${id}`
      if (rows.length === 0) return Option.none<ConversationWithInsight>()
      const insights = yield* sql<Row>`SELECT * FROM insights WHERE conversation_id = ${id}`
      return Option.some({ conversation: toConversation(rows[0]), insight: insights.length === 0 ? null : toInsight(insights[0]) })
    }).pipe(Effect.mapError(storeError("reading a conversation")))

  const retry: StoreShape["retry"] = (id) =>
    Effect.gen(function* () {
      const now = yield* nowIso
      const updated = yield* sql<Row>`UPDATE conversations SET status = 'pending', attempts = 0, updated_at = ${now}
        WHERE id = ${id} AND status = 'failed' RETURNING id`
      if (updated.length > 0) return "retried" as const
      const exists = yield* sql<Row>`SELECT id FROM conversations WHERE id = ${id}`
      return exists.length === 0 ? ("not_found" as const) : ("not_failed" as const)
    }).pipe(sql.withTransaction, Effect.mapError(storeError("retrying a conversation")))

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

  const claim: StoreShape["claim"] = (limit) =>
    Effect.gen(function* () {
      const now = yield* nowIso
      // PostgreSQL: the inner SELECT gets FOR UPDATE SKIP LOCKED so daemons never claim the same rows.
      const rows = yield* sql<Row>`UPDATE conversations
        SET status = 'processing', attempts = attempts + 1, claimed_by = ${owner}, claimed_at = ${now}, updated_at = ${now}
        WHERE seq IN (SELECT seq FROM conversations WHERE status = 'pending' ORDER BY seq LIMIT ${limit})
        RETURNING *`
      return [...rows].sort((a, b) => Number(a.seq) - Number(b.seq)).map(toConversation)
    }).pipe(Effect.mapError(storeError("claiming conversations")))

  const record: StoreShape["record"] = (outcomes) =>
    Effect.gen(function* () {
      if (outcomes.length === 0) return
      const now = yield* nowIso
      const completed = outcomes.flatMap((o) => (o._tag === "Completed" ? [o.insight] : []))
      for (const chunk of chunksOf(completed, ROWS_PER_INSERT)) {
        const ids = chunk.map((insight) => insight.conversation_id)
        const located = yield* sql<{ id: string; timestamp: string; author: string }>`SELECT id, timestamp, author FROM conversations WHERE ${sql.in("id", ids)}`
        const byId = new Map(located.map((row) => [row.id, row]))
        const present = chunk.filter((insight) => byId.has(insight.conversation_id))
        if (present.length === 0) continue
        const presentIds = present.map((insight) => insight.conversation_id)
        yield* sql`DELETE FROM insight_clusters WHERE ${sql.in("conversation_id", presentIds)}`
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
            sentiment_score: insight.sentiment_score
          }))
        )
        for (const clusterChunk of chunksOf(clusterRows, ROWS_PER_INSERT)) {
          yield* sql`INSERT INTO insight_clusters ${sql.insert([...clusterChunk])}`
        }
        yield* sql`UPDATE conversations SET status = 'completed', last_error = NULL, claimed_by = NULL, claimed_at = NULL, updated_at = ${now}
          WHERE ${sql.in("id", presentIds)}`
      }
      for (const outcome of outcomes) {
        if (outcome._tag === "Failed") {
          yield* sql`UPDATE conversations SET status = 'failed', last_error = ${outcome.error.slice(0, 2000)}, claimed_by = NULL, claimed_at = NULL, updated_at = ${now}
            WHERE id = ${outcome.id}`
        }
      }
      const released = outcomes.flatMap((o) => (o._tag === "Released" ? [o.id] : []))
      for (const ids of chunksOf(released, ROWS_PER_INSERT)) {
        // A release is not an attempt: the conversation was never analysed.
        yield* sql`UPDATE conversations SET status = 'pending', claimed_by = NULL, claimed_at = NULL, updated_at = ${now},
          attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
          WHERE status = 'processing' AND ${sql.in("id", ids)}`
      }
    }).pipe(sql.withTransaction, Effect.mapError(storeError("recording analysis results")))

  const releaseClaims: StoreShape["releaseClaims"] = Effect.gen(function* () {
    const now = yield* nowIso
    const rows = yield* sql<Row>`UPDATE conversations SET status = 'pending', claimed_by = NULL, claimed_at = NULL, updated_at = ${now},
      attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
      WHERE status = 'processing' AND claimed_by = ${owner} RETURNING id`
    return rows.length
  }).pipe(Effect.mapError(storeError("releasing claims")))

  // One daemon owns a SQLite file, so any `processing` row at start was left by a dead process.
  // Its attempt stays counted: a conversation that crashes the analyzer cannot loop forever.
  const recoverAbandoned: StoreShape["recoverAbandoned"] = Effect.gen(function* () {
    const now = yield* nowIso
    const rows = yield* sql<Row>`UPDATE conversations SET status = 'pending', claimed_by = NULL, claimed_at = NULL, updated_at = ${now}
      WHERE status = 'processing' RETURNING id`
    return rows.length
  }).pipe(Effect.mapError(storeError("recovering abandoned claims")))

  /** WHERE conditions of the insights filters, shared by the list and the summary (alias `i`). */
  const insightFilters = (query: Omit<InsightQuery, "order" | "limit" | "after">) =>
    [
      query.startTime === undefined ? null : sql`i.timestamp >= ${query.startTime}`,
      query.endTime === undefined ? null : sql`i.timestamp < ${query.endTime}`,
      query.minConfidence === undefined ? null : sql`i.confidence >= ${query.minConfidence}`,
      query.maxConfidence === undefined ? null : sql`i.confidence <= ${query.maxConfidence}`,
      query.minSentiment === undefined ? null : sql`i.sentiment_score >= ${query.minSentiment}`,
      query.maxSentiment === undefined ? null : sql`i.sentiment_score <= ${query.maxSentiment}`,
      query.sentiment === undefined ? null : sql`i.sentiment = ${query.sentiment}`,
      query.author === undefined ? null : sql`i.author = ${query.author}`,
      // The time range again inside: the subquery then reads only that range of the cluster's rows.
      query.cluster === undefined
        ? null
        : sql`i.conversation_id IN (SELECT conversation_id FROM insight_clusters WHERE cluster = ${query.cluster}
            AND timestamp >= ${query.startTime ?? ""} AND timestamp < ${query.endTime ?? "\uffff"})`
    ].filter((f) => f !== null)

  const queryInsights: StoreShape["queryInsights"] = (query) =>
    Effect.gen(function* () {
      const filters = insightFilters(query)
      const countRows = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM insights i WHERE ${sql.and(filters)}`
      const after =
        query.after === undefined
          ? []
          : query.order === "desc"
            ? [sql`(i.timestamp, i.conversation_id) < (${query.after.timestamp}, ${query.after.id})`]
            : [sql`(i.timestamp, i.conversation_id) > (${query.after.timestamp}, ${query.after.id})`]
      const direction = sql.literal(query.order === "desc" ? "DESC" : "ASC")
      // One extra row tells whether another page follows.
      const rows = yield* sql<Row>`SELECT i.*, c.text FROM insights i JOIN conversations c ON c.id = i.conversation_id
        WHERE ${sql.and([...filters, ...after])}
        ORDER BY i.timestamp ${direction}, i.conversation_id ${direction}
        LIMIT ${query.limit + 1}`
      const page = rows.slice(0, query.limit).map(toListItem)
      const last = page[page.length - 1]
      return {
        items: page,
        totalCount: Number(countRows[0]?.n ?? 0),
        next: rows.length > query.limit && last !== undefined ? { timestamp: last.timestamp, id: last.conversation_id } : null
      }
    }).pipe(Effect.mapError(storeError("querying insights")))

  const topClusters: StoreShape["topClusters"] = (limit) =>
    sql<{ cluster: string }>`SELECT cluster, COUNT(*) AS n FROM insight_clusters GROUP BY cluster ORDER BY n DESC, cluster ASC LIMIT ${limit}`.pipe(
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

  const summarize: StoreShape["summarize"] = (query) =>
    Effect.gen(function* () {
      const filters = insightFilters(query)
      // Timestamps are normalised UTC ISO strings: the first 13 (hour) or 10 (day) characters name the bucket.
      const prefix = query.bucket === "hour" ? 13 : 10
      // One pass over the summary index (migration 0002) gives buckets, labels and analyzers at once.
      // It sorts the matching rows to group them: under a second for a million, proportional to the range.
      const groups = yield* sql<{ b: string; a: string; s: SentimentLabel; n: number; score: number; pt: number | null; ct: number | null; cost: number | null }>`
        SELECT substr(i.timestamp, 1, ${prefix}) AS b, i.analyzer AS a, i.sentiment AS s, COUNT(*) AS n, SUM(i.sentiment_score) AS score,
          SUM(i.prompt_tokens) AS pt, SUM(i.completion_tokens) AS ct, SUM(i.cost_usd) AS cost
        FROM insights i WHERE ${sql.and(filters)} GROUP BY b, a, s`
      // Cluster rows carry their insight's timestamp and score (migration 0003): a time range alone
      // is answered from the insight_clusters_summary index; other filters need the join.
      const onlyTime = filters.length === (query.startTime === undefined ? 0 : 1) + (query.endTime === undefined ? 0 : 1)
      const clusters = onlyTime
        ? yield* sql<{ cluster: string; n: number; score: number }>`
          SELECT c.cluster AS cluster, COUNT(*) AS n, SUM(c.sentiment_score) AS score FROM insight_clusters c
          WHERE ${sql.and([query.startTime === undefined ? null : sql`c.timestamp >= ${query.startTime}`, query.endTime === undefined ? null : sql`c.timestamp < ${query.endTime}`].filter((f) => f !== null))}
          GROUP BY c.cluster ORDER BY n DESC, c.cluster ASC LIMIT 10`
        : yield* sql<{ cluster: string; n: number; score: number }>`
          SELECT c.cluster AS cluster, COUNT(*) AS n, SUM(i.sentiment_score) AS score
          FROM insight_clusters c JOIN insights i ON i.conversation_id = c.conversation_id
          WHERE ${sql.and(filters)} GROUP BY c.cluster ORDER BY n DESC, c.cluster ASC LIMIT 10`
      const emptyLabels = () => ({ positive: 0, neutral: 0, negative: 0 })
      const buckets = new Map<string, { count: number; score: number; labels: Record<SentimentLabel, number> }>()
      const analyzers = new Map<string, { count: number; promptTokens: number; completionTokens: number; costUsd: number }>()
      const labels = emptyLabels()
      let total = 0
      let scoreSum = 0
      for (const row of groups) {
        const n = Number(row.n)
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
        analyzers: [...analyzers.entries()]
          .sort(([, a], [, b]) => b.count - a.count)
          .map(([analyzer, stats]) => ({ analyzer, ...stats }))
      }
    }).pipe(Effect.mapError(storeError("summarizing insights")))

  const ping: StoreShape["ping"] = sql`SELECT 1`.pipe(Effect.asVoid, Effect.mapError(storeError("ping")))

  return {
    submit,
    getConversation,
    retry,
    retryAllFailed,
    retryFailedMatching,
    claim,
    record,
    releaseClaims,
    recoverAbandoned,
    queryInsights,
    topClusters,
    statusCounts,
    summarize,
    ping
  } satisfies StoreShape
})

const migrate = Migrator.make({})({ loader: Migrator.fromRecord(migrations) })

/** SQLite connection tuned for a daemon: WAL (set by the client), full fsync on commit, FKs on. */
export const sqliteClientLayer = (filename: string) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      // FULL: a committed (202-acknowledged) row survives power loss too, not only kill -9;
      // group commit makes the extra fsync cheap.
      yield* sql.unsafe("PRAGMA synchronous = FULL")
      yield* sql.unsafe("PRAGMA busy_timeout = 5000")
      yield* sql.unsafe("PRAGMA foreign_keys = ON")
      yield* migrate
    }).pipe(Effect.mapError((error) => new StoreError({ message: `database ${filename}: ${error.message}`, cause: error })))
  ).pipe(
    Layer.provideMerge(
      Layer.unwrapEffect(
        Effect.try({
          try: () => {
            if (filename !== ":memory:") mkdirSync(dirname(filename), { recursive: true })
            return SqliteClient.layer({ filename }).pipe(Layer.orDie)
          },
          catch: (cause) => new StoreError({ message: `database ${filename}: cannot create its directory`, cause })
        })
      )
    )
  )

export const SqliteStoreLive = (filename: string): Layer.Layer<Store, StoreError> =>
  Layer.effect(Store, makeSqlStore).pipe(Layer.provide(sqliteClientLayer(filename)))
