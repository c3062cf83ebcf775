// A/B of daemon builds or flags, alternating variants round by round on one machine (noisy
// machines drift; alternation spreads the drift over every variant), medians reported.
//
//   node bench/ab.mjs --mode=ingest|bulk --rounds=3 --variants='[{"name":"before","entry":"/tmp/wt/dist/main.js"},{"name":"after"}]'
//
// A variant: name; entry (a dist/main.js to run instead of this checkout's, e.g. a git worktree
// of the previous commit, built); flags (NODE_OPTIONS replacing the deployed V8 flags);
// env (extra environment for the daemon); kind "reference" for bench/reference-server.mjs. Every
// daemon runs the ingest-only pipeline, or with --pipeline=default the daemon's own (the local
// analyzer working off what comes in, on the same thread).
// ingest: 1 s warm-up + --seconds of single POSTs over 64 keep-alive connections (wrk when
//         installed): accepted/s, the daemon's CPU time per accepted request (user+sys from
//         /proc, less noisy than throughput), p99, peak RSS.
// bulk:   150 requests of 1,000 conversations (--format=ndjson|json), 4 clients, 20 as warm-up:
//         conversations/s, peak RSS.
import fs from "node:fs"
import path from "node:path"
import { BENCH_DIR, bulkBody, chooseGenerator, freshDir, makeConversations, median, parseArgs, postBulk, removeDir, rssSampler, runLoad, startServer } from "./lib.mjs"

const args = parseArgs()
const mode = String(args.mode ?? "ingest")
const rounds = Number(args.rounds ?? 3)
const seconds = Number(args.seconds ?? 5)
const format = String(args.format ?? "ndjson")
const variants = JSON.parse(String(args.variants ?? '[{"name":"this checkout"}]'))
const generator = chooseGenerator(args)
const INGEST_ONLY = path.join(BENCH_DIR, "pipelines", "ingest-only.json")

/** CPU time (user + system) of a process so far, in ms. */
const cpuMs = (pid) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

const bodies = mode === "bulk" ? Array.from({ length: 150 }, (_, r) => bulkBody(makeConversations(r + 1, 1000, r * 1000), format).body) : []

const sendBulk = async (base, list) => {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < list.length) await postBulk(base, list[next++], format)
    })
  )
  return performance.now() - started
}

const results = Object.fromEntries(variants.map((v) => [v.name, []]))
for (let round = 1; round <= rounds; round++) {
  for (const variant of variants) {
    const dir = freshDir("ab")
    if (variant.entry) process.env.BENCH_ENTRY = variant.entry
    else delete process.env.BENCH_ENTRY
    const server = await startServer({ kind: variant.kind ?? "insightd", db: path.join(dir, "ab.db"), pipeline: args.pipeline === "default" ? undefined : INGEST_ONLY, env: { ...(variant.flags ? { NODE_OPTIONS: variant.flags } : {}), ...(variant.env ?? {}) } })
    const rss = rssSampler(server.pid, 50)
    let row
    try {
      if (mode === "bulk") {
        await sendBulk(server.base, bodies.slice(0, 20))
        const ms = await sendBulk(server.base, bodies.slice(20))
        row = { perSecond: Math.round(((bodies.length - 20) * 1000) / (ms / 1000)) }
      } else {
        await runLoad({ generator, url: server.base, connections: 64, seconds: 1, scratch: dir })
        const before = cpuMs(server.pid)
        const load = await runLoad({ generator, url: server.base, connections: 64, seconds, scratch: dir })
        row = {
          perSecond: Math.round(load.accepted / (load.durationUs / 1e6)),
          cpuUsPerRequest: Math.round(((cpuMs(server.pid) - before) * 1000) / load.accepted),
          p99Ms: load.latencyUs.p99 / 1000
        }
      }
    } finally {
      await server.stop()
    }
    row.peakRssMb = Math.max(...rss.stop().map((phase) => phase.peakMb))
    removeDir(dir)
    results[variant.name].push(row)
    console.log(`round ${round} ${variant.name.padEnd(16)} ${JSON.stringify(row)}`)
  }
}
console.log(`\n${mode}${mode === "bulk" ? ` (${format})` : ""}: medians of ${rounds} rounds`)
for (const variant of variants) {
  const rows = results[variant.name]
  const med = (key) => median(rows.map((row) => row[key]))
  console.log(
    `  ${variant.name.padEnd(16)} ${Math.round(med("perSecond")).toLocaleString("en-US").padStart(8)} ${mode === "bulk" ? "conversations/s" : "req/s"}` +
      (mode === "ingest" ? `  CPU ${med("cpuUsPerRequest")} µs/request  p99 ${med("p99Ms")} ms` : "") +
      `  peak RSS ${Math.max(...rows.map((row) => row.peakRssMb))} MB`
  )
}
