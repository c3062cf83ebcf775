/**
 * The local analyzer as an Analyzer service: offline, deterministic, no credentials. The text
 * analysis itself is in ./local/lexicon.ts; this wraps it in the batch interface.
 */
import { Effect, Either, Layer } from "effect"
import { type Conversation, type ConversationId, threadRoles } from "../domain/conversation.js"
import { AnalysisError } from "../domain/errors.js"
import type { AnalysisResult } from "../domain/insight.js"
import { Analyzer, type AnalyzerShape } from "./Analyzer.js"
import { LOCAL_ANALYZER_NAME, makeLocalAnalyzer } from "./local/lexicon.js"

/**
 * What the local analyzer reads: the customer's side of a thread whose messages tell who wrote
 * them (`inbound`, or the conversation's author: domain threadRoles), else the whole text. In an
 * imported twcs thread the agents' courtesy ("Thanks for reaching out! We'd love to help")
 * otherwise outweighs the customer's complaint; Grok is asked for the customer's sentiment too
 * (./grok/prompt.ts).
 */
export const customerSide = (conversation: Pick<Conversation, "text" | "author" | "messages">): { readonly text: string; readonly customerOnly: boolean } => {
  const messages = conversation.messages
  if (messages === null) return { text: conversation.text, customerOnly: false }
  const roles = threadRoles(conversation)
  if (!roles.includes("customer") || !roles.includes("support")) return { text: conversation.text, customerOnly: false }
  return { text: messages.filter((_, i) => roles[i] === "customer").map((message) => message.text).join("\n"), customerOnly: true }
}

export const makeLocal = Effect.sync((): AnalyzerShape => {
  const lexicon = makeLocalAnalyzer()
  return {
    name: LOCAL_ANALYZER_NAME,
    notReadyReason: Effect.succeed(null),
    degradedReason: Effect.succeed(null),
    usesCallingThread: true,
    marksStart: false,
    analyzeBatch: (batch) =>
      Effect.sync(() => {
        const results = new Map<ConversationId, Either.Either<AnalysisResult, AnalysisError>>()
        for (const conversation of batch) {
          try {
            const read = customerSide(conversation)
            const analysis = lexicon.analyze(read.text)
            results.set(
              conversation.id,
              Either.right({
                sentiment_score: analysis.sentimentScore,
                confidence: analysis.confidence,
                clusters: analysis.clusters,
                reasoning: (read.customerOnly ? `customer's messages, ${analysis.reasoning}` : analysis.reasoning).slice(0, 500),
                analyzer: LOCAL_ANALYZER_NAME,
                raw_response: JSON.stringify({ read: read.customerOnly ? "customer messages" : "text", evidence: analysis.evidence }),
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
