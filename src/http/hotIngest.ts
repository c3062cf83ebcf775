/**
 * The daemon's hottest route, `POST /api/v1/conversations` with one small JSON conversation,
 * served straight from the Node request listener instead of through the HttpApi router.
 *
 * Why: profiled, the Effect HTTP stack costs ~120 µs of CPU per request before any ingest work
 * (router, per-request context maps, HttpApi's handler wrapping, response encoding) — more than
 * the whole request costs a bare node:http server, which capped single-POST ingest at ~0.2× of
 * one. The contract does not change: the endpoint stays declared in the HttpApi (OpenAPI, docs),
 * the same validate stage, Ingest service (202 only after the group commit), error bodies
 * (`errorWire`), metrics and drain signal are used, and anything out of the ordinary (another
 * route, a large or chunked body, a missing/invalid API key, draining, the inbound limit on,
 * tracing on) is left to the HttpApi handler, so there is one implementation of each rule.
 */
import { Effect, Either, Redacted, Runtime } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { performance } from "node:perf_hooks"
import { AppConfig } from "../config.js"
import { databaseUnavailable, InvalidInput, Unavailable } from "../domain/errors.js"
import { recordAccepted, recordHttpResponse, recordInvalidBody } from "../observability/metrics.js"
import { tracingEnabled } from "../observability/tracing.js"
import { Ingest } from "../services/Ingest.js"
import { Lifecycle } from "../services/Lifecycle.js"
import type { SubmissionReply } from "../stages/persist.js"
import { validateSubmission } from "../stages/validate.js"
import { errorWire, type ClientError } from "./errors.js"
import { acceptedBody, conflictError, isJsonMediaType, isUnparsableBody, parseSingle, readNodeBody, SMALL_BODY_BYTES, unreadableEncoding } from "./ingestBodies.js"
import { hasValidApiKey } from "./middleware.js"

const ROUTE = "/api/v1/conversations"

/** Writes a JSON response straight on the Node response (no Effect HTTP stack). */
export const writeJson = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  const text = JSON.stringify(body)
  response.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  response.end(text)
}

/** `true` when the request was taken (and will be answered) here. */
export type HotRoute = (request: IncomingMessage, response: ServerResponse) => boolean

export const makeHotIngest = Effect.gen(function* () {
  const config = yield* AppConfig
  const ingest = yield* Ingest
  const lifecycle = yield* Lifecycle
  const runtime = yield* Effect.runtime<never>()
  const runFork = Runtime.runFork(runtime)
  const keys = config.http.apiKeys.map(Redacted.value)
  // Rules that need the Effect clock (the inbound limit) or spans stay on the HttpApi path.
  const active = config.http.rateLimitPerSecond <= 0 && !tracingEnabled()

  const hot: HotRoute = (request, response) => {
    if (!active || request.method !== "POST" || request.url !== ROUTE) return false
    const declared = Number(request.headers["content-length"])
    if (!(declared <= SMALL_BODY_BYTES) || declared > config.http.maxBodyBytes) return false
    if (!isJsonMediaType(request.headers["content-type"])) return false
    // A Content-Encoding or another charset: the HttpApi route says what is not supported.
    if (unreadableEncoding(request.headers) !== undefined) return false
    if (keys.length > 0 && !hasValidApiKey(request.headers.authorization, keys)) return false
    if (lifecycle.isDraining()) return false

    const started = performance.now()
    let answered = false
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (answered) return
      answered = true
      writeJson(response, status, body, headers)
      recordHttpResponse("POST", ROUTE, status, performance.now() - started)
    }
    const fail = (error: ClientError) => {
      if (error instanceof InvalidInput) recordInvalidBody(isUnparsableBody(error))
      const wire = errorWire(error)
      answer(wire.status, wire.body, wire.headers)
    }

    readNodeBody(request, response, config.http.maxBodyBytes, lifecycle.onDraining, (body) => {
      const submission = Either.flatMap(body, (text) => Either.flatMap(parseSingle(text), (item) => validateSubmission([item], { bulk: false })))
      if (Either.isLeft(submission)) return fail(submission.left)
      // Answered from the persist stage's callback after the group commit: no fiber per request.
      const reply: SubmissionReply = (result) => {
        if (Either.isLeft(result)) return fail(result.left instanceof Unavailable ? result.left : databaseUnavailable("written"))
        const outcome = result.right
        if (outcome._tag === "Conflict") return fail(conflictError(outcome.conflictingIds))
        recordAccepted("http", 1)
        const id = outcome.ids[0]
        answer(202, acceptedBody(id), { location: `${ROUTE}/${id}` })
      }
      // A full queue (a flood): wait for room like the HttpApi route does.
      if (!ingest.offerNow(submission.right, reply)) runFork(ingest.enqueue(submission.right, reply))
    })
    return true
  }
  return hot
})
