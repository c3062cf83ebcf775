/**
 * GET /docs: the browsable API reference, built by scripts/build-docs.mjs into dist/docs/.
 * Read from disk per request rather than held in memory: the page inlines Scalar (3.4 MB) and
 * is rarely opened, while the daemon's resident memory counts every hour of the day.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import { builtAsset } from "../assets.js"
import { NotFound } from "../domain/errors.js"
import { errorResponse } from "./errors.js"

const page = builtAsset("./docs/index.html")

const docsResponse = Effect.tryPromise(() => readFile(page)).pipe(
  Effect.map((body) => HttpServerResponse.uint8Array(body, { contentType: "text/html; charset=utf-8", headers: { "cache-control": "no-cache" } })),
  Effect.catchAll(() => Effect.succeed(errorResponse(new NotFound({ message: "the API reference is not built: run npm run build" }))))
)

export const DocsLive = HttpApiBuilder.Router.use((router) => router.get("/docs", docsResponse))
