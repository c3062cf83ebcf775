/**
 * Per-request HTTP metrics, as the outermost HttpApp middleware: it sees the response after it
 * was written (errors already turned into responses), so the duration covers the whole request.
 * Synchronous bookkeeping only, no extra fiber or scope per request.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Context, Effect } from "effect"
import { performance } from "node:perf_hooks"
import { recordHttpResponse } from "./metrics.js"

export const httpMetrics = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
  Effect.withFiberRuntime((fiber) => {
    const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
    const started = performance.now()
    return app.pipe(
      Effect.map((response) => {
        recordHttpResponse(request.method, request.url, response.status, performance.now() - started)
        return response
      }),
      Effect.tapErrorCause((cause) =>
        Effect.sync(() => recordHttpResponse(request.method, request.url, HttpServerError.causeResponseStripped(cause)[0].status, performance.now() - started))
      )
    )
  })
