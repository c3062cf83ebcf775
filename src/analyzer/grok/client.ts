/**
 * One OpenAI-compatible chat-completions call over @effect/platform's HttpClient, and the
 * classification of what can go wrong with it. No limiting, retrying or pausing here: that is
 * GrokAnalyzer.ts, which wraps every attempt of this call.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Data, Duration, Effect, Either, ParseResult, Redacted, Schedule, Schema } from "effect"
import { CompletionEnvelope } from "./reply.js"
import type { ChatCompletionRequest } from "./prompt.js"

/** 401/403: the key is wrong or lacks access. Pauses analysis; never retried on the normal path. */
export class GrokUnauthorized extends Data.TaggedError("GrokUnauthorized")<{ readonly status: number; readonly detail: string }> {}

/** A non-2xx answer other than 401/403. */
export class GrokHttpStatus extends Data.TaggedError("GrokHttpStatus")<{
  readonly status: number
  readonly detail: string
  /** From `Retry-After`, in milliseconds from when the answer came. */
  readonly retryAfterMs: number | null
}> {}

/** No complete answer within the request timeout. */
export class GrokTimeout extends Data.TaggedError("GrokTimeout")<{ readonly afterMs: number }> {}

/** Connection refused or reset, DNS, a body that could not be read. */
export class GrokTransport extends Data.TaggedError("GrokTransport")<{ readonly detail: string }> {}

/** A 2xx whose body is not a chat completion. */
export class GrokBadEnvelope extends Data.TaggedError("GrokBadEnvelope")<{ readonly detail: string; readonly rawBody: string }> {}

export type GrokCallError = GrokUnauthorized | GrokHttpStatus | GrokTimeout | GrokTransport | GrokBadEnvelope

/** Statuses worth another try (SPEC §5): 408, 409, 429 and every 5xx. Other 4xx are final. */
export const isRetryableStatus = (status: number): boolean => status === 408 || status === 409 || status === 429 || status >= 500

/** Timeouts, network errors, retryable statuses and replies that were not chat completions. */
export const isRetryable = (error: GrokCallError): boolean => {
  switch (error._tag) {
    case "GrokHttpStatus":
      return isRetryableStatus(error.status)
    case "GrokUnauthorized":
      return false
    default:
      return true
  }
}

/** The delay a Retry-After asks for: the later of the error's own and none. */
export const retryAfterOf = (error: GrokCallError): number => (error._tag === "GrokHttpStatus" ? (error.retryAfterMs ?? 0) : 0)

/** Longest Retry-After honoured; a server asking for more gets this (and the next retry asks again). */
export const MAX_RETRY_AFTER_MS = 10 * 60 * 1000

/** `Retry-After` as delta-seconds (`"2"`, `"0.5"`) or an HTTP date, in ms from `now`; null if absent or unreadable. */
export const parseRetryAfter = (value: string | undefined, now: number): number | null => {
  if (value === undefined) return null
  const text = value.trim()
  if (text === "") return null
  if (/^\d+(?:\.\d+)?$/.test(text)) return Math.min(MAX_RETRY_AFTER_MS, Math.round(Number(text) * 1000))
  const date = Date.parse(text)
  if (Number.isNaN(date)) return null
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, date - now))
}

/** Human text for logs and `last_error`. Never holds the key: only statuses and the server's words. */
export const describeCallError = (error: GrokCallError): string => {
  switch (error._tag) {
    case "GrokUnauthorized":
      return `grok rejected the API key (HTTP ${error.status})${error.detail === "" ? "" : `: ${error.detail}`}`
    case "GrokHttpStatus":
      return `grok answered HTTP ${error.status}${error.detail === "" ? "" : `: ${error.detail}`}`
    case "GrokTimeout":
      return `grok did not answer within ${error.afterMs} ms`
    case "GrokTransport":
      return `grok could not be reached: ${error.detail}`
    case "GrokBadEnvelope":
      return `grok answer was not a chat completion: ${error.detail}`
  }
}

/** The server's error message, if its body says one, cut short. */
const errorDetail = (body: string): string => {
  let detail = body
  try {
    const json = JSON.parse(body) as unknown
    if (typeof json === "object" && json !== null && "error" in json) {
      const inner = (json as { error: unknown }).error
      if (typeof inner === "string") detail = inner
      else if (typeof inner === "object" && inner !== null && "message" in inner && typeof (inner as { message: unknown }).message === "string") {
        detail = (inner as { message: string }).message
      }
    }
  } catch {
    // not JSON: keep the text
  }
  detail = detail.replace(/\s+/g, " ").trim()
  return detail.length > 200 ? `${detail.slice(0, 199)}…` : detail
}

