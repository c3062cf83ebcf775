/**
 * Thin handlers: read the request, call a service, shape the answer. Ingestion bodies are read
 * raw (size limits, NDJSON, the exact submitted JSON kept in `raw`), then validated by the same
 * `validate` stage every other source uses.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect, Either, Layer, Option } from "effect"
import { Analyzer } from "../analyzer/Analyzer.js"
import { AppConfig } from "../config.js"
import {
  Conflict,
  InvalidInput,
  InvalidParameter,
  NotFound,
  PayloadTooLarge,
  databaseUnavailable,
  UnsupportedMediaType
} from "../domain/errors.js"
import { recordAccepted, recordInvalidBody } from "../observability/metrics.js"
import { PROMETHEUS_CONTENT_TYPE, PrometheusMetrics } from "../observability/prometheus.js"
import { summaryView } from "../observability/summary.js"
import { Ingest } from "../services/Ingest.js"
import { Lifecycle } from "../services/Lifecycle.js"
import { WorkSignal } from "../services/WorkSignal.js"
import { validateSubmission } from "../stages/validate.js"
import { Store, type InsightCursor } from "../store/Store.js"
import { InsightdApi, type InsightsParams } from "./api.js"
import {
  acceptedBody,
  type BodyKind,
  type BodyReadError,
  closeAfterAnswer,
  conflictError,
  declaredTooLarge,
  isJsonMediaType,
  isUnparsableBody,
  parseBulk,
  parseSingle,
  readNodeBody,
  SMALL_BODY_BYTES,
  unreadableEncoding
} from "./ingestBodies.js"

const unavailable = (what: "read" | "written") => () => databaseUnavailable(what)

const mediaType = (request: HttpServerRequest.HttpServerRequest): string =>
  (request.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase()

const bodyKind = (request: HttpServerRequest.HttpServerRequest, allowNdjson: boolean): Either.Either<BodyKind, UnsupportedMediaType> => {
  const unreadable = unreadableEncoding(request.headers)
  if (unreadable !== undefined) return Either.left(unreadable)
  if (isJsonMediaType(request.headers["content-type"])) return Either.right("json")
  const type = mediaType(request)
  if (allowNdjson && (type === "application/x-ndjson" || type === "application/ndjson" || type === "application/jsonl")) return Either.right("ndjson")
  const accepted = allowNdjson ? "application/json or application/x-ndjson" : "application/json"
  return Either.left(new UnsupportedMediaType({ message: `Content-Type ${type} is not supported; send ${accepted}` }))
}

/**
 * Request bodies in memory at once (read, parsed, validated, awaiting commit), in MiB of declared
 * size. Once parsed and validated a body takes about five times its size in heap (measured: a
 * 15 MiB bulk needs ~80 MB), so a flood of large uploads waits its turn instead of exhausting the
 * daemon's bounded heap: one maximal bulk at a time, or 16 bodies of up to 1 MiB. Small bodies
 * (the common single conversation) skip the budget: their memory is bounded by the connections.
 */
const BODY_BUDGET_MIB = 16
const MIB = 1024 * 1024
const bodyPermits = (request: HttpServerRequest.HttpServerRequest, limit: number): number => {
  const declared = Number(request.headers["content-length"] ?? Number.NaN)
  // Chunked uploads declare nothing: count them at the largest size they may reach.
  const bytes = Number.isFinite(declared) ? Math.min(declared, limit) : limit
  return bytes <= SMALL_BODY_BYTES ? 0 : Math.min(BODY_BUDGET_MIB, Math.ceil(bytes / MIB))
}

/** Reads the body as text: 413 before reading when the declared size is over `limit`, then readNodeBody. */
const readBody = (request: HttpServerRequest.HttpServerRequest, limit: number, onDraining: (listener: () => void) => () => void) =>
  Effect.suspend(() => {
    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > limit) {
      closeAfterAnswer(NodeHttpServerRequest.toServerResponse(request))
      return Effect.fail(declaredTooLarge(declared, limit))
    }
    return Effect.async<string, BodyReadError>((resume) => {
      const stop = readNodeBody(NodeHttpServerRequest.toIncomingMessage(request), NodeHttpServerRequest.toServerResponse(request), limit, onDraining, resume)
      return Effect.sync(stop)
    })
  })

