/**
 * The Analyzer service: turns a batch of conversations into analysis results. Implementations:
 * local (./local.ts, offline default) and Grok (later). Each conversation's result stands alone:
 * one failure never fails the batch.
 */
import { Context, type Effect, type Either } from "effect"
import type { Conversation, ConversationId } from "../domain/conversation.js"
import type { AnalysisDeferred, AnalysisError } from "../domain/errors.js"
import type { AnalysisResult } from "../domain/insight.js"

/** Per conversation: its result, why it failed, or that it was handed back for later (AnalysisDeferred). */
export type BatchResults = ReadonlyMap<ConversationId, Either.Either<AnalysisResult, AnalysisError | AnalysisDeferred>>

export interface AnalyzerShape {
  /** e.g. `local:lexicon-v1`, `grok:grok-4-fast-non-reasoning` */
  readonly name: string
  /**
   * One entry per conversation of the batch. An implementation that cannot work for now (paused
   * on bad credentials) hands conversations back (AnalysisDeferred) instead of failing them;
   * interruption leaves them untouched too.
   */
  readonly analyzeBatch: (batch: ReadonlyArray<Conversation>) => Effect.Effect<BatchResults>
  /**
   * `null` when able to work, else the reason (shown by `/ready`), e.g. `grok_unauthorized`.
   * Nothing more is claimed meanwhile: the backlog stays `pending` until it clears.
   */
  readonly notReadyReason: Effect.Effect<string | null>
  /**
   * `null`, or why the latest calls did not get through (e.g. `grok_unreachable`): `/ready` says
   * so (503), but analysis goes on, each batch retried and then failed as usual, since a refused
   * connection or a timeout does not tell a long outage from a blip.
   */
  readonly degradedReason: Effect.Effect<string | null>
  /**
   * Whether analysing is CPU work on the calling thread (the local analyzer) rather than mostly
   * waiting on the network (Grok): only the former competes with intake for the thread.
   */
  readonly usesCallingThread: boolean
  /**
   * Whether it tells the Store when work on a claimed conversation begins (`Store.markStarted`,
   * Grok: as its first call leaves). Otherwise the claim counts as the start.
   */
  readonly marksStart: boolean
}

export class Analyzer extends Context.Tag("insightd/Analyzer")<Analyzer, AnalyzerShape>() {}
