// Ingest throughput: single-conversation POSTs over keep-alive connections, inbound limit off,
// against insightd and against bench/reference-server.mjs (bare node:http + better-sqlite3 doing
// the same durable group-commit work), alternating ref, insightd, ref, insightd… in one run;
// medians of the rounds and the ratio insightd/reference (goal ≥ 0.5).
//
//   node bench/ingest.mjs [--rounds=3] [--seconds=5] [--warmup=1] [--connections=64]
//                         [--threads=1] [--loadgen=wrk|node] [--targets=reference,insightd,insightd-full]
//
// Targets: `reference`; `insightd` = the daemon with the ingest-only pipeline (HTTP → validate →
// persist: the same work as the reference); `insightd-full` = the default pipeline, so the local
// analyzer competes for the CPU while ingesting (what a deployment sees).
// After every run the server is stopped and its database checked: every id acknowledged with a
// 202 must be in it (lost = 0); rows beyond the 202s are requests the generator cut off at the
// end of the run (≤ connections; always 0 with the Node generator, which lets them finish).
import Database from "better-sqlite3"
import fs from "node:fs"
import path from "node:path"
import { BENCH_DIR, chooseGenerator, fmt, freshDir, median, parseArgs, removeDir, rssSampler, runLoad, sleep, startServer, writeResult } from "./lib.mjs"

const args = parseArgs()
const rounds = Number(args.rounds ?? 3)
const seconds = Number(args.seconds ?? 5)
const warmup = Number(args.warmup ?? 1)
const connections = Number(args.connections ?? 64)
const threads = Number(args.threads ?? 1)
const targets = String(args.targets ?? "reference,insightd,insightd-full").split(",")
const generator = chooseGenerator(args)
const INGEST_ONLY = path.join(BENCH_DIR, "pipelines", "ingest-only.json")

const serverOptions = (target, db) =>
  target === "reference"
    ? { kind: "reference", db }
    : { kind: "insightd", db, pipeline: target === "insightd" ? INGEST_ONLY : undefined }

/** Rows in the database, and how many acknowledged ids are missing from it. */
const verify = (db, ackedIds) => {
  const conn = new Database(db, { readonly: true, fileMustExist: true })
  try {
    const rows = conn.prepare("SELECT COUNT(*) AS n FROM conversations").get().n
    const stored = new Set(conn.prepare("SELECT id FROM conversations").pluck().all())
    let lost = 0
    for (const id of ackedIds) if (!stored.has(id)) lost++
    return { rows, acked: ackedIds.length, lost, unacknowledgedRows: rows - (ackedIds.length - lost), distinctAcked: new Set(ackedIds).size }
  } finally {
    conn.close()
  }
}

const runOnce = async (target, round) => {
  const dir = freshDir(`ingest-${target}`)
  const db = path.join(dir, "bench.db")
  const server = await startServer(serverOptions(target, db))
  const rss = rssSampler(server.pid, 100)
  let warm, load, exit
  try {
    rss.mark("warmup")
    warm = warmup > 0 ? await runLoad({ generator, url: server.base, connections, seconds: warmup, threads, scratch: dir }) : { ids: [], accepted: 0, requests: 0 }
    rss.mark("load")
    load = await runLoad({ generator, url: server.base, connections, seconds, threads, scratch: dir })
    rss.mark("after")
    await sleep(300)
  } finally {
    exit = await server.stop()
  }
  const phases = rss.stop()
  const check = verify(db, [...warm.ids, ...load.ids])
  removeDir(dir)
  const perSecond = load.accepted / (load.durationUs / 1e6)
  const result = {
    target,
    round,
    acceptedPerSecond: Math.round(perSecond),
    requests: load.requests,
    accepted: load.accepted,
    nonAccepted: load.other,
    otherStatuses: load.otherStatuses,
    errors: load.errors,
    durationS: load.durationUs / 1e6,
    latencyMs: { p50: load.latencyUs.p50 / 1000, p90: load.latencyUs.p90 / 1000, p99: load.latencyUs.p99 / 1000, max: load.latencyUs.max / 1000 },
    warmupAccepted: warm.accepted,
    verification: check,
    peakRssMb: phases.find((p) => p.label === "load")?.peakMb,
    exit
  }
  const problems = []
  if (check.lost > 0) problems.push(`${check.lost} acknowledged conversations missing from the database`)
  if (check.distinctAcked !== check.acked) problems.push(`${check.acked - check.distinctAcked} duplicate ids acknowledged`)
  if (load.other > 0) problems.push(`${load.other} non-202 responses ${JSON.stringify(load.otherStatuses)}`)
  if (exit.code !== 0) problems.push(`exit ${JSON.stringify(exit)}: ${server.output().slice(-2000)}`)
  result.problems = problems
  console.log(
    `  round ${round} ${target.padEnd(13)} ${fmt(perSecond).padStart(7)} req/s  p50 ${fmt(result.latencyMs.p50, 2)} ms  p99 ${fmt(result.latencyMs.p99, 2)} ms  ` +
      `rows ${check.rows} = 202s ${check.acked} + cut-off ${check.unacknowledgedRows}, lost ${check.lost}  peak RSS ${result.peakRssMb} MB` +
      (problems.length ? `  PROBLEMS: ${problems.join("; ")}` : "")
  )
  return result
}