/**
 * The server's words and transport messages go into logs and `last_error`, which the API serves:
 * SPEC §5, keys never appear there. An upstream (or a proxy) that echoes the request's
 * Authorization header, or a base URL with credentials in a message, would put them there.
 */
export const redactSecrets = (text: string, apiKey: string): string => {
  let redacted = text
    .replace(/\bBearer\s+[^\s"',;]+/gi, "Bearer [redacted]")
    .replace(/\/\/[^/@\s]+@/g, "//[redacted]@")
    // A URL's query values (`?api_key=…` for a gateway that takes its key there).
    .replace(/(:\/\/[^\s"'?]*\?[^\s"']*)/g, (url) => url.replace(/([?&][^=&#\s"']+=)[^&#\s"']*/g, "$1[redacted]"))
  if (apiKey.length >= 4) redacted = redacted.split(apiKey).join("[redacted]")
  return redacted
}

export interface ClientSettings {
  readonly baseUrl: string
  readonly apiKey: Redacted.Redacted<string>
  readonly timeoutMs: number
}

export interface CallReply {
  /** The response body exactly as received. */
  readonly rawBody: string
  readonly envelope: typeof CompletionEnvelope.Type
}

/**
 * One POST {baseUrl}/chat/completions attempt. The whole exchange (headers and body) must finish
 * within the timeout; on timeout or interruption the request is aborted.
 */
export const makeCall = (client: HttpClient.HttpClient, settings: ClientSettings) => {
  const url = `${settings.baseUrl}/chat/completions`
  const decodeEnvelope = Schema.decodeUnknownEither(CompletionEnvelope)
  const clean = (text: string) => redactSecrets(text, Redacted.value(settings.apiKey))
  return (body: ChatCompletionRequest): Effect.Effect<CallReply, GrokCallError> =>
    Effect.gen(function* () {
      const request = HttpClientRequest.post(url).pipe(
        HttpClientRequest.bearerToken(settings.apiKey),
        HttpClientRequest.acceptJson,
        HttpClientRequest.bodyUnsafeJson(body)
      )
      const response = yield* client.execute(request).pipe(Effect.mapError((error) => new GrokTransport({ detail: clean(error.message) })))
      const text = yield* response.text.pipe(Effect.mapError((error) => new GrokTransport({ detail: clean(`reading the answer failed: ${error.message}`) })))
      const status = response.status
      if (status === 401 || status === 403) return yield* new GrokUnauthorized({ status, detail: errorDetail(clean(text)) })
      if (status < 200 || status >= 300) {
        return yield* new GrokHttpStatus({ status, detail: errorDetail(clean(text)), retryAfterMs: parseRetryAfter(response.headers["retry-after"], Date.now()) })
      }
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        return yield* new GrokBadEnvelope({ detail: "the body is not JSON", rawBody: text })
      }
      const envelope = decodeEnvelope(json)
      if (Either.isLeft(envelope)) {
        const issue = ParseResult.ArrayFormatter.formatErrorSync(envelope.left)[0]
        return yield* new GrokBadEnvelope({ detail: issue === undefined ? "unexpected shape" : `${issue.path.join(".")}: ${issue.message}`, rawBody: text })
      }
      return { rawBody: text, envelope: envelope.right }
    }).pipe(
      Effect.timeoutFail({ duration: Duration.millis(settings.timeoutMs), onTimeout: () => new GrokTimeout({ afterMs: settings.timeoutMs }) })
    )
}

export interface RetrySettings {
  /** Retries after the first attempt. */
  readonly budget: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
}

/**
 * Exponential backoff with jitter, capped at `maxDelayMs`, for at most `budget` retries, of
 * retryable errors only; a `Retry-After` lengthens the delay to at least what it asks.
 * `onRetry` sees each decided delay (for the "retry scheduled" log).
 */
export const retrySchedule = (settings: RetrySettings, onRetry: (error: GrokCallError, delayMs: number, attempt: number) => Effect.Effect<void>) =>
  Schedule.exponential(Duration.millis(settings.baseDelayMs), 2).pipe(
    Schedule.jittered,
    Schedule.union(Schedule.spaced(Duration.millis(settings.maxDelayMs))),
    Schedule.intersect(Schedule.recurs(settings.budget)),
    Schedule.intersect(Schedule.identity<GrokCallError>()),
    Schedule.whileInput((error: GrokCallError) => isRetryable(error)),
    Schedule.modifyDelayEffect(([[, attempt], error], delay) => {
      const delayMs = Math.max(Duration.toMillis(delay), retryAfterOf(error))
      return Effect.as(onRetry(error, delayMs, attempt + 1), Duration.millis(delayMs))
    })
  )
