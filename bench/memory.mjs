// Daemon memory (VmRSS from /proc/<pid>/status, sampled every 100 ms). Target: peak ≤ 200 MB.
//
//  (a) under ingest load: the ingest benchmark's load (keep-alive single POSTs, limit off) against
//      the normal daemon (default pipeline, local analyzer) and against the ingest-only pipeline;
//      peak during the load, then peak while the daemon analyses what it took in.
//  (b) with a backlog: the ingest-only pipeline (no analysis half) takes N conversations
//      (default 100,000) as bulk POSTs of 1,000; it is stopped; the normal daemon starts on
//      that database and works through the backlog: peak RSS, and how long it took (analysis
//      throughput end to end, conversations/s, start-up included).
//
//   node bench/memory.mjs [--backlog=100000] [--bulk=1000] [--seconds=5] [--connections=64]
//                         [--loadgen=wrk|node] [--skip-load] [--skip-backlog]
//                         [--daemon-node-options="--max-old-space-size=128"]  (NODE_OPTIONS for the daemon)
//                         [--analyse-seconds=N]  (stop the backlog analysis after N s: a 1 M backlog takes
//                                                 ~30 min to work off; memory is what is measured)
//                         [--result=memory-1m]   (result file name, default memory)
import Database from "better-sqlite3"
import fs from "node:fs"
import path from "node:path"
import { BENCH_DIR, chooseGenerator, fmt, freshDir, makeConversation, parseArgs, prng, removeDir, rssSampler, runLoad, sleep, startServer, writeResult } from "./lib.mjs"

const args = parseArgs()
const seconds = Number(args.seconds ?? 5)
const connections = Number(args.connections ?? 64)
const backlog = Number(args.backlog ?? 100_000)
const bulkSize = Number(args.bulk ?? 1000)
const generator = chooseGenerator(args)
const INGEST_ONLY = path.join(BENCH_DIR, "pipelines", "ingest-only.json")
const TARGET_MB = 200
const analyseSeconds = args["analyse-seconds"] === undefined ? null : Number(args["analyse-seconds"])
const daemonEnv = args["daemon-node-options"] ? { NODE_OPTIONS: String(args["daemon-node-options"]) } : {}

/** Conversations not yet completed/failed, read from the database file (WAL: readers do not block). */
const progressReader = (db) => {
  const conn = new Database(db, { readonly: true, fileMustExist: true })
  const remaining = conn.prepare("SELECT COUNT(*) FROM conversations WHERE status IN ('pending', 'processing')").pluck()
  const counts = conn.prepare("SELECT status, COUNT(*) AS n FROM conversations GROUP BY status")
  return {
    remaining: () => remaining.get(),
    counts: () => Object.fromEntries(counts.all().map((r) => [r.status, r.n])),
    close: () => conn.close()
  }
}

const waitUntilDone = async (db, timeoutMs, onTick) => {
  const reader = progressReader(db)
  const started = Date.now()
  try {
    for (;;) {
      const left = reader.remaining()
      onTick?.(left)
      if (left === 0) return { done: true, ms: Date.now() - started, counts: reader.counts() }
      if (Date.now() - started > timeoutMs) return { done: false, ms: Date.now() - started, remaining: left, counts: reader.counts() }
      await sleep(200)
    }
  } finally {
    reader.close()
  }
}

// ---------------------------------------------------------------------------------------------
// (a) RSS under ingest load

const underLoad = async (pipelineName) => {
  const dir = freshDir(`memory-load-${pipelineName}`)
  const db = path.join(dir, "bench.db")
  const server = await startServer({ kind: "insightd", db, pipeline: pipelineName === "ingest-only" ? INGEST_ONLY : undefined, env: daemonEnv })
  const rss = rssSampler(server.pid, 100)
  let load, drain
  try {
    rss.mark("idle")
    await sleep(500)
    rss.mark("load")
    await runLoad({ generator, url: server.base, connections, seconds: 1, scratch: dir })
    load = await runLoad({ generator, url: server.base, connections, seconds, scratch: dir })
    rss.mark("after load")
    drain = pipelineName === "default" ? await waitUntilDone(db, 300_000) : (await sleep(2000), null)
  } finally {
    await server.stop()
  }
  const phases = rss.stop()
  removeDir(dir)
  const result = {
    pipeline: pipelineName,
    acceptedPerSecond: Math.round(load.accepted / (load.durationUs / 1e6)),
    idleRssMb: phases.find((p) => p.label === "idle").peakMb,
    peakRssUnderLoadMb: phases.find((p) => p.label === "load").peakMb,
    peakRssAfterLoadMb: phases.find((p) => p.label === "after load").peakMb,
    analysisAfterLoad: drain,
    phases
  }
  console.log(
    `  (a) ${pipelineName.padEnd(11)} idle ${result.idleRssMb} MB, peak under load ${result.peakRssUnderLoadMb} MB ` +
      `(${fmt(result.acceptedPerSecond)} req/s), peak after load ${result.peakRssAfterLoadMb} MB` +
      (drain ? ` (analysed the ${fmt(Object.values(drain.counts).reduce((a, b) => a + b, 0))} ingested in ${fmt(drain.ms / 1000, 1)} s)` : "")
  )
  return result
}

