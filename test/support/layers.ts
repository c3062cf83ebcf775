/** Test layers: a real SQLite Store on a temp file, and a scripted Analyzer. */
import { Effect, Either, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Analyzer } from "../../src/analyzer/Analyzer.js"
import type { Conversation, ConversationId } from "../../src/domain/conversation.js"
import { AnalysisError } from "../../src/domain/errors.js"
import type { AnalysisResult } from "../../src/domain/insight.js"
import { Lifecycle } from "../../src/services/Lifecycle.js"
import { WorkSignal } from "../../src/services/WorkSignal.js"
import { SqliteStoreLive } from "../../src/store/sqlite.js"
import { validateConversation } from "../../src/stages/validate.js"
import type { NewConversation } from "../../src/domain/conversation.js"

/** A fresh SQLite database file in its own temp directory, removed with the scope. */
export const tempDbPath = (): { readonly path: string; readonly cleanup: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), "insightd-test-"))
  return { path: join(dir, "test.db"), cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A layer built on a fresh temp database file (see tempDbPath), the file removed with the layer. */
export const onTempDatabase = <A, E, R>(build: (path: string) => Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.unwrapScoped(Effect.acquireRelease(Effect.sync(tempDbPath), (db) => Effect.sync(db.cleanup)).pipe(Effect.map((db) => build(db.path))))

export const StoreOnTempFile = onTempDatabase(SqliteStoreLive)

export const CoreTest = Layer.mergeAll(StoreOnTempFile, WorkSignal.Default, Lifecycle.Default)

export const analysisOk = (conversation: Conversation): AnalysisResult => ({
  sentiment_score: conversation.text.includes("bad") ? -0.8 : 0.6,
  confidence: 0.9,
  clusters: ["general_inquiry"],
  reasoning: `scripted for ${conversation.id}`,
  analyzer: "test:scripted",
  raw_response: "{}",
  prompt_tokens: null,
  completion_tokens: null,
  cost_usd: null
})

export type Script = (conversation: Conversation, call: number) => Either.Either<AnalysisResult, AnalysisError> | undefined

/**
 * An Analyzer whose answer per conversation comes from `script`; `calls` records every batch.
 * It answers synchronously on the caller's thread, like the local analyzer, unless
 * `usesCallingThread: false` makes it pass for one that waits on the network (Grok).
 */
export const scriptedAnalyzer = (script: Script, options: { readonly usesCallingThread?: boolean } = {}) => {
  const calls: Array<ReadonlyArray<ConversationId>> = []
  const layer = Layer.succeed(Analyzer, {
    name: "test:scripted",
    notReadyReason: Effect.succeed(null),
    degradedReason: Effect.succeed(null),
    usesCallingThread: options.usesCallingThread ?? true,
    marksStart: false,
    analyzeBatch: (batch) =>
      Effect.sync(() => {
        calls.push(batch.map((c) => c.id))
        const results = new Map<ConversationId, Either.Either<AnalysisResult, AnalysisError>>()
        for (const conversation of batch) {
          const result = script(conversation, calls.length)
          if (result !== undefined) results.set(conversation.id, result)
        }
        return results
      })
  })
  return { layer, calls }
}

export const retryableError = (message: string) => Either.left(new AnalysisError({ message, retryable: true }))
export const permanentError = (message: string) => Either.left(new AnalysisError({ message, retryable: false }))

let counter = 0
/** A valid conversation as the validate stage would produce it. */
export const newConversation = (overrides: Record<string, unknown> = {}): NewConversation => {
  counter++
  const json = { author: `user${counter}`, timestamp: "2024-05-01T12:00:00Z", text: `conversation number ${counter}`, ...overrides }
  const result = validateConversation({ json, raw: JSON.stringify(json) })
  if (Either.isLeft(result)) throw new Error(`invalid test conversation: ${JSON.stringify(result.left)}`)
  return result.right
}
