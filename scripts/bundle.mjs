// Bundles the daemon and CLI (tsc's dist/program.js and everything it imports) into ONE file,
// dist/program.js, with esbuild: only the code actually reachable is loaded (effect and
// @effect/platform are imported whole otherwise, module by module). Measured on the ingest-only
// daemon under load (bench/ingest.mjs set-up): ~18 MB less peak RSS and ~10 % less CPU per
// request, since V8 keeps every loaded module's source and a smaller old space is cheaper to mark.
// The rest of dist/ stays as tsc wrote it (benchmarks and build-docs import single modules).
// Left outside the bundle: better-sqlite3 (native), and the analyzer's data packages, which
// src/analyzer/local/lexicon.ts loads at run time with createRequire.
import { build } from "esbuild"
import { chmodSync, readFileSync } from "node:fs"

const entry = new URL("../dist/program.js", import.meta.url).pathname
const source = readFileSync(entry, "utf8")
if (source.includes("\n// insightd bundle\n")) process.exit(0) // already bundled (a second run)

await build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: ["node20"],
  // Whitespace and syntax only: names stay readable in stack traces, logs and CPU profiles.
  // Whitespace alone is worth ~8 MB of heap (V8 keeps the source and its line table); set
  // INSIGHTD_READABLE_BUILD=1 to keep the lines, so a CPU profile's per-line figures mean something.
  minifyWhitespace: process.env.INSIGHTD_READABLE_BUILD !== "1",
  minifySyntax: true,
  sourcemap: true,
  legalComments: "none",
  external: ["better-sqlite3"],
  // CommonJS dependencies inside the bundle call `require`, which an ES module lacks.
  banner: { js: "// insightd bundle\nimport { createRequire as __insightdCreateRequire } from \"node:module\"\nconst require = __insightdCreateRequire(import.meta.url)" },
  logLevel: "warning"
})
chmodSync(entry, 0o755)
