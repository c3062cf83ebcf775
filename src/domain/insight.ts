/** Insights and analysis results (SPEC §3). */
import { Schema } from "effect"
import type { ConversationId } from "./conversation.js"

export const ClusterLabel = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/, { message: () => "cluster labels are lowercase snake_case" }),
  Schema.maxLength(64)
)

export const SentimentScore = Schema.Number.pipe(Schema.between(-1, 1, { message: () => "sentiment_score must be between -1 and 1" }))
export const Confidence = Schema.Number.pipe(Schema.between(0, 1, { message: () => "confidence must be between 0 and 1" }))

export const SentimentLabel = Schema.Literal("positive", "negative", "neutral")
export type SentimentLabel = typeof SentimentLabel.Type

export interface SentimentThresholds {
  readonly negativeBelow: number
  readonly positiveAbove: number
}
export const defaultThresholds: SentimentThresholds = { negativeBelow: -0.1, positiveAbove: 0.1 }

export const sentimentLabel = (score: number, thresholds: SentimentThresholds): SentimentLabel =>
  score < thresholds.negativeBelow ? "negative" : score > thresholds.positiveAbove ? "positive" : "neutral"

/** What an analyzer returns for one conversation; decoded, never trusted blindly. */
export const AnalysisResult = Schema.Struct({
  sentiment_score: SentimentScore,
  confidence: Confidence,
  clusters: Schema.Array(ClusterLabel).pipe(Schema.minItems(1), Schema.maxItems(5)),
  reasoning: Schema.String.pipe(Schema.maxLength(500)),
  analyzer: Schema.String,
  raw_response: Schema.String,
  prompt_tokens: Schema.NullOr(Schema.Number),
  completion_tokens: Schema.NullOr(Schema.Number),
  cost_usd: Schema.NullOr(Schema.Number)
})
export type AnalysisResult = typeof AnalysisResult.Type

export interface Insight extends AnalysisResult {
  readonly conversation_id: ConversationId
  readonly sentiment: SentimentLabel
  readonly analyzed_at: string
}

/** One row of `GET /api/v1/insights`. */
export interface InsightListItem {
  readonly conversation_id: string
  readonly timestamp: string
  readonly author: string
  readonly text: string
  readonly sentiment_score: number
  readonly sentiment: SentimentLabel
  readonly confidence: number
  readonly clusters: ReadonlyArray<string>
  readonly reasoning: string
  readonly analyzer: string
  readonly analyzed_at: string
}
