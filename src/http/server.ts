/** The HTTP server: the API, its OpenAPI document at /openapi.json and offline docs at /docs. */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, FiberRef, Layer, LogLevel } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { Server as NetServer } from "node:net"
import type { Duplex } from "node:stream"
import { AppConfig } from "../config.js"
import { DashboardLive } from "../dashboard/route.js"
import { httpMetrics } from "../observability/http.js"
import { recordHttpResponse } from "../observability/metrics.js"
import { tracingEnabled } from "../observability/tracing.js"
import { Lifecycle } from "../services/Lifecycle.js"
import { InvalidParameter, ListenFailed, MethodNotAllowed, NotFound } from "../domain/errors.js"
import { InsightdApi } from "./api.js"
import { DocsLive } from "./docs.js"
import { errorResponse, errorWire } from "./errors.js"
import { HandlersLive } from "./handlers.js"
import { makeHotIngest, writeJson } from "./hotIngest.js"
import { closeAfterAnswer, declaredTooLarge } from "./ingestBodies.js"
import { ApiMiddlewareLive } from "./middleware.js"

/**
 * The address is logged whatever the level (but none): with INSIGHTD_PORT=0 it is the only way
 * to learn the port (SPEC §9), and an operator who asked for warnings only still needs it.
 */
const logAddress = Layer.effectDiscard(
  HttpServer.addressWith((address) =>
    Effect.flatMap(FiberRef.get(FiberRef.currentMinimumLogLevel), (level) => {
      const line =
        address._tag === "TcpAddress"
          ? Effect.logInfo("http listening").pipe(Effect.annotateLogs({ source: "http", host: address.hostname, port: address.port, url: `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}` }))
          : Effect.logInfo("http listening").pipe(Effect.annotateLogs({ source: "http", path: address.path }))
      // "source opened" as stdin logs it (SPEC §10's event), at the level asked for.
      const opened = Effect.logInfo("source opened").pipe(Effect.annotateLogs({ source: "http" }))
      return Effect.zipRight(level._tag === "None" ? line : Effect.locally(line, FiberRef.currentMinimumLogLevel, LogLevel.Info), opened)
    })
  )
)

/**
 * Closes the server once the drain is over (the serve scope is released right after the
 * pipeline's drain). No request the daemon has received may go unanswered (SPEC §5: stop
 * accepting with 503):
 * - the listener closes in the check phase, right after libuv's poll phase has accepted the
 *   connections already queued, so few are left in the backlog for the kernel to reset;
 * - `QUIET_MS` later the idle keep-alive connections close: a request whose bytes were on their
 *   way has been read by then and is answered (503, `Connection: close`), whereas closing at
 *   once reset such connections and their clients got ECONNRESET;
 * - a request still open after `CLOSE_GRACE_MS` (a client stalled mid-upload) is cut, so no
 *   client can keep the process alive past the grace period.
 * It resumes when the last connection has ended; the request listener stays until then, since a
 * request that finds none is never answered.
 */
const QUIET_MS = 100
const CLOSE_GRACE_MS = 500
const netServerClose = NetServer.prototype.close
const closeGently = (node: Server): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (!node.listening) return resume(Effect.void)
    const timers: Array<NodeJS.Timeout> = []
    const immediate = setImmediate(() => {
      // net.Server's own close: http.Server#close would also close the idle connections at once.
      netServerClose.call(node, () => {
        for (const timer of timers) clearTimeout(timer)
        resume(Effect.void)
      })
      timers.push(setTimeout(() => node.closeIdleConnections(), QUIET_MS))
      timers.push(setTimeout(() => node.closeAllConnections(), CLOSE_GRACE_MS))
    })
    return Effect.sync(() => {
      clearImmediate(immediate)
      for (const timer of timers) clearTimeout(timer)
    })
  })

/**
 * Every path served and its methods: the API's endpoints (from its definition) and the pages
 * beside them. HEAD is answered wherever GET is (see the request listener).
 */
