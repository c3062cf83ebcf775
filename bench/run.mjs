// `npm run bench`: runs each benchmark in turn (each a child process, one at a time, so they do
// not compete for the 2 cores), then prints a summary from bench/results/*.json.
//
//   node bench/run.mjs [--quick] [--only=ingest,memory,local-analyzer,profile] [--profile]
//                      [--loadgen=wrk|node]
//
// --quick    short settings (1 round of 2 s, a 10,000 backlog) to check that everything works
// --profile  always profile ingest (otherwise only when insightd/reference < 0.5)
// Needs a build (`npm run build`): the benchmarks run dist/main.js.
import { spawnSync } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import { BENCH_DIR, REPO, RESULTS_DIR, fmt, parseArgs } from "./lib.mjs"

const args = parseArgs()
const only = args.only ? new Set(String(args.only).split(",")) : null
const wanted = (name) => only === null || only.has(name)
const passLoadgen = args.loadgen ? [`--loadgen=${args.loadgen}`] : []
const quick = args.quick === true

if (!fs.existsSync(path.join(REPO, "dist", "main.js"))) {
  console.error("bench: dist/main.js is missing; run `npm run build` first")
  process.exit(1)
}

const ran = []
const run = (name, script, scriptArgs = []) => {
  console.log(`\n=== ${name}: node ${path.relative(REPO, script)} ${scriptArgs.join(" ")}`.trimEnd())
  const started = Date.now()
  const result = spawnSync(process.execPath, [script, ...scriptArgs], { cwd: REPO, stdio: "inherit" })
  const seconds = (Date.now() - started) / 1000
  ran.push({ name, status: result.status, seconds })
  if (result.status !== 0) console.log(`=== ${name} exited with ${result.status ?? result.signal}`)
  return result.status === 0
}
const readResult = (name) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, `${name}.json`), "utf8"))
  } catch {
    return null
  }
}
const fresh = (name, since) => {
  const r = readResult(name)
  return r && Date.parse(r.measuredAt) >= since ? r : null
}

const startedAt = Date.now()
if (wanted("ingest")) run("ingest", path.join(BENCH_DIR, "ingest.mjs"), [...(quick ? ["--rounds=1", "--seconds=2"] : []), ...passLoadgen])
if (wanted("memory")) run("memory", path.join(BENCH_DIR, "memory.mjs"), [...(quick ? ["--seconds=2", "--backlog=10000"] : []), ...passLoadgen])
const localAnalyzer = path.join(BENCH_DIR, "local-analyzer.mjs")
if (wanted("local-analyzer") && fs.existsSync(localAnalyzer)) run("local-analyzer", localAnalyzer)

const ingest = fresh("ingest", startedAt)
const ratio = ingest?.ratios?.insightd?.ratioOfMedians
if (wanted("profile") && (args.profile === true || (ratio !== undefined && ratio < 0.5))) {
  if (!args.profile) console.log(`\ninsightd/reference = ${ratio} < 0.5: profiling ingest`)
  run("profile ingest (insightd)", path.join(BENCH_DIR, "profile.mjs"), ["--scenario=ingest", ...passLoadgen])
  run("profile ingest (reference)", path.join(BENCH_DIR, "profile.mjs"), ["--scenario=ingest", "--target=reference", ...passLoadgen])
}

// ---------------------------------------------------------------------------------------------
console.log("\n================ summary ================")
if (ingest) {
  const s = ingest.summary
  console.log(`ingest (${ingest.settings.generator}, ${ingest.settings.connections} connections, ${ingest.settings.rounds} rounds × ${ingest.settings.seconds} s, medians):`)
  for (const [target, t] of Object.entries(s)) {
    const r = ingest.ratios[target]
    console.log(
      `  ${target.padEnd(13)} ${fmt(t.medianAcceptedPerSecond).padStart(7)} req/s  p50 ${fmt(t.medianLatencyMs.p50, 2)} ms  p99 ${fmt(t.medianLatencyMs.p99, 2)} ms  lost ${t.lost}` +
        (r ? `  ratio ${r.ratioOfMedians.toFixed(2)}${target === "insightd" ? ` (goal ≥ 0.5: ${r.ratioOfMedians >= 0.5 ? "met" : "NOT met"})` : ""}` : "")
    )
  }
  if (ingest.problems.length) console.log(`  problems: ${ingest.problems.length} (see bench/results/ingest.json)`)
}
const memory = fresh("memory", startedAt)
if (memory) {
  console.log(`memory (target peak RSS ≤ ${memory.targetMb} MB):`)
  for (const v of memory.verdicts) console.log(`  ${v.what.padEnd(40)} peak ${String(v.peakMb).padStart(6)} MB  ${v.withinTarget ? "ok" : "OVER"}`)
  if (memory.backlog) {
    const a = memory.backlog.analysis
    console.log(
      `  backlog analysis: ${fmt(memory.backlog.backlog)} in ${fmt(a.totalMs / 1000, 1)} s → ${fmt(a.conversationsPerSecond)} conversations/s end to end; ` +
        `/health first answered after ${fmt(a.healthyAfterMs / 1000, 1)} s`
    )
  }
}
const local = fresh("local-analyzer", startedAt)
if (local?.throughput) console.log(`local analyzer: ${fmt(local.throughput.conversationsPerSecond)} analyses/s on one core (bench/results/local-analyzer.json)`)
for (const name of ["profile-ingest", "profile-ingest-reference"]) {
  const p = fresh(name, startedAt)
  if (!p) continue
  console.log(`${name}: top self time (% of busy): ${p.topFunctions.slice(0, 6).map((f) => `${f.function} ${f.pctOfBusy ?? "-"}%`).join(", ")}`)
}
console.log(`runs: ${ran.map((r) => `${r.name} ${r.status === 0 ? "ok" : `FAILED (${r.status})`} ${r.seconds.toFixed(0)} s`).join("; ")}`)
if (ran.some((r) => r.status !== 0)) process.exitCode = 1
try {
  fs.rmdirSync(path.join(BENCH_DIR, ".tmp")) // scratch space, empty when every run cleaned up after itself
} catch {}
