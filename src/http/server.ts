/** The HTTP server: the API, its OpenAPI document at /openapi.json and offline docs at /docs. */
import { HttpApiBuilder, HttpApiScalar, HttpMiddleware, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import { AppConfig } from "../config.js"
import { InsightdApi } from "./api.js"
import { HandlersLive } from "./handlers.js"
import { ApiMiddlewareLive } from "./middleware.js"

const logAddress = Layer.effectDiscard(
  HttpServer.addressWith((address) =>
    address._tag === "TcpAddress"
      ? Effect.logInfo("http listening").pipe(Effect.annotateLogs({ source: "http", host: address.hostname, port: address.port, url: `http://${address.hostname}:${address.port}` }))
      : Effect.logInfo("http listening").pipe(Effect.annotateLogs({ source: "http", path: address.path }))
  )
)

export const HttpServerLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => {
    const server = NodeHttpServer.layer(() => createServer({ keepAliveTimeout: 65_000 }), { port: config.http.port, host: config.http.host })
    const api = HttpApiBuilder.api(InsightdApi).pipe(Layer.provide(HandlersLive))
    return HttpApiBuilder.serve().pipe(
      Layer.provide(HttpApiScalar.layer({ path: "/docs", scalar: { withDefaultFonts: false } })),
      Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
      Layer.provide(ApiMiddlewareLive),
      Layer.provide(api),
      Layer.provideMerge(logAddress),
      Layer.provide(server),
      // No trace exporter is configured, so per-request spans (URL parsing, header redaction,
      // span objects) would be pure cost: about a quarter of a request's CPU when measured.
      HttpMiddleware.withTracerDisabledWhen(() => true)
    )
  })
)