// ---------------------------------------------------------------------------------------------
// (b) RSS with a backlog

const postBulk = async (base, items) => {
  const res = await fetch(`${base}/api/v1/conversations/bulk`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(items) })
  const body = await res.json()
  if (res.status !== 202 || body.accepted !== items.length) throw new Error(`bulk POST → ${res.status} ${JSON.stringify(body).slice(0, 300)}`)
}

const withBacklog = async () => {
  const dir = freshDir("memory-backlog")
  const db = path.join(dir, "bench.db")
  // 1. Build the backlog with the ingest-only pipeline.
  const ingestServer = await startServer({ kind: "insightd", db, pipeline: INGEST_ONLY, env: daemonEnv })
  const ingestRss = rssSampler(ingestServer.pid, 100)
  const rand = prng(42)
  let next = 0
  const t0 = Date.now()
  try {
    const worker = async () => {
      while (next < backlog) {
        const start = next
        next = Math.min(backlog, next + bulkSize)
        const items = []
        for (let i = start; i < next; i++) items.push(makeConversation(rand, i))
        await postBulk(ingestServer.base, items)
      }
    }
    await Promise.all([worker(), worker()])
  } finally {
    await ingestServer.stop()
  }
  const ingestMs = Date.now() - t0
  const ingestPeak = ingestRss.peakMb()
  ingestRss.stop()
  const before = progressReader(db)
  const pendingBefore = before.counts()
  before.close()
  console.log(`  (b) backlog: ${fmt(backlog)} conversations in bulk POSTs of ${fmt(bulkSize)} took ${fmt(ingestMs / 1000, 1)} s (${fmt(backlog / (ingestMs / 1000))}/s), ingest-only peak RSS ${ingestPeak} MB; statuses ${JSON.stringify(pendingBefore)}`)

  // 2. The normal daemon works through it. Progress is read from the database from the moment
  // of spawn (analysis may start before /health answers); /health is probed every 250 ms to see
  // how responsive the HTTP side stays while the analyzer works.
  const spawnedAt = Date.now()
  let rss = null
  let daemonPid = 0
  const timeline = []
  const reader = progressReader(db)
  let remaining = reader.remaining()
  let firstProgressAt = null
  let doneAt = null
  // Counting the unfinished rows of a 1 M backlog takes ~35-50 ms here: polled every 100 ms, this
  // process took a third of a core from the daemon it measures. The pause after each count is
  // 20 × its duration (at least 100 ms), so polling costs ≤ 5 % of a core, and the end (a small
  // count) is still seen within ~100 ms.
  let polling = true
  let pollTimer
  const poll = () => {
    const started = performance.now()
    remaining = reader.remaining()
    if (firstProgressAt === null && remaining < backlog) firstProgressAt = Date.now()
    if (remaining === 0 && doneAt === null) doneAt = Date.now()
    if (polling) pollTimer = setTimeout(poll, Math.max(100, 20 * (performance.now() - started)))
  }
  poll()
  const poller = { stop: () => ((polling = false), clearTimeout(pollTimer)) }
  const ticker = setInterval(() => {
    const kb = rss ? Number(/VmRSS:\s+(\d+)/.exec(safeStatus(daemonPid))?.[1] ?? NaN) : NaN
    timeline.push({ s: Number(((Date.now() - spawnedAt) / 1000).toFixed(1)), remaining, rssMb: Number((kb / 1024).toFixed(1)) })
  }, 1000)
  let server = null
  const healthLatencies = []
  let readyMs
  try {
    server = await startServer({ kind: "insightd", db, env: daemonEnv, onSpawn: (pid) => ((daemonPid = pid), (rss = rssSampler(pid, 100))), healthTimeoutMs: 900_000 })
    readyMs = Date.now() - spawnedAt
    const deadline = Date.now() + (analyseSeconds === null ? 900_000 : analyseSeconds * 1000)
    while (doneAt === null && Date.now() < deadline) {
      const t = performance.now()
      try {
        const res = await fetch(`${server.base}/health`)
        await res.arrayBuffer()
        healthLatencies.push(performance.now() - t)
      } catch {}
      await sleep(250)
    }
  } finally {
    poller.stop()
    clearInterval(ticker)
    if (doneAt === null && reader.remaining() === 0) doneAt = Date.now()
    await server?.stop()
  }
  const counts = reader.counts()
  reader.close()
  const done = doneAt !== null
  const totalMs = (doneAt ?? Date.now()) - spawnedAt
  const peak = rss.peakMb()
  rss.stop()
  removeDir(dir)
  healthLatencies.sort((a, b) => a - b)
  const health = {
    probes: healthLatencies.length,
    p50Ms: Number((healthLatencies[Math.floor(healthLatencies.length * 0.5)] ?? NaN).toFixed(1)),
    maxMs: Number((healthLatencies[healthLatencies.length - 1] ?? NaN).toFixed(1))
  }
  const result = {
    backlog,
    bulkSize,
    ingest: { ms: ingestMs, perSecond: Math.round(backlog / (ingestMs / 1000)), peakRssMb: ingestPeak },
    analysis: {
      done,
      counts,
      healthyAfterMs: readyMs,
      firstCompletionAfterMs: firstProgressAt === null ? null : firstProgressAt - spawnedAt,
      totalMs,
      analysed: backlog - (counts.pending ?? 0) - (counts.processing ?? 0),
      conversationsPerSecond: Math.round((backlog - (counts.pending ?? 0) - (counts.processing ?? 0)) / (totalMs / 1000)),
      steadyConversationsPerSecond: firstProgressAt === null || !done ? null : Math.round(backlog / ((doneAt - firstProgressAt) / 1000)),
      healthWhileAnalysing: health,
      peakRssMb: peak
    },
    timeline
  }
  console.log(
    `  (b) backlog worked off by the normal daemon in ${fmt(totalMs / 1000, 1)} s from spawn → ${fmt(result.analysis.conversationsPerSecond)} conversations/s end to end ` +
      `(${fmt(result.analysis.steadyConversationsPerSecond)}/s from first completion); /health first answered after ${fmt(readyMs)} ms, ` +
      `then p50 ${health.p50Ms} ms / max ${health.maxMs} ms over ${health.probes} probes; peak RSS ${peak} MB; final ${JSON.stringify(counts)}` +
      (done ? "" : analyseSeconds === null ? "  NOT DONE (timeout)" : `  (stopped after ${analyseSeconds} s of analysis, as asked: ${fmt(backlog - (counts.pending ?? 0) - (counts.processing ?? 0))} analysed)`)
  )
  return result
}

