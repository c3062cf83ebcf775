/**
 * `node --import test/support/slow-native-load.mjs dist/main.js …`: a module hook that holds back
 * the loading of better-sqlite3 (which the bundled program imports at its top) for
 * SLOW_LOAD_MS, after touching the file SLOW_LOAD_MARKER. A test sends its signal once the
 * marker exists: while the program is still loading, deterministically, instead of racing the
 * ~0.5 s a real start-up takes.
 */
import { writeFileSync } from "node:fs"
import { register } from "node:module"
import { isMainThread } from "node:worker_threads"

// The hooks run on their own thread, where this same module is loaded again.
if (isMainThread) register(import.meta.url)

export async function load(url, context, nextLoad) {
  if (url.includes("/node_modules/better-sqlite3/")) {
    writeFileSync(process.env.SLOW_LOAD_MARKER, url)
    await new Promise((done) => setTimeout(done, Number(process.env.SLOW_LOAD_MS)))
  }
  return nextLoad(url, context)
}
