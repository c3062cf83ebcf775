/**
 * The Store is the only thing the stages know about persistence. The SQLite implementation lives
 * in ./sqlite.ts; a PostgreSQL one (several daemons, claims with FOR UPDATE SKIP LOCKED) can be
 * added beside it without touching the stages.
 */
import { Context, type Effect, type Option } from "effect"
import type { Conversation, ConversationId, NewConversation } from "../domain/conversation.js"
import type { StoreError } from "../domain/errors.js"
import type { Insight, InsightListItem, SentimentLabel } from "../domain/insight.js"

/** What one client request (or one stdin line) asks to store; stored all-or-nothing. */
export interface Submission {
  readonly conversations: ReadonlyArray<NewConversation>
}

export type SubmissionOutcome =
  /** Every conversation is committed (`resubmitted` of them were already there with the same content). */
  | { readonly _tag: "Accepted"; readonly ids: ReadonlyArray<ConversationId>; readonly resubmitted: number }
  /** Some ids exist with different content; nothing of this submission was stored. */
  | { readonly _tag: "Conflict"; readonly conflictingIds: ReadonlyArray<ConversationId> }

/** The end of one claimed conversation's analysis. */
export type AnalysisOutcome =
  | { readonly _tag: "Completed"; readonly insight: Insight }
  | { readonly _tag: "Failed"; readonly id: ConversationId; readonly error: string }
  /** Not finished (shutdown, analyzer paused): goes back to `pending` untouched. */
  /** Back to pending unanalysed; `keepAttempt` when calls were already spent on it (see AnalysisDeferred). */
  | { readonly _tag: "Released"; readonly id: ConversationId; readonly keepAttempt?: boolean }

export interface InsightCursor {
  readonly timestamp: string
  readonly id: string
}

export interface InsightQuery {
  readonly startTime?: string | undefined
  readonly endTime?: string | undefined
  readonly minConfidence?: number | undefined
  readonly maxConfidence?: number | undefined
  readonly minSentiment?: number | undefined
  readonly maxSentiment?: number | undefined
  readonly sentiment?: SentimentLabel | undefined
  readonly cluster?: string | undefined
  readonly author?: string | undefined
  readonly order: "asc" | "desc"
  readonly limit: number
  readonly after?: InsightCursor | undefined
}

export interface InsightPage {
  readonly items: ReadonlyArray<InsightListItem>
  /** Matches of the filters, regardless of paging. */
  readonly totalCount: number
  /** Position of the last returned item when more may follow. */
  readonly next: InsightCursor | null
}

export interface ConversationWithInsight {
  readonly conversation: Conversation
  readonly insight: Insight | null
}

export type RetryResult = "retried" | "not_found" | "not_failed"

export type StatusCounts = Readonly<Record<Conversation["status"], number>>

/** The insight filters of `InsightQuery` (no order or paging) and the bucket width. */
export type SummaryQuery = Omit<InsightQuery, "order" | "limit" | "after"> & { readonly bucket: "hour" | "day" }

export type LabelCounts = Readonly<Record<SentimentLabel, number>>

export interface InsightSummary {
  readonly total: number
  readonly meanSentiment: number | null
  /** Ascending by start (UTC hour or day start of the conversation timestamp); only buckets with data. */
  readonly buckets: ReadonlyArray<{ readonly start: string; readonly count: number; readonly meanSentiment: number; readonly labels: LabelCounts }>
  readonly labels: LabelCounts
  /** Up to 10, by count descending (then name). */
  readonly topClusters: ReadonlyArray<{ readonly cluster: string; readonly count: number; readonly meanSentiment: number }>
  readonly analyzers: ReadonlyArray<{ readonly analyzer: string; readonly count: number; readonly promptTokens: number; readonly completionTokens: number; readonly costUsd: number }>
}

