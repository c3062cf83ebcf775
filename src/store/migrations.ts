/**
 * Schema migrations. The SQL sticks to what SQLite and PostgreSQL both accept (row values,
 * ON CONFLICT, RETURNING), so a PostgreSQL Store can reuse it with only type names changed.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * Score buckets per unit of sentiment score: bucket k holds the scores in [k / 1024, (k + 1) / 1024).
 * A power of two, so `score * SCORE_BUCKETS` and `k / SCORE_BUCKETS` are exact in binary floating
 * point: JavaScript's Math.floor, SQL's floor() and the edge bounds all agree on every score. 1/1024
 * keeps a partial edge bucket at ~500 rows per million insights and a whole range at ≤ 2,049 buckets.
 */
export const SCORE_BUCKETS = 1024

/**
 * Buckets per unit of score or confidence in the per-day range rollups (migration 0008): bucket k
 * holds [k / 128, (k + 1) / 128). A power of two for the same exactness; coarser than
 * SCORE_BUCKETS because these rows are also keyed by day (and label and analyzer): at a million
 * insights over 90 days ~50 k rows, where a partial edge bucket is < 1 % of the insights.
 */
export const RANGE_BUCKETS = 128

/** The hourly rollups (migration 0004) recomputed from the insights. */
const rebuildHourRollups = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DELETE FROM insight_rollup`
  yield* sql`DELETE FROM insight_cluster_rollup`
  yield* sql`DELETE FROM insight_cluster_pair_rollup`
  yield* sql`INSERT INTO insight_rollup (hour, sentiment, analyzer, n, score, prompt_tokens, completion_tokens, cost_usd)
    SELECT substr(timestamp, 1, 13), sentiment, analyzer, COUNT(*), SUM(sentiment_score),
      COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost_usd), 0)
    FROM insights GROUP BY substr(timestamp, 1, 13), sentiment, analyzer`
  // The insight's own timestamp and score: they are what the filters and the summary read. The
  // insights are read in table order and their cluster rows looked up (ids are roughly in insert
  // order, so the lookups stay in cache): SQLite otherwise walks an index and fetches rows at
  // random, 65 s instead of 10 s at a million. NOT INDEXED is SQLite's; PostgreSQL drops it.
  yield* sql`INSERT INTO insight_cluster_rollup (cluster, hour, sentiment, analyzer, n, score, prompt_tokens, completion_tokens, cost_usd)
    SELECT c.cluster, substr(i.timestamp, 1, 13), i.sentiment, i.analyzer, COUNT(*), SUM(i.sentiment_score),
      COALESCE(SUM(i.prompt_tokens), 0), COALESCE(SUM(i.completion_tokens), 0), COALESCE(SUM(i.cost_usd), 0)
    FROM insights i NOT INDEXED CROSS JOIN insight_clusters c WHERE c.conversation_id = i.conversation_id
    GROUP BY c.cluster, substr(i.timestamp, 1, 13), i.sentiment, i.analyzer`
  yield* sql`INSERT INTO insight_cluster_pair_rollup (cluster, hour, other, sentiment, n, score)
    SELECT k.cluster, substr(i.timestamp, 1, 13), c.cluster, i.sentiment, COUNT(*), SUM(i.sentiment_score)
    FROM insights i NOT INDEXED CROSS JOIN insight_clusters k CROSS JOIN insight_clusters c
    WHERE k.conversation_id = i.conversation_id AND c.conversation_id = i.conversation_id
    GROUP BY k.cluster, substr(i.timestamp, 1, 13), c.cluster, i.sentiment`
})

/** The score-bucket rollups (migration 0005) recomputed from the insights. */
const rebuildScoreRollups = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Written into the text, not bound: the GROUP BY must repeat the selected expression exactly.
  const bucket = (column: string) => sql.literal(`floor(${column} * ${SCORE_BUCKETS})`)
  yield* sql`DELETE FROM insight_score_rollup`
  yield* sql`DELETE FROM insight_cluster_score_rollup`
  yield* sql`INSERT INTO insight_score_rollup (bucket, sentiment, n)
    SELECT ${bucket("sentiment_score")}, sentiment, COUNT(*) FROM insights GROUP BY ${bucket("sentiment_score")}, sentiment`
  // Table order and cluster lookups, as for insight_cluster_rollup above.
  yield* sql`INSERT INTO insight_cluster_score_rollup (cluster, bucket, sentiment, n, score)
    SELECT c.cluster, ${bucket("i.sentiment_score")}, i.sentiment, COUNT(*), SUM(i.sentiment_score)
    FROM insights i NOT INDEXED CROSS JOIN insight_clusters c WHERE c.conversation_id = i.conversation_id
    GROUP BY c.cluster, ${bucket("i.sentiment_score")}, i.sentiment`
})

/** The range rollups (migration 0008) recomputed from the insights. */
const rebuildRangeRollups = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const bucket = (column: string, buckets: number) => sql.literal(`floor(${column} * ${buckets})`)
  yield* sql`DELETE FROM insight_day_score_rollup`
  yield* sql`DELETE FROM insight_day_confidence_rollup`
  yield* sql`DELETE FROM insight_cluster_confidence_rollup`
  for (const [table, column] of [["insight_day_score_rollup", "sentiment_score"], ["insight_day_confidence_rollup", "confidence"]] as const) {
    yield* sql`INSERT INTO ${sql.literal(table)} (bucket, day, sentiment, analyzer, n, score, prompt_tokens, completion_tokens, cost_usd)
      SELECT ${bucket(column, RANGE_BUCKETS)}, substr(timestamp, 1, 10), sentiment, analyzer, COUNT(*), SUM(sentiment_score),
        COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost_usd), 0)
      FROM insights GROUP BY ${bucket(column, RANGE_BUCKETS)}, substr(timestamp, 1, 10), sentiment, analyzer`
  }
  yield* sql`INSERT INTO insight_cluster_confidence_rollup (cluster, bucket, sentiment, n, score)
    SELECT c.cluster, ${bucket("i.confidence", SCORE_BUCKETS)}, i.sentiment, COUNT(*), SUM(i.sentiment_score)
    FROM insights i NOT INDEXED CROSS JOIN insight_clusters c WHERE c.conversation_id = i.conversation_id
    GROUP BY c.cluster, ${bucket("i.confidence", SCORE_BUCKETS)}, i.sentiment`
})

/**
 * Recomputes every rollup table from the insights: at start when the rollups disagree with the
 * rows (something other than the Store wrote insights, e.g. the benchmark fill scripts).
 */
export const rebuildRollups = Effect.gen(function* () {
  yield* rebuildHourRollups
  yield* rebuildScoreRollups
  yield* rebuildRangeRollups
})

export const migrations = {
  "0001_create_conversations": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // content_hash is no longer used: a resubmission is compared by its raw JSON (domain/content.ts),
    // so nothing is hashed per conversation and new rows hold ''. Dropping it would rewrite the table.
    yield* sql`CREATE TABLE conversations (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      text TEXT NOT NULL,
      author TEXT NOT NULL,
      timestamp TEXT NOT NULL,
      messages TEXT,
      metadata TEXT,
      raw TEXT NOT NULL,
      content_hash TEXT NOT NULL,
      status TEXT NOT NULL DEFAULT 'pending',
      attempts INTEGER NOT NULL DEFAULT 0,
      last_error TEXT,
      claimed_by TEXT,
      claimed_at TEXT,
      received_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`
    // Claims take the oldest pending rows: (status, seq) serves them without a sort.
    yield* sql`CREATE INDEX conversations_status_seq ON conversations (status, seq)`
    yield* sql`CREATE TABLE insights (
      conversation_id TEXT PRIMARY KEY REFERENCES conversations (id),
      timestamp TEXT NOT NULL,
      author TEXT NOT NULL,
      sentiment_score REAL NOT NULL,
      sentiment TEXT NOT NULL,
      confidence REAL NOT NULL,
      clusters TEXT NOT NULL,
      reasoning TEXT NOT NULL,
      analyzer TEXT NOT NULL,
      raw_response TEXT NOT NULL,
      prompt_tokens INTEGER,
      completion_tokens INTEGER,
      cost_usd REAL,
      analyzed_at TEXT NOT NULL
    )`
    // (timestamp, conversation_id) is the cursor order; the others lead with a filter column.
    yield* sql`CREATE INDEX insights_timestamp ON insights (timestamp, conversation_id)`
    yield* sql`CREATE INDEX insights_author ON insights (author, timestamp, conversation_id)`
    yield* sql`CREATE INDEX insights_sentiment ON insights (sentiment, timestamp, conversation_id)`
    yield* sql`CREATE INDEX insights_confidence ON insights (confidence)`
    yield* sql`CREATE INDEX insights_score ON insights (sentiment_score)`
    yield* sql`CREATE TABLE insight_clusters (
      conversation_id TEXT NOT NULL REFERENCES insights (conversation_id),
      cluster TEXT NOT NULL,
      timestamp TEXT NOT NULL,
      PRIMARY KEY (conversation_id, cluster)
    )`
    yield* sql`CREATE INDEX insight_clusters_cluster ON insight_clusters (cluster, timestamp, conversation_id)`
  }),
  "0002_insights_summary_index": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // Covers GET /api/v1/insights/summary: its aggregate reads only this index (a fraction of the
    // table's rows, which carry the reasoning and raw response), seeking to the time range first.
    yield* sql`CREATE INDEX insights_summary ON insights (timestamp, sentiment, sentiment_score, analyzer, confidence, prompt_tokens, completion_tokens, cost_usd)`
  }),
  "0003_cluster_sentiment": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // The summary's top clusters with their mean sentiment, read from one index: joining a million
    // cluster rows to their insights took seconds (bench/summary.mjs), this takes a fraction.
    yield* sql`ALTER TABLE insight_clusters ADD COLUMN sentiment_score REAL`
    yield* sql`UPDATE insight_clusters SET sentiment_score = (SELECT i.sentiment_score FROM insights i WHERE i.conversation_id = insight_clusters.conversation_id)`
    yield* sql`CREATE INDEX insight_clusters_summary ON insight_clusters (cluster, timestamp, sentiment_score)`
  }),
  "0004_insight_rollups": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // Per UTC hour (the first 13 characters of the normalised timestamp), label and analyzer: the
    // total_count of unfiltered / time / label queries and the summary read a few rows per hour
    // instead of every insight. The Store keeps them in step in the transaction that writes insights.
    yield* sql`CREATE TABLE insight_rollup (
      hour TEXT NOT NULL,
      sentiment TEXT NOT NULL,
      analyzer TEXT NOT NULL,
      n INTEGER NOT NULL,
      score REAL NOT NULL,
      prompt_tokens INTEGER NOT NULL,
      completion_tokens INTEGER NOT NULL,
      cost_usd REAL NOT NULL,
      PRIMARY KEY (hour, sentiment, analyzer)
    )`
    // The same per cluster, for cluster filters and the summary's top clusters.
    yield* sql`CREATE TABLE insight_cluster_rollup (
      cluster TEXT NOT NULL,
      hour TEXT NOT NULL,
      sentiment TEXT NOT NULL,
      analyzer TEXT NOT NULL,
      n INTEGER NOT NULL,
      score REAL NOT NULL,
      prompt_tokens INTEGER NOT NULL,
      completion_tokens INTEGER NOT NULL,
      cost_usd REAL NOT NULL,
      PRIMARY KEY (cluster, hour, sentiment, analyzer)
    )`
    // Covering: a cluster's count over a year is ~26 k entries, too many to fetch table rows for.
    yield* sql`CREATE INDEX insight_cluster_rollup_covering ON insight_cluster_rollup
      (cluster, hour, sentiment, analyzer, n, score, prompt_tokens, completion_tokens, cost_usd)`
    // The clusters carried by a cluster's insights (itself included), for the summary's top clusters
    // under a cluster filter: from the rows that meant a lookup per insight (~100 ms for a week).
    yield* sql`CREATE TABLE insight_cluster_pair_rollup (
      cluster TEXT NOT NULL,
      hour TEXT NOT NULL,
      other TEXT NOT NULL,
      sentiment TEXT NOT NULL,
      n INTEGER NOT NULL,
      score REAL NOT NULL,
      PRIMARY KEY (cluster, hour, other, sentiment)
    )`
    yield* sql`CREATE INDEX insight_cluster_pair_rollup_covering ON insight_cluster_pair_rollup (cluster, hour, other, sentiment, n, score)`
    // Rows written by earlier versions. Only these tables: the later migrations' do not exist yet.
    yield* rebuildHourRollups
  }),
  "0005_score_rollups": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // Counts per score bucket (SCORE_BUCKETS) and label, over all time: the total_count of a score
    // range without a time filter sums its whole buckets here and reads only the two partial edge
    // buckets from the score index, instead of every match (~150 k index entries, 3.3 ms, for
    // -0.5..-0.2 at a million insights; ~1 s with a label filter, which walked the label index).
    // No hour key: hour × fine bucket would have about as many rows as the insights themselves.
    yield* sql`CREATE TABLE insight_score_rollup (
      bucket INTEGER NOT NULL,
      sentiment TEXT NOT NULL,
      n INTEGER NOT NULL,
      PRIMARY KEY (bucket, sentiment)
    )`
    yield* sql`CREATE INDEX insight_score_rollup_covering ON insight_score_rollup (bucket, sentiment, n)`
    // The same per cluster, for a score range with a cluster filter.
    yield* sql`CREATE TABLE insight_cluster_score_rollup (
      cluster TEXT NOT NULL,
      bucket INTEGER NOT NULL,
      sentiment TEXT NOT NULL,
      n INTEGER NOT NULL,
      PRIMARY KEY (cluster, bucket, sentiment)
    )`
    yield* sql`CREATE INDEX insight_cluster_score_rollup_covering ON insight_cluster_score_rollup (cluster, bucket, sentiment, n)`
    // Filled by migration 0008, which every database that runs this one runs after it (its
    // rebuild writes the score column this version of the table lacks).
  }),
  "0006_conversations_analysis_started": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // Whether a claimed conversation's analysis has begun (1) or it still waits for it (0): the
    // recovery after a crash refunds the attempt of those that waited (SqliteStore.claim and
    // markStarted). Rows of earlier versions count as begun, as recovery then treated them.
    yield* sql`ALTER TABLE conversations ADD COLUMN analysis_started INTEGER NOT NULL DEFAULT 1`
  }),
  "0007_summary_filter_indexes": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // A summary filtered by confidence or score range read each matching insight's row, then its
    // cluster rows by id: 1.6 s (min_confidence=0.9) and 2.5 s (score -0.5..-0.2) at a million
    // insights (bench/summary.mjs). The cluster rows now carry their insight's confidence too, so
    // the top clusters come from cluster index entries alone (SqliteStore.rowClusters); the groups
    // read insights_summary, which already holds both (rowGroups). Covering indexes led by
    // confidence and score were faster still for the summary, but slowed every insight write
    // (a local backlog drained 11 % slower).
    yield* sql`ALTER TABLE insight_clusters ADD COLUMN confidence REAL`
    yield* sql`UPDATE insight_clusters SET confidence = (SELECT i.confidence FROM insights i WHERE i.conversation_id = insight_clusters.conversation_id)`
    // (A score range over the cluster rows reads insight_clusters_summary, which holds the score:
    // an index leading with the score measured no faster, and each index slows every insight write.)
    yield* sql`CREATE INDEX insight_clusters_confidence ON insight_clusters (confidence, cluster, sentiment_score, timestamp)`
    // A database someone ran ANALYZE on has statistics for the other indexes only: the planner then
    // kept scanning those (a skip-scan of all cluster rows) rather than seek these.
    const stats = yield* sql`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'`
    if (stats.length > 0) {
      yield* sql`ANALYZE insights`
      yield* sql`ANALYZE insight_clusters`
    }
  }),
  "0008_range_rollups": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // A summary by day over a confidence or score range read every insight's summary index entry
    // and sorted the matches to group them: 179 ms (min_confidence=0.9) and 230 ms (score
    // -0.5..-0.2) p95 at a million insights (bench/summary.mjs). Per day, RANGE_BUCKETS bucket,
    // label and analyzer, these hold what the summary's groups sum, so a range reads its whole
    // buckets here and only its partial edge buckets (and partial edge days) from the rows.
    // Covering indexes led by score or confidence instead still sorted every match (~110 ms).
    // The price is paid on insight writes (each batch's values land in many buckets): a local
    // backlog drained 8-14 % slower in alternating A/Bs, though their statements take ~2 % of the
    // thread (bench/sql-timing.mjs); COMMIT's fsync takes half of it either way. WITHOUT ROWID
    // (SQLite's; PostgreSQL drops it) keeps each table one B-tree, the key being the table, with no
    // rowid table beside a key index nor a covering index; the drain measured the same (540 vs 554/s).
    for (const table of ["insight_day_score_rollup", "insight_day_confidence_rollup"]) {
      yield* sql`CREATE TABLE ${sql.literal(table)} (
        bucket INTEGER NOT NULL,
        day TEXT NOT NULL,
        sentiment TEXT NOT NULL,
        analyzer TEXT NOT NULL,
        n INTEGER NOT NULL,
        score REAL NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        PRIMARY KEY (bucket, day, sentiment, analyzer)
      ) WITHOUT ROWID`
    }
    // The summary's top clusters over a range (all time): per cluster, SCORE_BUCKETS bucket and
    // label, the count and now the score sum (a cluster's mean sentiment), for score and confidence.
    yield* sql`DROP TABLE insight_cluster_score_rollup`
    for (const table of ["insight_cluster_score_rollup", "insight_cluster_confidence_rollup"]) {
      yield* sql`CREATE TABLE ${sql.literal(table)} (
        cluster TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        sentiment TEXT NOT NULL,
        n INTEGER NOT NULL,
        score REAL NOT NULL,
        PRIMARY KEY (cluster, bucket, sentiment)
      ) WITHOUT ROWID`
    }
    yield* rebuildScoreRollups
    yield* rebuildRangeRollups
  })
}