const routeMethods: ReadonlyArray<{ readonly pattern: RegExp; readonly allowed: ReadonlyArray<string> }> = (() => {
  const byPath = new Map<string, Set<string>>()
  const add = (path: string, method: string) => byPath.set(path, (byPath.get(path) ?? new Set()).add(method))
  HttpApi.reflect(InsightdApi, { onGroup: () => {}, onEndpoint: ({ endpoint }) => add(endpoint.path, endpoint.method) })
  for (const page of ["/", "/docs", "/openapi.json"]) add(page, "GET")
  return [...byPath].map(([path, methods]) => ({
    pattern: new RegExp(`^${path.split("/").map((part) => (part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("/")}$`),
    allowed: methods.has("GET") ? [...methods, "HEAD"] : [...methods]
  }))
})()

/** Answers a request with `error` from the Node listener (outside the router), counted in the HTTP metrics. */
const answerError = (request: IncomingMessage, response: ServerResponse, error: Parameters<typeof errorWire>[0]): void => {
  const started = performance.now()
  const wire = errorWire(error)
  writeJson(response, wire.status, wire.body, wire.headers)
  recordHttpResponse(request.method ?? "GET", request.url ?? "/", wire.status, performance.now() - started)
}

/**
 * A path with no parameter names one route, even where a parameter route would also match it:
 * `GET /api/v1/conversations/bulk` is the bulk route asked with the wrong method (405, `Allow:
 * POST`), not the conversation "bulk" (which find-my-way would route to `GET …/:id`, a 404).
 * Answers such a request and returns true.
 */
const isParameterRoute = (route: (typeof routeMethods)[number]): boolean => route.pattern.source.includes("[^/]+")
const staticRoutes = routeMethods.filter((route) => !isParameterRoute(route))
const parameterRoutes = routeMethods.filter(isParameterRoute)
const refusedMethodOnStaticPath = (request: IncomingMessage, response: ServerResponse): boolean => {
  const path = (request.url ?? "/").split("?")[0]
  const method = request.method ?? "GET"
  const allowed = staticRoutes.find((route) => route.pattern.test(path))?.allowed
  if (allowed === undefined || allowed.includes(method)) return false
  // Otherwise no route takes the request, and the catch-all route answers the 405 itself.
  if (!parameterRoutes.some((route) => route.pattern.test(path) && route.allowed.includes(method))) return false
  answerError(request, response, new MethodNotAllowed({ message: `${method} is not allowed on ${path}; it takes ${allowed.join(", ")}`, allowed }))
  return true
}

/**
 * A request no route serves gets a JSON answer rather than the platform's empty 404: a catch-all
 * route (find-my-way tries it only after every real route). A known path asked with another
 * method is a 405 with `Allow`; anything else a 404.
 */
const UnknownRouteLive = HttpApiBuilder.Router.use((router) =>
  router.all(
    "*",
    Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const path = request.url.split("?")[0]
      const allowed = routeMethods.find((route) => route.pattern.test(path))?.allowed
      return allowed !== undefined && !allowed.includes(request.method)
        ? errorResponse(new MethodNotAllowed({ message: `${request.method} is not allowed on ${path}; it takes ${allowed.join(", ")}`, allowed }))
        : errorResponse(new NotFound({ message: `no such endpoint: ${request.method} ${path}` }))
    })
  )
)

const decodes = (text: string): boolean => {
  try {
    decodeURIComponent(text)
    return true
  } catch {
    return false
  }
}

/**
 * Answers a request whose path or query is not valid percent-encoding
 * (`/api/v1/conversations/%E0%A4%A`, `?author=%ZZ`, `?author=%C3%28`, not UTF-8) with a JSON 400
 * and returns true. The router cannot decode such a path, and the platform answered it with an
 * empty 404 before any route, the catch-all one included, could; such a query was read with the
 * bad escapes left as they were or replaced (U+FFFD), and filtered on that.
 */
