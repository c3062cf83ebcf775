// CPU profile of the daemon (node --cpu-prof), summarised by self time (bench/cpuprofile-summary.mjs).
//
//   node bench/profile.mjs [--scenario=ingest|bulk|backlog] [--target=insightd|reference] [--seconds=5]
//                          [--connections=64] [--backlog=20000] [--dir=/tmp/prof] [--top=25] [--loadgen=wrk|node]
//                          [--format=json|ndjson] [--rows=100000] [--clients=4]
//
// ingest:  the ingest-only pipeline under the ingest benchmark's load (1 s warm-up + N s), so the
//          profile shows the HTTP stack + validate + persist, nothing else.
// bulk:    the ingest-only pipeline fed the bulk benchmark's requests (1,000 conversations each,
//          --format json or ndjson, --clients concurrent senders), bodies built before the window.
// backlog: a backlog built unprofiled, then the normal daemon (default pipeline, local analyzer)
//          profiled while it works through it.
// --target=reference profiles bench/reference-server.mjs under the same load (ingest only), to
// see which costs are inherent (SQLite, sockets) and which are the framework's.
// The daemon is stopped with SIGTERM; Node writes the profile on exit.
// PROFILE_IMPORT=./bench/sql-timing.mjs also times every SQLite statement (per SQL text, written
// to /tmp/insightd-sql-timing.txt at exit). For per-line figures, build with
// INSIGHTD_READABLE_BUILD=1 npm run build (the bundle keeps its lines).
import fs from "node:fs"
import path from "node:path"
import Database from "better-sqlite3"
import { printSummary, summariseProfile } from "./cpuprofile-summary.mjs"
import { BENCH_DIR, bulkBody, chooseGenerator, fmt, freshDir, makeConversation, makeConversations, parseArgs, prng, removeDir, runLoad, sleep, startServer, writeResult } from "./lib.mjs"

const args = parseArgs()
const scenario = String(args.scenario ?? "ingest")
const seconds = Number(args.seconds ?? 5)
const connections = Number(args.connections ?? 64)
const backlog = Number(args.backlog ?? 20_000)
const profDir = String(args.dir ?? "/tmp/prof")
const top = Number(args.top ?? 25)
const generator = chooseGenerator(args)
const target = String(args.target ?? "insightd")
const INGEST_ONLY = path.join(BENCH_DIR, "pipelines", "ingest-only.json")

fs.mkdirSync(profDir, { recursive: true })
const dir = freshDir(`profile-${scenario}`)
const db = path.join(dir, "bench.db")
const nodeArgs = ["--cpu-prof", `--cpu-prof-dir=${profDir}`, ...(process.env.PROFILE_IMPORT ? ["--import", process.env.PROFILE_IMPORT] : [])]
let pid
let note
let spawnedAt
let window
const onSpawn = () => (spawnedAt = Date.now())

if (scenario === "ingest") {
  const server = await startServer({ kind: target === "reference" ? "reference" : "insightd", db, pipeline: INGEST_ONLY, nodeArgs, onSpawn })
  pid = server.pid
  await runLoad({ generator, url: server.base, connections, seconds: 1, scratch: dir })
  const loadStart = Date.now()
  const load = await runLoad({ generator, url: server.base, connections, seconds, scratch: dir })
  // Only the measured load counts: start-up (module compilation, model loading) and warm-up are left out.
  window = { fromMs: loadStart - spawnedAt, toMs: Date.now() - spawnedAt }
  const exit = await server.stop()
  note = `${fmt(load.accepted / (load.durationUs / 1e6))} req/s while profiled (profiling slows it); exit ${JSON.stringify(exit)}`
} else if (scenario === "bulk") {
  const format = String(args.format ?? "ndjson")
  const rows = Number(args.rows ?? 100_000)
  const clients = Number(args.clients ?? 4)
  const bodies = Array.from({ length: Math.ceil(rows / 1000) }, (_, r) => bulkBody(makeConversations(r + 1, 1000, r * 1000), format))
  const server = await startServer({ kind: target === "reference" ? "reference" : "insightd", db, pipeline: INGEST_ONLY, nodeArgs, onSpawn })
  pid = server.pid
  let next = 0
  const send = async () => {
    while (next < bodies.length) {
      const { body, contentType } = bodies[next++]
      const res = await fetch(`${server.base}/api/v1/conversations/bulk`, { method: "POST", headers: { "content-type": contentType }, body })
      await res.arrayBuffer()
      if (res.status !== 202) throw new Error(`bulk POST → ${res.status}`)
    }
  }
  const loadStart = Date.now()
  await Promise.all(Array.from({ length: clients }, send))
  const ms = Date.now() - loadStart
  window = { fromMs: loadStart - spawnedAt, toMs: Date.now() - spawnedAt }
  const exit = await server.stop()
  note = `${fmt(rows)} conversations as ${format} in ${fmt(ms, 0)} ms while profiled (${fmt(rows / (ms / 1000))}/s); exit ${JSON.stringify(exit)}`
} else if (scenario === "backlog") {
  const builder = await startServer({ kind: "insightd", db, pipeline: INGEST_ONLY })
  const rand = prng(7)
  for (let start = 0; start < backlog; start += 1000) {
    const items = []
    for (let i = start; i < Math.min(backlog, start + 1000); i++) items.push(makeConversation(rand, i))
    const res = await fetch(`${builder.base}/api/v1/conversations/bulk`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(items) })
    await res.arrayBuffer()
    if (res.status !== 202) throw new Error(`bulk POST → ${res.status}`)
  }
  await builder.stop()
  const t0 = Date.now()
  const server = await startServer({ kind: "insightd", db, nodeArgs, onSpawn, healthTimeoutMs: 600_000 })
  pid = server.pid
  const conn = new Database(db, { readonly: true })
  const remaining = conn.prepare("SELECT COUNT(*) FROM conversations WHERE status IN ('pending', 'processing')").pluck()
  while (remaining.get() > 0 && Date.now() - t0 < 600_000) await sleep(200)
  const ms = Date.now() - t0
  window = { fromMs: 0, toMs: Date.now() - spawnedAt }
  conn.close()
  const exit = await server.stop()
  note = `${fmt(backlog)} backlog analysed in ${fmt(ms / 1000, 1)} s while profiled (${fmt(backlog / (ms / 1000))}/s); exit ${JSON.stringify(exit)}`
} else {
  console.error(`unknown scenario ${scenario}`)
  process.exit(2)
}

await sleep(200)
const file = fs
  .readdirSync(profDir)
  .filter((name) => name.endsWith(".cpuprofile") && name.includes(`.${pid}.`))
  .map((name) => path.join(profDir, name))
  .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0]
removeDir(dir)
if (!file) {
  console.error(`no .cpuprofile for pid ${pid} in ${profDir} (did the daemon exit cleanly?)`)
  process.exit(1)
}
const label = target === "reference" ? `${scenario}-reference` : scenario
console.log(`profile (${label}): ${note}`)
const summary = summariseProfile(file, top, window)
printSummary(summary)
console.log(`wrote ${writeResult(`profile-${label}`, { benchmark: `profile-${label}`, note, ...summary, measuredAt: new Date().toISOString() })}`)