console.log(`ingest: ${targets.join(" / ")}, ${rounds} alternating rounds, ${connections} keep-alive connections, ${warmup} s warm-up + ${seconds} s, generator ${generator}`)
const runs = []
for (let round = 1; round <= rounds; round++) {
  for (const target of targets) runs.push(await runOnce(target, round))
}

const summarise = (target) => {
  const mine = runs.filter((r) => r.target === target)
  return {
    target,
    rounds: mine.length,
    medianAcceptedPerSecond: Math.round(median(mine.map((r) => r.acceptedPerSecond))),
    perRound: mine.map((r) => r.acceptedPerSecond),
    medianLatencyMs: { p50: median(mine.map((r) => r.latencyMs.p50)), p99: median(mine.map((r) => r.latencyMs.p99)) },
    medianPeakRssMb: median(mine.map((r) => r.peakRssMb)),
    lost: mine.reduce((a, r) => a + r.verification.lost, 0),
    problems: mine.flatMap((r) => r.problems)
  }
}
const summary = Object.fromEntries(targets.map((t) => [t, summarise(t)]))
const ref = summary.reference?.medianAcceptedPerSecond
// Per-round ratios against the reference run just before it: less sensitive to drifting noise.
const roundRatios = (target) =>
  runs
    .filter((r) => r.target === target)
    .map((r) => {
      const refRun = runs.find((x) => x.target === "reference" && x.round === r.round)
      return refRun ? r.acceptedPerSecond / refRun.acceptedPerSecond : NaN
    })
const ratios = {}
for (const t of targets) {
  if (t === "reference" || ref === undefined) continue
  ratios[t] = {
    ratioOfMedians: Number((summary[t].medianAcceptedPerSecond / ref).toFixed(3)),
    medianOfRoundRatios: Number(median(roundRatios(t)).toFixed(3)),
    roundRatios: roundRatios(t).map((x) => Number(x.toFixed(3)))
  }
}

console.log("\ningest summary (medians):")
for (const t of targets) {
  const s = summary[t]
  const ratio = ratios[t] ? `  ratio ${ratios[t].ratioOfMedians.toFixed(2)} (rounds ${ratios[t].roundRatios.map((x) => x.toFixed(2)).join(", ")})` : ""
  console.log(
    `  ${t.padEnd(13)} ${fmt(s.medianAcceptedPerSecond).padStart(7)} req/s  p50 ${fmt(s.medianLatencyMs.p50, 2)} ms  p99 ${fmt(s.medianLatencyMs.p99, 2)} ms  ` +
      `peak RSS ${s.medianPeakRssMb} MB  lost ${s.lost}${ratio}`
  )
}
const allProblems = runs.flatMap((r) => r.problems.map((p) => `${r.target} round ${r.round}: ${p}`))
if (ratios.insightd) console.log(`  goal: insightd/reference ≥ 0.5 → ${ratios.insightd.ratioOfMedians >= 0.5 ? "met" : "NOT met"}`)
if (allProblems.length) console.log(`  PROBLEMS:\n    ${allProblems.join("\n    ")}`)

const file = writeResult("ingest", {
  benchmark: "ingest",
  settings: { rounds, seconds, warmup, connections, threads, generator, targets },
  summary,
  ratios,
  runs,
  problems: allProblems,
  node: process.version,
  measuredAt: new Date().toISOString()
})
console.log(`wrote ${file}`)
try {
  fs.rmdirSync(path.join(BENCH_DIR, ".tmp"))
} catch {}
if (allProblems.some((p) => /missing|duplicate/.test(p))) process.exitCode = 1
