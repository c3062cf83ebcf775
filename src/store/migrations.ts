/**
 * Schema migrations. The SQL sticks to what SQLite and PostgreSQL both accept (row values,
 * ON CONFLICT, RETURNING), so a PostgreSQL Store can reuse it with only type names changed.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export const migrations = {
  "0001_create_conversations": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
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
  })
}
