/**
 * GET / — the dashboard: one self-contained page built by scripts/build-dashboard.mjs into
 * dist/dashboard/. Read once at start-up; the page itself
 * holds no data (it reads /api/v1 and /metrics from the browser), so it needs no API key.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { builtAsset } from "../assets.js"
import { NotFound } from "../domain/errors.js"
import { errorResponse } from "../http/errors.js"

interface BuiltPage {
  readonly html: string
  readonly csp: string
  readonly etag: string
}

const loadPage = Effect.try({
  try: (): BuiltPage => {
    const html = readFileSync(builtAsset("./dashboard/index.html"), "utf8")
    const csp = readFileSync(builtAsset("./dashboard/csp.txt"), "utf8").trim()
    return { html, csp, etag: `"${createHash("sha256").update(html).digest("base64url").slice(0, 27)}"` }
  },
  catch: (cause) => cause
})

const pageResponse = (page: BuiltPage) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const headers = {
      "content-security-policy": page.csp,
      // Revalidate every time (cheap with the ETag) so a new build is seen at once.
      "cache-control": "no-cache",
      etag: page.etag,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY"
    }
    if (request.headers["if-none-match"] === page.etag) return HttpServerResponse.empty({ status: 304, headers })
    return HttpServerResponse.text(page.html, { contentType: "text/html; charset=utf-8", headers })
  })

/** The `/` route on the API's router. Without a built page (tsc alone, no build script) it answers 404 and says why. */
export const DashboardLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function* () {
    const page = yield* Effect.either(loadPage)
    if (page._tag === "Left") {
      yield* Effect.logWarning("dashboard not built").pipe(Effect.annotateLogs({ source: "http", hint: "run npm run build", error: String(page.left) }))
      const missing = errorResponse(new NotFound({ message: "the dashboard is not built: run npm run build" }))
      return yield* router.get("/", Effect.succeed(missing))
    }
    return yield* router.get("/", pageResponse(page.right))
  })
)
