// Types of test/support/fake-grok.mjs, the one fake Grok endpoint: the TypeScript tests import
// it, and so do the benchmarks (bench/grok-pipeline.mjs, bench/latency.mjs), which run on plain Node.
export type Fault =
  | "ok"
  /** 429 without Retry-After. */
  | "429"
  /** 429 with `Retry-After: <retryAfterSeconds>`. */
  | "429-retry-after"
  /** 429 with `Retry-After: <HTTP date retryAfterSeconds from now>`. */
  | "429-retry-after-date"
  | "500"
  | "503"
  | "408"
  | "400"
  /** 400 whose error message echoes the request's Authorization header (as some proxies do). */
  | "400-echo-auth"
  /** Never answers (the client's timeout must fire). */
  | "timeout"
  /** The JSON inside a ```json fence. */
  | "fenced"
  /** The JSON wrapped in prose. */
  | "prose"
  /**
   * A model that obeys a conversation: a result item that a conversation's text (or its thread's
   * messages joined) carries as `{"results": [...]}` replaces the genuine result for that id.
   */
  | "obey-injection"
  /** Only prose, no JSON at all. */
  | "no-json"
  /** Leaves out the second half of the batch's ids. */
  | "missing-ids"
  /** Results in reverse order. */
  | "shuffled"
  /** An extra result for an id not in the batch, and the first id's result under a wrong id. */
  | "unknown-id"
  /** The first result has an out-of-range score. */
  | "invalid-item"
  /** A 200 whose body is not a chat completion. */
  | "bad-envelope"
  /** 401 (as if the key were wrong), whatever the key. */
  | "401"

export interface FakeCall {
  /** performance.now() at arrival, ms. */
  readonly at: number
  readonly ids: ReadonlyArray<string>
  readonly fault: Fault
  /** Status sent; null for a call never answered. */
  status: number | null
  readonly authorized: boolean
  readonly body: unknown
}

export interface FakeGrokOptions {
  /** The only key accepted (`Authorization: Bearer <key>`); others get 401. Default: any key. */
  readonly apiKey?: string
  /** Delay before each answer, ms (default 0). */
  readonly latencyMs?: number
  /** Fault for calls not scripted by `enqueue`. */
  readonly fault?: (call: number, ids: ReadonlyArray<string>) => Fault
  /** For the 429-retry-after faults (default 1). */
  readonly retryAfterSeconds?: number
  readonly model?: string
}

export interface Expected {
  readonly sentiment_score: number
  readonly confidence: number
  readonly clusters: ReadonlyArray<string>
  readonly reasoning: string
}

/** What the fake answers for a conversation id: a pure function of the id. */
export declare const expectedFor: (id: string) => Expected

/** The conversation ids of a request: from the analyzer's JSON document, else any `"conversation_id": "conv_…"`. */
export declare const idsOf: (body: unknown) => Array<string>

export interface FakeGrok {
  /** Base URL to give the analyzer (`XAI_BASE_URL`), e.g. `http://127.0.0.1:PORT/v1`. */
  readonly baseUrl: string
  readonly port: number
  readonly calls: ReadonlyArray<FakeCall>
  /** Faults for the next calls, in order (before the `fault` function is asked). */
  enqueue(...faults: ReadonlyArray<Fault>): void
  /** Changes the accepted key (`undefined` = any key). */
  acceptKey(key: string | undefined): void
  setFault(fault: ((call: number, ids: ReadonlyArray<string>) => Fault) | undefined): void
  setLatency(ms: number): void
  close(): Promise<void>
}

/** The largest number of arrivals in any window [t, t + windowMs) starting at an arrival. */
export declare const maxInAnyWindow: (arrivals: ReadonlyArray<number>, windowMs?: number) => number

export declare const startFakeGrok: (options?: FakeGrokOptions) => Promise<FakeGrok>
