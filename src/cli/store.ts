/**
 * `insightd store`: conversations JSONL (and insights JSONL, e.g. `insightd analyze` output) on
 * stdin into the database. Conversations go through the daemon's `persist` stage, so many lines
 * share one transaction (group commit) and a resubmitted id behaves as over HTTP: the same content
 * is counted as resubmitted, different content is a conflict and rejected. Insight lines are
 * recorded with Store.record, which marks their conversation completed.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import { Chunk, Effect, Either, Option, ParseResult, Schema, Stream } from "effect"
import { ConversationId, type NewConversation, Timestamp } from "../domain/conversation.js"
import type { ConfigurationError } from "../domain/errors.js"
import { AnalysisResult, type Insight, SentimentLabel, type SentimentThresholds, sentimentLabel } from "../domain/insight.js"
import { WorkSignal } from "../services/WorkSignal.js"
import { persist } from "../stages/persist.js"
import { describeIssues, type InputLine, validateConversation } from "../stages/validate.js"
import { Store, type Submission, type SubmissionOutcome } from "../store/Store.js"
import { SqliteStoreLive } from "../store/sqlite.js"
import { CommandFailed, failWhenRejected, inputLines, parseJsonLine, reportRejected, withConfig, withProgress } from "./shared.js"

/** An insight line: the fields `insightd analyze` writes (timestamp, author and text are ignored). */
export const InsightLine = Schema.Struct({
  ...AnalysisResult.fields,
  conversation_id: ConversationId,
  sentiment: SentimentLabel,
  analyzed_at: Timestamp,
  raw_response: Schema.optionalWith(Schema.String, { default: () => "" }),
  prompt_tokens: Schema.optionalWith(Schema.NullOr(Schema.Number), { default: () => null }),
  completion_tokens: Schema.optionalWith(Schema.NullOr(Schema.Number), { default: () => null }),
  cost_usd: Schema.optionalWith(Schema.NullOr(Schema.Number), { default: () => null })
})
const decodeInsight = Schema.decodeUnknownEither(InsightLine, { errors: "all", onExcessProperty: "ignore" })

/**
 * A line holds an insight when it names a conversation (`conversation_id`) and carries a sentiment
 * score or none of a conversation's own fields: an insight missing its score is then refused as an
 * insight ("sentiment_score is missing"), not as a conversation without author and text, while a
 * conversation with an extra `conversation_id` field stays a conversation.
 */
const isInsightShaped = (json: unknown): boolean =>
  json !== null &&
  typeof json === "object" &&
  !Array.isArray(json) &&
  "conversation_id" in json &&
  ("sentiment_score" in json || !("author" in json || "text" in json || "messages" in json))

/** Lines per transaction at most, and how long a partial group waits for more input. */
const GROUP_SIZE = 2000
const GROUP_WAIT = "100 millis"

interface Counts {
  stored: number
  resubmitted: number
  conflicts: number
  insights: number
  rejected: number
}

type ParsedLine =
  | { readonly _tag: "Conversation"; readonly line: number; readonly conversation: NewConversation }
  | { readonly _tag: "Insight"; readonly line: number; readonly insight: Insight }
  | { readonly _tag: "Rejected"; readonly line: number; readonly reason: string }

const parseLine = ({ line, text, unreadable }: InputLine, thresholds: SentimentThresholds): ParsedLine | undefined => {
  if (unreadable !== undefined) return { _tag: "Rejected", line, reason: unreadable }
  const parsed = parseJsonLine(text)
  if (parsed === undefined) return undefined
  if (Either.isLeft(parsed)) return { _tag: "Rejected", line, reason: parsed.left }
  if (isInsightShaped(parsed.right)) {
    return Either.match(decodeInsight(parsed.right), {
      onLeft: (error): ParsedLine => ({
        _tag: "Rejected",
        line,
        reason: `insight: ${ParseResult.ArrayFormatter.formatErrorSync(error)
          .slice(0, 3)
          .map((issue) => `${issue.path.join(".") || "(line)"}: ${issue.message}`)
          .join("; ")}`
      }),
      onRight: (insight): ParsedLine => {
        // The label is derived from the score (SPEC §3); one that says otherwise would make
        // `sentiment=` filters and the summary's label counts contradict the scores.
        const label = sentimentLabel(insight.sentiment_score, thresholds)
        return label === insight.sentiment
          ? { _tag: "Insight", line, insight }
          : {
              _tag: "Rejected",
              line,
              reason: `insight: sentiment is "${insight.sentiment}" but sentiment_score ${insight.sentiment_score} is "${label}" (negative below ${thresholds.negativeBelow}, positive above ${thresholds.positiveAbove})`
            }
      }
    })
  }
  return Either.match(validateConversation({ json: parsed.right, raw: text.trim() }), {
    onLeft: (issues) => ({ _tag: "Rejected" as const, line, reason: describeIssues(issues) }),
    onRight: (conversation) => ({ _tag: "Conversation" as const, line, conversation })
  })
}