export interface StoreShape {
  /** Stores many submissions in ONE transaction (group commit); each succeeds or conflicts on its own. */
  readonly submit: (submissions: ReadonlyArray<Submission>) => Effect.Effect<ReadonlyArray<SubmissionOutcome>, StoreError>
  readonly getConversation: (id: string) => Effect.Effect<Option.Option<ConversationWithInsight>, StoreError>
  /** Which of these conversation ids are stored (one query per few hundred ids). */
  readonly existingIds: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, StoreError>
  /** Puts a `failed` conversation back to `pending`. */
  readonly retry: (id: string) => Effect.Effect<RetryResult, StoreError>
  /** Puts every `failed` conversation back to `pending`; returns how many. */
  readonly retryAllFailed: Effect.Effect<number, StoreError>
  /** Puts back to `pending` the `failed` conversations whose last_error starts with `prefix` (ASCII case ignored); returns how many. */
  readonly retryFailedMatching: (prefix: string) => Effect.Effect<number, StoreError>
  /**
   * Atomically takes up to `limit` oldest `pending` conversations and marks them `processing`,
   * counting an attempt. `startsAnalysis` (default true): whether the claim itself begins their
   * analysis (the local analyzer works at once); false when the analyzer reports the start with
   * `markStarted` (Grok, whose claimed rows can wait long for a call slot).
   */
  readonly claim: (limit: number, options?: { readonly startsAnalysis?: boolean }) => Effect.Effect<ReadonlyArray<Conversation>, StoreError>
  /**
   * Records that analysis of these claimed conversations has begun (a Grok call carrying them is
   * about to go out): if the process dies now, their attempt stays counted at the next start.
   */
  readonly markStarted: (ids: ReadonlyArray<ConversationId>) => Effect.Effect<void, StoreError>
  /** Records analysis outcomes in one transaction (insights upserted, statuses updated). */
  readonly record: (outcomes: ReadonlyArray<AnalysisOutcome>) => Effect.Effect<void, StoreError>
  /**
   * Returns every conversation this process still holds `processing` to `pending`. `attempt`:
   * "refund" gives the claim's attempt back (a database failure: the analysis was not at fault);
   * "keep" leaves it counted where the analysis had begun (the analysis died, or a shutdown cut its
   * call off, as recovery after a crash does), so a conversation that keeps killing it, or whose
   * calls outlast every grace period, ends `failed` instead of looping.
   */
  readonly releaseClaims: (attempt: "refund" | "keep") => Effect.Effect<number, StoreError>
  /**
   * At start: conversations left `processing` by a dead process go back to `pending`. Those whose
   * analysis had begun keep the attempt (one that kills the process every time ends `failed`);
   * those still waiting for it get the attempt back, so crashes never use up the budget of
   * conversations that were never sent.
   */
  readonly recoverAbandoned: Effect.Effect<number, StoreError>
  readonly queryInsights: (query: InsightQuery) => Effect.Effect<InsightPage, StoreError>
  /** Most used cluster labels, for analyzers that keep topics consistent. */
  readonly topClusters: (limit: number) => Effect.Effect<ReadonlyArray<string>, StoreError>
  readonly statusCounts: Effect.Effect<StatusCounts, StoreError>
  /** Aggregates of the insights matching the filters (GET /api/v1/insights/summary). */
  readonly summarize: (query: SummaryQuery) => Effect.Effect<InsightSummary, StoreError>
  /** Cheap round trip for readiness. */
  readonly ping: Effect.Effect<void, StoreError>
  /** Fails while writes fail (the latest one failed and a small probe write still does). */
  readonly writable: Effect.Effect<void, StoreError>
  /**
   * True when another process (`insightd store`, `import-csv --store`, `retry-failed`) committed
   * to the database since the previous call, or since the Store was opened for the first call.
   */
  readonly committedElsewhere: Effect.Effect<boolean, StoreError>
}

export class Store extends Context.Tag("insightd/Store")<Store, StoreShape>() {}
