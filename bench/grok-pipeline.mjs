// Grok pipeline throughput: a backlog of N pending conversations (default 1,000, built through
// the daemon's bulk path with the ingest-only pipeline), then the normal daemon with the Grok
// analyzer pointed at the fake Grok of the tests (test/support/fake-grok.mjs), answering after 300 ms.
// Reported: conversations/s to drain the backlog (from the first call the fake sees until nothing
// is pending/processing), and the largest number of calls in any sliding 1 s window, from the
// fake's recorded arrival times. Reference: the limit itself, 10 calls/s (× batch size).
// Targets: ≥ 90 conversations/s, ≤ 10 calls in any 1 s.
//
//   node bench/grok-pipeline.mjs [--backlog=1000] [--latency=300] [--rounds=1]
import fs from "node:fs"
import path from "node:path"
import { BENCH_DIR, buildBacklog, countRows, fmt, freshDir, median, parseArgs, removeDir, round, sleep, startServer, writeResult } from "./lib.mjs"
import { maxInAnyWindow, startFakeGrok } from "../test/support/fake-grok.mjs"

const args = parseArgs()
const backlog = Number(args.backlog ?? 1000)
const latencyMs = Number(args.latency ?? 300)
const rounds = Number(args.rounds ?? 1)
const CALLS_PER_SECOND = 10
const TARGET_PER_SECOND = 90

const runOnce = async (roundNo) => {
  const dir = freshDir("grok-pipeline")
  const db = path.join(dir, "bench.db")
  await buildBacklog({ db, count: backlog, seed: 7 + roundNo })
  const fake = await startFakeGrok({ latencyMs })
  const spawnedAt = performance.now()
  let server = null
  let doneAt = null
  let timedOut = false
  try {
    server = await startServer({
      kind: "insightd",
      db,
      env: { INSIGHTD_ANALYZER: "grok", XAI_API_KEY: "bench-key", XAI_BASE_URL: fake.baseUrl, INSIGHTD_GROK_CALLS_PER_SECOND: String(CALLS_PER_SECOND) }
    })
    const deadline = Date.now() + Math.max(60_000, (backlog / 20) * 1000)
    for (;;) {
      if (countRows(db, "conversations", "WHERE status IN ('pending', 'processing')") === 0) {
        doneAt = performance.now()
        break
      }
      if (Date.now() > deadline) {
        timedOut = true
        break
      }
      await sleep(20)
    }
  } finally {
    await server?.stop()
    await fake.close()
  }
  const completed = countRows(db, "conversations", "WHERE status = 'completed'")
  const failed = countRows(db, "conversations", "WHERE status = 'failed'")
  removeDir(dir)
  const arrivals = fake.calls.map((c) => c.at)
  const firstCall = Math.min(...arrivals)
  const end = doneAt ?? performance.now()
  const batchSizes = fake.calls.map((c) => c.ids.length).filter((n) => n > 0)
  const result = {
    round: roundNo,
    completed,
    failed,
    timedOut,
    calls: fake.calls.length,
    maxCallsInAnySecond: maxInAnyWindow(arrivals, 1000),
    medianBatchSize: median(batchSizes),
    maxBatchSize: Math.max(0, ...batchSizes),
    drainMs: Math.round(end - firstCall),
    fromSpawnMs: Math.round(end - spawnedAt),
    perSecond: Math.round(completed / ((end - firstCall) / 1000)),
    perSecondFromSpawn: Math.round(completed / ((end - spawnedAt) / 1000))
  }
  console.log(
    `  round ${roundNo}: ${fmt(completed)} completed (${failed} failed) in ${fmt(result.drainMs)} ms from the first call → ${fmt(result.perSecond)} conversations/s ` +
      `(${fmt(result.perSecondFromSpawn)}/s from spawn); ${result.calls} calls, batch median ${result.medianBatchSize} / max ${result.maxBatchSize}; ` +
      `max calls in any 1 s: ${result.maxCallsInAnySecond}${timedOut ? "  TIMED OUT" : ""}`
  )
  return result
}

console.log(`grok pipeline: backlog ${fmt(backlog)}, fake Grok latency ${latencyMs} ms, limit ${CALLS_PER_SECOND} calls/s, ${rounds} round(s)`)
const runs = []
for (let r = 1; r <= rounds; r++) runs.push(await runOnce(r))
const perSecond = median(runs.map((r) => r.perSecond))
const maxCalls = Math.max(...runs.map((r) => r.maxCallsInAnySecond))
const batch = median(runs.map((r) => r.medianBatchSize))
// The reference: what the limit allows with the batches the daemon sent (10 calls/s × batch size).
const reference = CALLS_PER_SECOND * batch
const problems = runs.flatMap((r) => [...(r.timedOut ? [`round ${r.round}: timed out`] : []), ...(r.failed > 0 ? [`round ${r.round}: ${r.failed} failed`] : []), ...(r.completed !== backlog ? [`round ${r.round}: ${r.completed} of ${backlog} completed`] : [])])
const table = [
  { measure: `Grok pipeline, fake Grok ${latencyMs} ms, ${fmt(backlog)} backlog: conversations/s to drain`, insightd: perSecond, reference, referenceNote: `limit ${CALLS_PER_SECOND} calls/s × batch ${batch}`, ratio: round(perSecond / reference, 3), target: `≥ ${TARGET_PER_SECOND}/s`, met: perSecond >= TARGET_PER_SECOND && problems.length === 0 },
  { measure: "Grok pipeline: max calls in any sliding 1 s window", insightd: maxCalls, reference: CALLS_PER_SECOND, ratio: round(maxCalls / CALLS_PER_SECOND, 3), target: `≤ ${CALLS_PER_SECOND}`, met: maxCalls <= CALLS_PER_SECOND }
]
console.log(`\ngrok pipeline summary: ${fmt(perSecond)} conversations/s (target ≥ ${TARGET_PER_SECOND}: ${perSecond >= TARGET_PER_SECOND ? "met" : "NOT met"}), max ${maxCalls} calls in any 1 s (≤ ${CALLS_PER_SECOND}: ${maxCalls <= CALLS_PER_SECOND ? "met" : "NOT met"})`)
if (problems.length) console.log(`  PROBLEMS: ${problems.join("; ")}`)
console.log(`wrote ${writeResult("grok-pipeline", { benchmark: "grok-pipeline", settings: { backlog, latencyMs, rounds, callsPerSecond: CALLS_PER_SECOND }, table, runs, problems, node: process.version, measuredAt: new Date().toISOString() })}`)
try {
  fs.rmdirSync(path.join(BENCH_DIR, ".tmp"))
} catch {}
if (problems.length) process.exitCode = 1