/**
 * What a cursor is valid for: the order and every filter of the query that issued it. Paging on
 * with other filters or the other order would silently skip or repeat items (a cursor is a
 * position in one ordering of one result), so such a cursor is refused instead.
 */
const queryKeyOf = (params: InsightsParams): string => {
  const text = JSON.stringify([
    params.order ?? "desc",
    params.start_time ?? null,
    params.end_time ?? null,
    params.min_confidence ?? null,
    params.max_confidence ?? null,
    params.min_sentiment ?? null,
    params.max_sentiment ?? null,
    params.sentiment ?? null,
    params.cluster ?? null,
    params.author ?? null
  ])
  // FNV-1a, 32 bits: a fingerprint to tell queries apart, not a secret.
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return (hash >>> 0).toString(36)
}

const encodeCursor = (cursor: InsightCursor, queryKey: string): string =>
  Buffer.from(JSON.stringify([cursor.timestamp, cursor.id, queryKey])).toString("base64url")

const decodeCursor = (text: string, queryKey: string): Either.Either<InsightCursor, InvalidParameter> => {
  const invalid = new InvalidParameter({ message: "cursor is not valid: pass next_cursor from the previous page unchanged", details: [{ field: "cursor", message: "not a cursor issued by this server" }] })
  try {
    const value: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"))
    if (!Array.isArray(value) || (value.length !== 2 && value.length !== 3) || typeof value[0] !== "string" || typeof value[1] !== "string") return Either.left(invalid)
    // Two elements: a cursor issued before cursors carried their query (still a valid position).
    if (value.length === 3 && value[2] !== queryKey) {
      return Either.left(
        new InvalidParameter({
          message: "cursor belongs to another query: keep order and every filter as they were for the first page, or start again without cursor",
          details: [{ field: "cursor", message: "issued for a different order or different filters" }]
        })
      )
    }
    return Either.right({ timestamp: value[0], id: value[1] })
  } catch {
    return Either.left(invalid)
  }
}