const refusedUndecodablePath = (request: IncomingMessage, response: ServerResponse): boolean => {
  const url = request.url ?? "/"
  if (!url.includes("%")) return false
  const [path, ...rest] = url.split("?")
  const query = rest.join("?")
  const pathDecodes = decodes(path)
  if (pathDecodes && query.split(/[&=]/).every(decodes)) return false
  answerError(
    request,
    response,
    pathDecodes
      ? new InvalidParameter({ message: "the query string is not valid percent-encoding (UTF-8)", details: [{ field: "(query)", message: "malformed percent-encoding" }] })
      : new InvalidParameter({ message: `the URL path ${path} is not valid percent-encoding`, details: [{ field: "(path)", message: "malformed percent-encoding" }] })
  )
  return true
}

/** Why listening failed, in words that name the setting ("ServeError: An error has occurred" did not). */
const listenFailed = (options: { readonly port: number; readonly host: string }, cause: unknown): ListenFailed => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : ""
  const reasons: Record<string, string> = {
    EADDRINUSE: "the port is already in use by another process",
    EACCES: "permission denied (ports below 1024 need privileges)",
    EADDRNOTAVAIL: "this machine has no such address",
    ENOTFOUND: "no such host",
    EAI_AGAIN: "the host name could not be resolved"
  }
  const reason = reasons[code] ?? (cause instanceof Error ? cause.message : String(cause))
  return new ListenFailed({
    message: `cannot listen on ${options.host}:${options.port}: ${reason}${code !== "" && reasons[code] !== undefined ? ` (${code})` : ""}; see INSIGHTD_HOST / INSIGHTD_PORT (http.host / http.port in the config file)`
  })
}

/**
 * `Expect: 100-continue` (curl sends it for bodies over 1 MiB): a body declared larger than its
 * route takes is refused with the 413 before the client uploads it. Node's default answered
 * 100 Continue to everything, and the client had sent megabytes before hearing no.
 */
const answerExpectContinue = (node: Server, limits: BodyLimits) => (request: IncomingMessage, response: ServerResponse) => {
  const declared = Number(request.headers["content-length"])
  const limit = (request.url ?? "").split("?")[0].endsWith("/conversations/bulk") ? limits.bulk : limits.single
  if (Number.isFinite(declared) && declared > limit) {
    closeAfterAnswer(response) // the body never comes
    answerError(request, response, declaredTooLarge(declared, limit))
    return
  }
  response.writeContinue()
  node.emit("request", request, response)
}

/**
 * A request Node's parser refuses (raw non-ASCII in the path or query, a malformed request line,
 * headers over 16 KiB) got Node's bare `400 Bad Request` with no body; SPEC §4 wants every error
 * as the JSON error body. The request never reached a route, so the answer is written here.
 */
const answerUnparsableRequest = (error: Error & { code?: string }, socket: Duplex) => {
  if (!socket.writable || error.code === "ECONNRESET") {
    socket.destroy()
    return
  }
  // Node's own statuses for what is not the client's syntax: a request too slow to arrive (408,
  // which clients retry) and oversized parts (431, 413).
  const [status, code, message] =
    error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? ["408 Request Timeout", "request_timeout", "the request did not arrive in time"]
      : error.code === "HPE_HEADER_OVERFLOW"
        ? ["431 Request Header Fields Too Large", "invalid_parameter", "the request headers are too large (16 KiB at most)"]
        : error.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW"
          ? ["413 Payload Too Large", "payload_too_large", "the chunk extensions are too large"]
          : error.code === "HPE_INVALID_URL" || error.code === "HPE_INVALID_CHARACTER"
            ? ["400 Bad Request", "invalid_parameter", "the request line is not valid HTTP: characters outside ASCII in a path or query must be percent-encoded (UTF-8)"]
            : ["400 Bad Request", "invalid_parameter", `the request is not valid HTTP (${error.code ?? "unparsable"})`]
  const body = JSON.stringify({ error: code, message, details: [{ field: "(request)", message }] })
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}

