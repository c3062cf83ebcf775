/** Helpers for the Grok analyzer tests: the analyzer on a real SQLite store, pointed at the fake. */
import { Effect, Layer, Logger, Redacted } from "effect"
import { Analyzer, type AnalyzerShape } from "../../src/analyzer/Analyzer.js"
import { GrokAnalyzerLive, type GrokSettings } from "../../src/analyzer/grok/GrokAnalyzer.js"
import type { Conversation, ConversationId } from "../../src/domain/conversation.js"
import { StoreOnTempFile } from "../support/layers.js"

export const settingsFor = (baseUrl: string, overrides: Partial<GrokSettings> = {}): GrokSettings => ({
  baseUrl,
  model: "grok-4-fast-non-reasoning",
  apiKey: Redacted.make("test-key"),
  callsPerSecond: 10,
  timeoutMs: 5_000,
  retryBudget: 3,
  retryBaseDelayMs: 20,
  retryMaxDelayMs: 200,
  probeIntervalMs: 30_000,
  maxConversationChars: 6_000,
  topClusters: 30,
  topClustersTtlMs: 30_000,
  ...overrides
})

export interface LogLine {
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** Runs `use` with a Grok analyzer built from `settings`; log lines are collected into `logs`. */
export const withGrok = <A>(settings: GrokSettings, use: (analyzer: AnalyzerShape) => Effect.Effect<A>, logs: Array<LogLine> = []): Promise<A> => {
  const capture = Logger.make(({ annotations, message }) => {
    const parts = Array.isArray(message) ? message : [message]
    const record: Record<string, unknown> = {}
    for (const [key, value] of annotations) record[key] = value
    logs.push({ message: String(parts[0]), annotations: record })
  })
  return Effect.runPromise(
    Effect.flatMap(Analyzer, use).pipe(
      Effect.provide(GrokAnalyzerLive(settings).pipe(Layer.provide(StoreOnTempFile))),
      Effect.provide(Logger.replace(Logger.defaultLogger, capture))
    )
  )
}

let counter = 0
export const conversation = (text = "my parcel still hasn't arrived"): Conversation => {
  counter++
  return {
    id: `conv_t${counter}_${Math.random().toString(36).slice(2, 8)}` as ConversationId,
    text,
    author: "customer",
    timestamp: "2024-05-01T12:00:00.000Z",
    messages: null,
    metadata: null,
    raw: "{}",
    status: "processing",
    attempts: 1,
    lastError: null,
    receivedAt: "2024-05-01T12:00:00.000Z",
    updatedAt: "2024-05-01T12:00:00.000Z"
  }
}

export const batchOf = (size: number): Array<Conversation> => Array.from({ length: size }, () => conversation())
