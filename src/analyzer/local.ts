/**
 * The local analyzer as an Analyzer service: offline, deterministic, no credentials. The text
 * analysis itself is in ./local/lexicon.ts; this wraps it in the batch interface.
 */
import { Effect, Either, Layer } from "effect"
import type { ConversationId } from "../domain/conversation.js"
import { AnalysisError } from "../domain/errors.js"
import type { AnalysisResult } from "../domain/insight.js"
import { Analyzer, type AnalyzerShape } from "./Analyzer.js"
import { LOCAL_ANALYZER_NAME, makeLocalAnalyzer } from "./local/lexicon.js"

export const makeLocal = Effect.sync((): AnalyzerShape => {
  const lexicon = makeLocalAnalyzer()
  return {
    name: LOCAL_ANALYZER_NAME,
    notReadyReason: Effect.succeed(null),
    degradedReason: Effect.succeed(null),
    usesCallingThread: true,
    analyzeBatch: (batch) =>
      Effect.sync(() => {
        const results = new Map<ConversationId, Either.Either<AnalysisResult, AnalysisError>>()
        for (const conversation of batch) {
          try {
            const analysis = lexicon.analyze(conversation.text)
            results.set(
              conversation.id,
              Either.right({
                sentiment_score: analysis.sentimentScore,
                confidence: analysis.confidence,
                clusters: analysis.clusters,
                reasoning: analysis.reasoning.slice(0, 500),
                analyzer: LOCAL_ANALYZER_NAME,
                raw_response: JSON.stringify({ evidence: analysis.evidence }),
                prompt_tokens: null,
                completion_tokens: null,
                cost_usd: null
              })
            )
          } catch (error) {
            // Deterministic: the same text would fail again, so retrying is pointless.
            results.set(conversation.id, Either.left(new AnalysisError({ message: `local analyzer failed: ${(error as Error).message}`, retryable: false })))
          }
        }
        return results
      })
  }
})

export const LocalAnalyzerLive = Layer.effect(Analyzer, makeLocal)