/** Stores one group: its conversations in one transaction, then its insights in another. */
const storeGroup = (group: ReadonlyArray<ParsedLine>, counts: Counts) =>
  Effect.gen(function* () {
    const store = yield* Store
    const conversations = group.flatMap((item) => (item._tag === "Conversation" ? [item] : []))
    const submissions: Array<Submission> = conversations.map((item) => ({ conversations: [item.conversation] }))
    // Stream.fromChunk hands the persist stage the whole group as one chunk: one commit. Its output
    // holds each submission with its outcome; one missing from it could not be stored even alone
    // (the stage logged why).
    const persisted = yield* Stream.fromChunk(Chunk.fromIterable(submissions.map((submission) => ({ submission })))).pipe(persist, Stream.runCollect)
    const outcomes = new Map<Submission, SubmissionOutcome>()
    for (const item of persisted) outcomes.set(item.submission, item.outcome)
    for (let i = 0; i < conversations.length; i++) {
      const outcome = outcomes.get(submissions[i])
      const line = conversations[i].line
      if (outcome === undefined) {
        counts.rejected++
        yield* reportRejected(line, "not stored: the database refused it (see the error logged above)")
      } else if (outcome._tag === "Conflict") {
        counts.conflicts++
        counts.rejected++
        yield* reportRejected(line, `conversation ${conversations[i].conversation.id} already exists with different content`, { conversation_id: conversations[i].conversation.id })
      } else if (outcome.resubmitted > 0) {
        counts.resubmitted++
      } else {
        counts.stored++
      }
    }
    for (const item of group) if (item._tag === "Rejected") yield* reportRejected(item.line, item.reason)
    counts.rejected += group.filter((item) => item._tag === "Rejected").length

    const insights = group.flatMap((item) => (item._tag === "Insight" ? [item] : []))
    if (insights.length > 0) {
      const present: Array<(typeof insights)[number]> = []
      // One query per few hundred insights rather than a row read (and its insight) for each.
      const stored = yield* store.existingIds(insights.map((item) => item.insight.conversation_id))
      for (const item of insights) {
        if (stored.has(item.insight.conversation_id)) present.push(item)
        else {
          counts.rejected++
          yield* reportRejected(item.line, `insight for ${item.insight.conversation_id}: that conversation is not in the database (store the conversations first)`, {
            conversation_id: item.insight.conversation_id
          })
        }
      }
      yield* store.record(present.map((item) => ({ _tag: "Completed" as const, insight: item.insight })))
      counts.insights += present.length
    }
  })

export const runStore: Effect.Effect<void, CommandFailed | ConfigurationError, FileSystem.FileSystem> = withConfig((config) =>
  Effect.gen(function* () {
    const counts: Counts = { stored: 0, resubmitted: 0, conflicts: 0, insights: 0, rejected: 0 }
    yield* inputLines(undefined).pipe(
      Stream.filterMap((input) => Option.fromNullable(parseLine(input, config.sentiment))),
      Stream.groupedWithin(GROUP_SIZE, GROUP_WAIT),
      Stream.mapEffect((group) => storeGroup(Chunk.toReadonlyArray(group), counts)),
      Stream.runDrain,
      (work) => withProgress(work, "store", () => ({ ...counts })),
      Effect.provide(WorkSignal.Default),
      Effect.provide(SqliteStoreLive(config.databaseFile)),
      Effect.catchTag("StoreError", (error) => Effect.fail(new CommandFailed({ message: `store: ${error.message}` })))
    )
    yield* Effect.logInfo("store finished").pipe(Effect.annotateLogs({ database: config.databaseFile, ...counts }))
    yield* failWhenRejected("store", counts.rejected)
  })
)
