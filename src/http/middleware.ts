/**
 * Cross-cutting HTTP rules, applied to every route before errors are encoded:
 * bearer API keys (401), draining (503 for new submissions), the inbound rate limit (429), and
 * HttpApi's own decode failures rewritten into the `invalid_parameter` body of SPEC §4.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiError from "@effect/platform/HttpApiError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Redacted } from "effect"
import { timingSafeEqual } from "node:crypto"
import { AppConfig } from "../config.js"
import { drainingRefusal, RateLimited, Unauthorized, Unavailable } from "../domain/errors.js"
import { InboundLimiter } from "../services/InboundLimiter.js"
import { Lifecycle } from "../services/Lifecycle.js"
import { describeIssues } from "../stages/validate.js"
import { InsightdApi } from "./api.js"
import { errorResponse } from "./errors.js"

const sameSecret = (given: string, expected: string): boolean => {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Whether an `Authorization` header carries one of the configured keys (bearer, constant time). */
export const hasValidApiKey = (header: string | undefined, keys: ReadonlyArray<string>): boolean => {
  const value = header ?? ""
  const token = /^bearer /i.test(value) ? value.slice(7).trim() : ""
  return keys.some((key) => sameSecret(token, key))
}

/**
 * What needs no key: probes and scrapers (SPEC §4), the API's description, and the dashboard page
 * (it asks for a key and sends it with the API calls it makes).
 */
const OPEN_PATHS = new Set(["/health", "/ready", "/metrics", "/docs", "/openapi.json", "/"])

/**
 * Whether the request is for an open endpoint, by its decoded path: every other endpoint of the
 * API needs a key. A prefix test on the raw URL ("/api/") let `/API/v1/…`, `/%61pi/v1/…` and
 * `//api/v1/…` through without one, since the router decodes the path (and then ignored case and
 * doubled slashes too).
 */
const isOpenPath = (url: string): boolean => {
  // As the router reads it: the path ends at ?, ; or #, and one trailing slash is ignored
  // (`/ready/` is /ready, and a probe configured that way must not need a key).
  const path = url.split(/[?;#]/)[0]
  try {
    const decoded = decodeURIComponent(path)
    return OPEN_PATHS.has(decoded.length > 1 && decoded.endsWith("/") ? decoded.slice(0, -1) : decoded)
  } catch {
    return false
  }
}

const decodeErrorResponse = (error: HttpApiError.HttpApiDecodeError) => {
  const details = error.issues.map((issue) => {
    const field = issue.path.length === 0 ? "(request)" : issue.path.map(String).join(".")
    const message =
      issue.message === "is missing"
        ? `${field} is required`
        : issue._tag === "Unexpected"
          ? `${field} is not a parameter of this endpoint; it takes ${issue.message.replace(/^is unexpected, expected: /, "").replace(/"/g, "").split(" | ").join(", ")}`
          : issue.message
    return { field, message: /^Expected (string|ReadonlyArray)/.test(message) ? `${field} must be given once, as text` : message }
  })
  return HttpServerResponse.unsafeJson({ error: "invalid_parameter", message: describeIssues(details), details }, { status: 400 })
}

export const ApiMiddlewareLive = HttpApiBuilder.middleware(
  InsightdApi,
  Effect.gen(function* () {
    const config = yield* AppConfig
    const lifecycle = yield* Lifecycle
    const limiter = yield* InboundLimiter
    const keys = config.http.apiKeys.map(Redacted.value)
    return (app) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (keys.length > 0 && !isOpenPath(request.url) && !hasValidApiKey(request.headers.authorization, keys)) {
          return errorResponse(new Unauthorized({ message: "a valid Authorization: Bearer <key> header is required" }))
        }
        // Every POST of the API is a submission (or a retry): limited, and refused while draining.
        if (request.method === "POST") {
          if (lifecycle.isDraining()) {
            return errorResponse(drainingRefusal())
          }
          if (limiter.enabled) {
            const admission = yield* limiter.admit
            if (!admission.admitted) {
              return errorResponse(
                new RateLimited({ message: `too many requests: the limit is ${config.http.rateLimitPerSecond} per second`, retry_after: admission.retryAfterSeconds })
              )
            }
          }
        }
        // The router's failures are typed `never` here, yet decode errors (and the endpoints' own
        // errors, encoded after this middleware) do arrive as failures.
        type Routed = Effect.Effect<HttpServerResponse.HttpServerResponse, HttpApiError.HttpApiDecodeError, HttpServerRequest.HttpServerRequest>
        return yield* (app as Routed).pipe(
          Effect.catchIf(
            (error): error is HttpApiError.HttpApiDecodeError => error instanceof HttpApiError.HttpApiDecodeError,
            (error) => Effect.succeed(decodeErrorResponse(error))
          ),
          // A 503 from a handler (database unavailable, draining mid-request) carries Retry-After
          // like the middleware's own; HttpApi's error encoding would send the body only.
          Effect.catchIf(
            (error: unknown): error is Unavailable => error instanceof Unavailable,
            (error) => Effect.succeed(errorResponse(error))
          )
        )
      })
  }),
  // Everything the middleware needs is captured above; merging contexts per request is costly.
  { withContext: false }
)
