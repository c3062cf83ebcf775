// Builds the dashboard served at GET /: src/dashboard/{index.html,style.css,client.js} plus uPlot,
// bundled by esbuild into ONE self-contained page (inline script and style, no external URL), so
// it works offline and the Content-Security-Policy can allow nothing but the page itself and the
// daemon's own API. Writes dist/dashboard/index.html and dist/dashboard/csp.txt (the header value,
// with the sha256 of the inline script and style instead of 'unsafe-inline').
import { build, transform } from "esbuild"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"

const source = new URL("../src/dashboard/", import.meta.url)
const out = new URL("../dist/dashboard/", import.meta.url)

// The client is plain JS checked by TypeScript with DOM types (the server build has none).
execFileSync(process.execPath, [new URL("../node_modules/typescript/bin/tsc", import.meta.url).pathname, "-p", source.pathname], { stdio: "inherit" })

const bundled = await build({
  entryPoints: [new URL("client.js", source).pathname],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  platform: "browser",
  write: false,
  legalComments: "none"
})
const script = bundled.outputFiles[0].text.trim()

const css = [readFileSync(new URL("../node_modules/uplot/dist/uPlot.min.css", import.meta.url), "utf8"), readFileSync(new URL("style.css", source), "utf8")].join("\n")
const style = (await transform(css, { loader: "css", minify: true, target: ["chrome100", "firefox100", "safari15"] })).code.trim()

// Inline content must not be able to close its own element early.
if (/<\/script/i.test(script)) throw new Error("dashboard: the bundled script contains </script")
if (/<\/style/i.test(style)) throw new Error("dashboard: the bundled style contains </style")

const template = readFileSync(new URL("index.html", source), "utf8")
const replaceOnce = (text, marker, value) => {
  const parts = text.split(marker)
  if (parts.length !== 2) throw new Error(`dashboard: index.html must contain ${marker} exactly once`)
  return parts[0] + value + parts[1]
}
const html = replaceOnce(replaceOnce(template, "<!--STYLE-->", `<style>${style}</style>`), "<!--SCRIPT-->", `<script>${script}</script>`)

const sha256 = (text) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`
const csp = [
  "default-src 'none'",
  `script-src ${sha256(script)}`,
  `style-src ${sha256(style)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

mkdirSync(out, { recursive: true })
writeFileSync(new URL("index.html", out), html)
writeFileSync(new URL("csp.txt", out), csp)