const safeStatus = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/status`, "utf8")
  } catch {
    return ""
  }
}

console.log(`memory: target peak RSS ≤ ${TARGET_MB} MB; generator ${generator}${daemonEnv.NODE_OPTIONS ? `; daemon NODE_OPTIONS=${daemonEnv.NODE_OPTIONS}` : ""}`)
const out = { benchmark: "memory", targetMb: TARGET_MB, settings: { seconds, connections, backlog, bulkSize, generator, daemonNodeOptions: daemonEnv.NODE_OPTIONS ?? null } }
if (!args["skip-load"]) out.underLoad = [await underLoad("default"), await underLoad("ingest-only")]
if (!args["skip-backlog"]) out.backlog = await withBacklog()

const verdicts = []
for (const r of out.underLoad ?? []) verdicts.push([`under load (${r.pipeline})`, Math.max(r.peakRssUnderLoadMb, r.peakRssAfterLoadMb)])
if (out.backlog) {
  verdicts.push(["backlog build (ingest-only, bulk)", out.backlog.ingest.peakRssMb])
  const partly = analyseSeconds !== null && !out.backlog.analysis.done ? `, first ${analyseSeconds} s of its analysis` : ""
  verdicts.push([`backlog of ${fmt(backlog)} (normal daemon${partly})`, out.backlog.analysis.peakRssMb])
}
console.log("\nmemory summary:")
for (const [what, peak] of verdicts) console.log(`  ${what.padEnd(40)} peak ${String(peak).padStart(6)} MB  ${peak <= TARGET_MB ? "ok" : `OVER ${TARGET_MB} MB`}`)
if (out.backlog) console.log(`  backlog analysis throughput: ${fmt(out.backlog.analysis.conversationsPerSecond)} conversations/s end to end`)
out.verdicts = verdicts.map(([what, peakMb]) => ({ what, peakMb, withinTarget: peakMb <= TARGET_MB }))
out.node = process.version
out.measuredAt = new Date().toISOString()
console.log(`wrote ${writeResult(args.result ? String(args.result) : daemonEnv.NODE_OPTIONS ? "memory-node-options" : "memory", out)}`)