interface BodyLimits {
  readonly single: number
  readonly bulk: number
}

/**
 * The Node server with the HttpApi app behind it, whose request listener offers each request to
 * the hot ingest route first (see ./hotIngest.ts) and hands the rest to the Effect handler.
 */
const dispatchingServer = (node: Server, options: { readonly port: number; readonly host: string; readonly limits: BodyLimits }) =>
  Layer.merge(
    Layer.scoped(
      HttpServer.HttpServer,
      Effect.gen(function* () {
        const hot = yield* makeHotIngest
        const lifecycle = yield* Lifecycle
        const listening = yield* NodeHttpServer.make(() => node, { port: options.port, host: options.host }).pipe(
          Effect.mapError((error) => listenFailed(options, error.cause))
        )
        node.on("checkContinue", answerExpectContinue(node, options.limits))
        node.on("clientError", answerUnparsableRequest)
        return HttpServer.make({
          address: listening.address,
          serve: (app, middleware) =>
            Effect.gen(function* () {
              const handler = yield* (middleware === undefined ? NodeHttpServer.makeHandler(app) : NodeHttpServer.makeHandler(app, middleware))
              const listener = (request: IncomingMessage, response: ServerResponse) => {
                // HEAD is answered as GET (HTTP semantics: same status and headers): load balancers
                // and uptime checks probe /health that way. Node already knows the request is HEAD
                // (the response was made before this event) and sends no body.
                if (request.method === "HEAD") request.method = "GET"
                // Draining: each answer closes its connection (`Connection: close`). A 503 sent
                // keep-alive invited the client to send its next request on a socket that the
                // shutdown then reset, so it got ECONNRESET (stored or not?) instead of an answer.
                if (lifecycle.isDraining()) response.shouldKeepAlive = false
                if (!hot(request, response) && !refusedUndecodablePath(request, response) && !refusedMethodOnStaticPath(request, response)) handler(request, response)
              }
              node.on("request", listener)
              yield* Effect.addFinalizer(() => Effect.zipRight(closeGently(node), Effect.sync(() => node.off("request", listener))))
            })
        })
      })
    ),
    NodeHttpServer.layerContext
  )

export const HttpServerLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => {
    const tracing = tracingEnabled()
    const nodeServer = createServer({ keepAliveTimeout: 65_000 })
    const server = dispatchingServer(nodeServer, {
      port: config.http.port,
      host: config.http.host,
      limits: { single: config.http.maxBodyBytes, bulk: config.http.maxBulkBodyBytes }
    })
    const api = HttpApiBuilder.api(InsightdApi).pipe(Layer.provide(HandlersLive))
    return HttpApiBuilder.serve(httpMetrics).pipe(
      Layer.provide(DocsLive),
      Layer.provide(UnknownRouteLive),
      Layer.provide(DashboardLive),
      Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
      Layer.provide(ApiMiddlewareLive),
      Layer.provide(api),
      Layer.provideMerge(logAddress),
      Layer.provide(server),
      // find-my-way answers a path parameter over maxParamLength (default 100) with an empty 404, no
      // route (the catch-all included) getting to say anything. Node bounds the whole request line
      // (16 KiB of headers), so no parameter can be longer than that: the id route then refuses
      // what is not an id with its own JSON 404.
      // Paths are matched as written: find-my-way's defaults also ignore case and doubled slashes,
      // so `/API/V1/insights` and `//api/v1/insights` were served too, one more way around any
      // rule keyed on the path.
      Layer.provide(HttpRouter.setRouterConfig({ maxParamLength: 64 * 1024, caseSensitive: true, ignoreDuplicateSlashes: false })),
      // Without a trace exporter (OTEL_EXPORTER_OTLP_ENDPOINT), per-request spans (URL parsing, header
      // redaction, span objects) would be pure cost: about a quarter of a request's CPU when measured.
      HttpMiddleware.withTracerDisabledWhen(tracing ? () => false : () => true)
    )
  })
)