export const ConversationsHandlers = HttpApiBuilder.group(InsightdApi, "conversations", (handlers) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const ingest = yield* Ingest
    const store = yield* Store
    const signal = yield* WorkSignal
    const lifecycle = yield* Lifecycle
    const readBodyUnlessDraining = (request: HttpServerRequest.HttpServerRequest, limit: number) => readBody(request, limit, lifecycle.onDraining)
    // Large bodies share a memory budget (BODY_BUDGET_MIB); see bodyPermits.
    const bodiesInMemory = yield* Effect.makeSemaphore(BODY_BUDGET_MIB)
    const withinBodyBudget = (request: HttpServerRequest.HttpServerRequest, limit: number) =>
      <A, E, R>(handle: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
        const permits = bodyPermits(request, limit)
        return permits === 0 ? handle : bodiesInMemory.withPermits(permits)(handle)
      }
    /** A 400 counted by what was wrong: a body that is not JSON, or not conversations. */
    const countingInvalidBodies = <A, E, R>(handle: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.tapError(handle, (error) => (error instanceof InvalidInput ? Effect.sync(() => recordInvalidBody(isUnparsableBody(error))) : Effect.void))
    /**
     * Body → parsed items → validated submission, in a generator of its own: the body text and
     * the parsed JSON are garbage once it returns. Held in the handler's frame across the wait for
     * the commit, they outlived a scavenge or two and were promoted, and old-space collections
     * were a quarter of bulk ingest's CPU.
     */
    const readBulkSubmission = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function* () {
        const kind = yield* bodyKind(request, true)
        const text = yield* readBodyUnlessDraining(request, config.http.maxBulkBodyBytes)
        const items = yield* parseBulk(text, kind)
        if (items.length === 0) {
          return yield* new InvalidInput({ message: "bulk body holds no conversations", details: [{ field: "(body)", message: "must hold at least one conversation" }] })
        }
        if (items.length > config.http.maxBulkItems) {
          return yield* new PayloadTooLarge({ message: `bulk body holds ${items.length} conversations; at most ${config.http.maxBulkItems} are accepted per request`, limit_items: config.http.maxBulkItems })
        }
        return yield* validateSubmission(items, { bulk: true })
      })
    const accepted = (id: string) =>
      HttpServerResponse.unsafeJson(acceptedBody(id), { status: 202, headers: { location: `/api/v1/conversations/${id}` } })
    return handlers
      .handleRaw("submit", ({ request }) =>
        Effect.gen(function* () {
          yield* bodyKind(request, false)
          const text = yield* readBodyUnlessDraining(request, config.http.maxBodyBytes)
          const item = yield* parseSingle(text)
          const submission = yield* validateSubmission([item], { bulk: false })
          const outcome = yield* ingest.submit(submission).pipe(Effect.catchTag("StoreError", () => Effect.fail(unavailable("written")())))
          if (outcome._tag === "Conflict") return yield* conflictError(outcome.conflictingIds)
          recordAccepted("http", 1)
          return accepted(outcome.ids[0])
        }).pipe(countingInvalidBodies, withinBodyBudget(request, config.http.maxBodyBytes))
      )
      .handleRaw("submitBulk", ({ request }) =>
        Effect.gen(function* () {
          const submission = yield* readBulkSubmission(request)
          const outcome = yield* ingest.submit(submission).pipe(Effect.catchTag("StoreError", () => Effect.fail(unavailable("written")())))
          if (outcome._tag === "Conflict") return yield* conflictError(outcome.conflictingIds, submission.conversations.map((conversation) => conversation.id))
          recordAccepted("http", outcome.ids.length)
          return HttpServerResponse.unsafeJson({ status: "accepted", accepted: outcome.ids.length, conversation_ids: outcome.ids }, { status: 202 })
        }).pipe(countingInvalidBodies, withinBodyBudget(request, config.http.maxBulkBodyBytes))
      )
      .handle("getConversation", ({ path }) =>
        Effect.gen(function* () {
          const found = yield* store.getConversation(path.id).pipe(Effect.mapError(unavailable("read")))
          if (Option.isNone(found)) return yield* new NotFound({ message: `conversation ${path.id} does not exist` })
          const { conversation: c, insight } = found.value
          return {
            id: c.id,
            text: c.text,
            author: c.author,
            timestamp: c.timestamp,
            messages: c.messages,
            metadata: c.metadata,
            status: c.status,
            attempts: c.attempts,
            last_error: c.lastError,
            received_at: c.receivedAt,
            updated_at: c.updatedAt,
            insight:
              insight === null
                ? null
                : {
                    sentiment_score: insight.sentiment_score,
                    sentiment: insight.sentiment,
                    confidence: insight.confidence,
                    clusters: insight.clusters,
                    reasoning: insight.reasoning,
                    analyzer: insight.analyzer,
                    raw_response: insight.raw_response,
                    prompt_tokens: insight.prompt_tokens,
                    completion_tokens: insight.completion_tokens,
                    cost_usd: insight.cost_usd,
                    analyzed_at: insight.analyzed_at
                  }
          }
        })
      )
      .handleRaw("retryConversation", ({ path }) =>
        Effect.gen(function* () {
          const result = yield* store.retry(path.id).pipe(Effect.mapError(unavailable("written")))
          if (result === "not_found") return yield* new NotFound({ message: `conversation ${path.id} does not exist` })
          if (result === "not_failed") {
            return yield* new Conflict({ message: `conversation ${path.id} has not failed; only failed conversations can be retried`, conversation_ids: [path.id] })
          }
          yield* signal.notify
          return HttpServerResponse.unsafeJson(
            { status: "accepted", conversation_id: path.id, message: "Conversation queued for analysis" },
            { status: 202, headers: { location: `/api/v1/conversations/${path.id}` } }
          )
        })
      )
  })
)

