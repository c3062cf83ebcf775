// Writes dist/docs/index.html: the browsable API reference (Scalar, inlined, works offline) for
// the OpenAPI document generated from the API definition. Built once here instead of at start-up:
// the inlined Scalar bundle is 3.4 MB of source, and loading it in the daemon cost ~14 MB of RSS
// for a page that is rarely opened (measured; see src/http/docs.ts).
import { mkdirSync, writeFileSync } from "node:fs"
import * as OpenApi from "@effect/platform/OpenApi"

const { InsightdApi } = await import(new URL("../dist/http/api.js", import.meta.url).href)
// The Scalar bundle @effect/platform ships for HttpApiScalar; not in its exports map, so by path.
const scalarModule = new URL("./internal/httpApiScalar.js", import.meta.resolve("@effect/platform/HttpApiScalar"))
const { javascript: scalarBundle } = await import(scalarModule.href)
// The bundle names a source map (`//# sourceMappingURL=/sm/….map`) that is not shipped: served
// as is, every browser's developer tools fetched it and got a 404.
const javascript = scalarBundle.replace(/\/\/# sourceMappingURL=\S+/g, "")

const escapeJson = (value) =>
  JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/[\u2028\u2029]/g, (c) => (c === "\u2028" ? "\\u2028" : "\\u2029"))
const escapeText = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const spec = OpenApi.fromApi(InsightdApi)
const configuration = { _integration: "html", withDefaultFonts: false }
const html = `<!doctype html>
<html>
  <head>
    <meta charset="utf-8" />
    <title>${escapeText(spec.info.title)}</title>
    <meta name="viewport" content="width=device-width, initial-scale=1" />
  </head>
  <body>
    <script id="api-reference" type="application/json">
      ${escapeJson(spec)}
    </script>
    <script>
      document.getElementById('api-reference').dataset.configuration = JSON.stringify(${escapeJson(configuration)})
    </script>
    <script>${javascript}</script>
  </body>
</html>`
const out = new URL("../dist/docs/", import.meta.url)
mkdirSync(out, { recursive: true })
writeFileSync(new URL("index.html", out), html)