const toQuery = (params: InsightsParams) =>
  Effect.gen(function* () {
    const after = params.cursor === undefined ? undefined : yield* decodeCursor(params.cursor, queryKeyOf(params))
    const bounds: Array<[string, number | string | undefined, number | string | undefined]> = [
      ["confidence", params.min_confidence, params.max_confidence],
      ["sentiment", params.min_sentiment, params.max_sentiment],
      ["time", params.start_time, params.end_time]
    ]
    for (const [name, low, high] of bounds) {
      if (low !== undefined && high !== undefined && low > high) {
        const [lowName, highName] = name === "time" ? ["start_time", "end_time"] : [`min_${name}`, `max_${name}`]
        return yield* new InvalidParameter({ message: `${lowName} must not be greater than ${highName}`, details: [{ field: lowName, message: `greater than ${highName}` }] })
      }
    }
    return {
      startTime: params.start_time,
      endTime: params.end_time,
      minConfidence: params.min_confidence,
      maxConfidence: params.max_confidence,
      minSentiment: params.min_sentiment,
      maxSentiment: params.max_sentiment,
      sentiment: params.sentiment,
      cluster: params.cluster,
      author: params.author,
      order: params.order ?? "desc",
      limit: params.limit ?? 100,
      after
    }
  })

export const InsightsHandlers = HttpApiBuilder.group(InsightdApi, "insights", (handlers) =>
  Effect.gen(function* () {
    const store = yield* Store
    return handlers
      .handle("summarizeInsights", ({ urlParams }) =>
        Effect.gen(function* () {
          const { order: _order, limit: _limit, after: _after, ...filters } = yield* toQuery(urlParams)
          const bucket = urlParams.bucket ?? "hour"
          const [summary, statusCounts] = yield* Effect.all([store.summarize({ ...filters, bucket }), store.statusCounts]).pipe(Effect.mapError(unavailable("read")))
          return summaryView(summary, statusCounts, bucket, filters)
        })
      )
      .handle("listInsights", ({ urlParams }) =>
      Effect.gen(function* () {
        const query = yield* toQuery(urlParams)
        const page = yield* store.queryInsights(query).pipe(Effect.mapError(unavailable("read")))
        return {
          insights: page.items,
          metadata: {
            total_count: page.totalCount,
            returned_count: page.items.length,
            start_time: query.startTime ?? null,
            end_time: query.endTime ?? null,
            next_cursor: page.next === null ? null : encodeCursor(page.next, queryKeyOf(urlParams))
          }
        }
      })
    )
  })
)

export const OpsHandlers = HttpApiBuilder.group(InsightdApi, "ops", (handlers) =>
  Effect.gen(function* () {
    const store = yield* Store
    const analyzer = yield* Analyzer
    const lifecycle = yield* Lifecycle
    const metrics = yield* PrometheusMetrics
    return handlers
      .handle("health", () => Effect.succeed({ status: "ok" as const }))
      .handleRaw("metrics", () => Effect.map(metrics.render, (text) => HttpServerResponse.text(text, { contentType: PROMETHEUS_CONTENT_TYPE })))
      .handle("ready", () =>
        Effect.gen(function* () {
          // Reads answering is not enough: a full disk fails every write while SELECT 1 passes.
          const database = yield* store.ping.pipe(
            Effect.zipRight(store.writable.pipe(Effect.as("ok"), Effect.catchAll(() => Effect.succeed("writes failing")))),
            Effect.catchAll(() => Effect.succeed("unavailable"))
          )
          const analyzerReason = (yield* analyzer.notReadyReason) ?? (yield* analyzer.degradedReason)
          const draining = lifecycle.isDraining()
          const reason = draining
            ? "draining"
            : database === "unavailable"
              ? "database_unavailable"
              : database !== "ok"
                ? "database_unwritable"
                : analyzerReason ?? undefined
          const body = {
            status: reason === undefined ? ("ready" as const) : ("not_ready" as const),
            checks: { database, analyzer: analyzerReason ?? `ok (${analyzer.name})`, draining },
            ...(reason === undefined ? {} : { reason })
          }
          return HttpServerResponse.unsafeJson(body, { status: reason === undefined ? 200 : 503 })
        })
      )
  })
)

export const HandlersLive = Layer.mergeAll(ConversationsHandlers, InsightsHandlers, OpsHandlers)
