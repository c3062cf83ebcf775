// `npm run bench`: runs each benchmark in turn (each a child process, one at a time, so they do
// not compete for the 2 cores), then prints one table (measure | insightd | reference | ratio |
// target | met?) from bench/results/*.json and writes it, with the machine and the per-round
// figures, to docs/BENCHMARKS.md.
//
//   node bench/run.mjs [--quick] [--only=ingest,bulk,import-csv,sqlite-ceiling,local-analyzer,grok-pipeline,latency,query,summary,memory,profile]
//                      [--profile] [--loadgen=wrk|node] [--docs=path] [--no-docs]
//
// --quick    ≈ 1-minute smoke run (1 short round each, 50 k insights, small backlogs); its table
//            goes to bench/results/BENCHMARKS-quick.md unless --docs is given
// --profile  always profile ingest (otherwise only when insightd/reference < 0.5, and not in --quick)
// Benchmarks written by others (import-csv.mjs, summary.mjs) run when present; their results are
// read from a `table` array if they write one (rows like ours), else from known fields.
// Needs a build (`npm run build`): the benchmarks run dist/main.js.
import { spawnSync } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import { BENCH_DIR, REPO, RESULTS_DIR, fmt, machineInfo, parseArgs, round } from "./lib.mjs"

const args = parseArgs()
const only = args.only ? new Set(String(args.only).split(",")) : null
const wanted = (name) => only === null || only.has(name)
const passLoadgen = args.loadgen ? [`--loadgen=${args.loadgen}`] : []
const quick = args.quick === true

if (!fs.existsSync(path.join(REPO, "dist", "main.js"))) {
  console.error("bench: dist/main.js is missing; run `npm run build` first")
  process.exit(1)
}

const machineBefore = machineInfo()
const startedAt = Date.now()
const ran = []
const run = (name, script, scriptArgs = []) => {
  console.log(`\n=== ${name}: node ${path.relative(REPO, script)} ${scriptArgs.join(" ")}`.trimEnd())
  const started = Date.now()
  const result = spawnSync(process.execPath, [script, ...scriptArgs], { cwd: REPO, stdio: "inherit" })
  const seconds = (Date.now() - started) / 1000
  ran.push({ name, status: result.status ?? result.signal, seconds: Math.round(seconds) })
  if (result.status !== 0) console.log(`=== ${name} exited with ${result.status ?? result.signal}`)
  return result.status === 0
}
const script = (name) => path.join(BENCH_DIR, `${name}.mjs`)
/** A benchmark's result file, if it was written by this run. */
const fresh = (name) => {
  const file = path.join(RESULTS_DIR, `${name}.json`)
  try {
    if (fs.statSync(file).mtimeMs < startedAt) return null
    return JSON.parse(fs.readFileSync(file, "utf8"))
  } catch {
    return null
  }
}
const optional = (name, scriptArgs) => {
  if (!wanted(name)) return
  if (fs.existsSync(script(name))) run(name, script(name), scriptArgs)
  else {
    console.log(`\n=== ${name}: not available (bench/${name}.mjs does not exist yet)`)
    ran.push({ name, status: "not available", seconds: 0 })
  }
}

// 50 connections: the issue's ingest measure (the scripts' own default is 64).
if (wanted("ingest")) run("ingest", script("ingest"), ["--connections=50", ...(quick ? ["--rounds=1", "--seconds=1"] : []), ...passLoadgen])
if (wanted("bulk")) run("bulk", script("bulk"), quick ? ["--rounds=1", "--rows=20000"] : [])
optional("import-csv", quick ? ["--rounds=1", "--tweets=20000"] : [])
if (wanted("sqlite-ceiling")) run("sqlite-ceiling", script("sqlite-ceiling"), quick ? ["--rounds=1", "--rows=20000", "--tweets=20000"] : [])
optional("local-analyzer", quick ? ["--quick"] : [])
if (wanted("grok-pipeline")) run("grok-pipeline", script("grok-pipeline"), quick ? ["--backlog=300"] : [])
if (wanted("latency")) run("latency", script("latency"), quick ? ["--count=10"] : [])
if (wanted("query")) run("query", script("query"), [...(quick ? ["--rows=50000", "--rounds=1", "--seconds=0.5"] : []), ...passLoadgen])
optional("summary", quick ? ["--rows=50000", "--runs=5"] : [])
// The backlogs are analysed for a minute, not worked off (100 k takes ~3 min, 1 M ~30 min): what
// grows with a backlog shows up at start and in the first claims, and claims and buffers are
// bounded, so the peak is reached once analysis is under way (the full run stays ~10 minutes).
if (wanted("memory")) run("memory", script("memory"), ["--connections=50", ...(quick ? ["--seconds=1", "--backlog=3000"] : ["--analyse-seconds=60"]), ...passLoadgen])
// Issue 6 asks for ≤ 200 MB with a 1 M backlog: built in full, then analysed for a minute.
if (wanted("memory") && !quick) run("memory-1m", script("memory"), ["--skip-load", "--backlog=1000000", "--analyse-seconds=60", "--result=memory-1m"])

const ingest = fresh("ingest")
const ingestRatio = ingest?.ratios?.insightd?.ratioOfMedians
// Not in --quick unless asked: the smoke run stays short.
if (wanted("profile") && (args.profile === true || (!quick && ingestRatio !== undefined && ingestRatio < 0.5))) {
  if (!args.profile) console.log(`\ninsightd/reference = ${ingestRatio} < 0.5: profiling ingest`)
  run("profile ingest (insightd)", script("profile"), ["--scenario=ingest", ...passLoadgen])
  run("profile ingest (reference)", script("profile"), ["--scenario=ingest", "--target=reference", ...passLoadgen])
}
const machineAfter = machineInfo()

// ---------------------------------------------------------------------------------------------
// The table

const rows = []
const perRound = [] // [heading, lines]
const missing = []

if (ingest) {
  const s = ingest.summary
  const r = ingest.ratios.insightd
  const p99 = s.insightd?.medianLatencyMs?.p99
  if (s.insightd) {
    rows.push({ measure: `HTTP ingest, single POSTs, ${ingest.settings.connections} keep-alive connections, limit off, durable 202: accepted/s`, insightd: s.insightd.medianAcceptedPerSecond, reference: s.reference?.medianAcceptedPerSecond ?? null, ratio: r?.ratioOfMedians ?? null, target: "≥ 0.5 × reference", met: r ? r.ratioOfMedians >= 0.5 && s.insightd.lost === 0 : null })
    rows.push({ measure: "HTTP ingest, single POSTs: p99 latency ms", insightd: round(p99, 2), reference: round(s.reference?.medianLatencyMs?.p99, 2), ratio: s.reference ? round(p99 / s.reference.medianLatencyMs.p99, 2) : null, target: "≤ 20 ms", met: p99 <= 20 })
  }
  if (s["insightd-full"]) rows.push({ measure: "HTTP ingest with the local analyzer running (default pipeline): accepted/s", insightd: s["insightd-full"].medianAcceptedPerSecond, reference: s.reference?.medianAcceptedPerSecond ?? null, ratio: ingest.ratios["insightd-full"]?.ratioOfMedians ?? null, target: "—", met: null })
  perRound.push([`ingest (${ingest.settings.generator}, ${ingest.settings.rounds} × ${ingest.settings.seconds} s)`, ingest.runs.map((x) => `round ${x.round} ${x.target}: ${fmt(x.acceptedPerSecond)} req/s, p50 ${fmt(x.latencyMs.p50, 2)} ms, p99 ${fmt(x.latencyMs.p99, 2)} ms, lost ${x.verification.lost}, peak RSS ${x.peakRssMb} MB`)])
  if (r) perRound.push(["ingest per-round ratios insightd/reference", [r.roundRatios.join(", ")]])
}

const bulk = fresh("bulk")
if (bulk) {
  rows.push(...bulk.table)
  perRound.push([`bulk (${fmt(bulk.settings.rows)} rows × ${bulk.settings.clients} clients)`, bulk.runs.map((x) => `round ${x.round} ${x.format} ${x.target}: ${fmt(x.perSecond)} conversations/s (${x.ms} ms), stored ${fmt(x.stored)}, lost ${x.lost}, peak RSS ${x.peakRssMb} MB`)])
}

const importCsv = fresh("import-csv")
if (importCsv?.table) rows.push(...importCsv.table)
else if (importCsv) missing.push("import-csv: result has no `table` rows; see bench/results/import-csv.json")
if (importCsv?.runs) perRound.push(["import-csv", importCsv.runs.map((x) => JSON.stringify(x))])

const ceiling = fresh("sqlite-ceiling")
if (ceiling) {
  rows.push(...ceiling.table)
  perRound.push(["SQLite alone (the write ceiling)", ceiling.runs.map((x) => `round ${x.round} ${x.shape}: ${fmt(x.perSecond)} rows/s (${x.usPerRow} µs/row, ${fmt(x.rows)} rows, ${fmt(x.perTransaction)} per transaction)`)])
}

const local = fresh("local-analyzer")
if (local?.table) rows.push(...local.table)
else if (local?.throughput) {
  const t = local.throughput
  const ref = t.afinnConversationsPerSecond ?? local.afinnThroughput?.conversationsPerSecond ?? null
  rows.push({ measure: "local analyzer, one core: conversations/s", insightd: t.conversationsPerSecond, reference: ref, referenceNote: "bare AFINN `sentiment`", ratio: ref ? round(t.conversationsPerSecond / ref, 2) : null, target: "≥ 5,000/s", met: t.conversationsPerSecond >= 5000 })
  if (ref === null) missing.push("local analyzer: bench/local-analyzer.mjs does not time bare AFINN, so no reference figure")
  if (local.command) {
    const c = local.command
    rows.push({ measure: `\`insightd analyze\` stage command, ${fmt(c.lines)} lines, spawn to exit (start-up included): conversations/s (reference: the analyzer in-process)`, insightd: c.conversationsPerSecond, reference: t.conversationsPerSecond, referenceNote: "in-process", ratio: round(c.conversationsPerSecond / t.conversationsPerSecond, 2), target: "—", met: null })
    perRound.push(["insightd analyze (stage command)", c.rounds.map((r, i) => `round ${i + 1}: ${r.seconds} s, ${fmt(r.perSecond)} conversations/s`)])
  }
}

for (const name of ["grok-pipeline", "latency"]) {
  const r = fresh(name)
  if (!r) continue
  rows.push(...r.table)
  if (name === "grok-pipeline") perRound.push(["grok pipeline", r.runs.map((x) => `round ${x.round}: ${fmt(x.perSecond)} conversations/s from the first call (${fmt(x.perSecondFromSpawn)}/s from spawn), ${x.calls} calls, batch median ${x.medianBatchSize}, max ${x.maxCallsInAnySecond} calls in 1 s, ${x.failed} failed`)])
  else perRound.push(["latency", [`${r.samples.length} samples, POST → insight visible: p50 ${fmt(r.p50Ms, 1)} ms, p95 ${fmt(r.p95Ms, 1)} ms; 202 p50 ${fmt(r.ackP50Ms, 1)} ms`]])
}

const query = fresh("query")
if (query) {
  rows.push(...query.table)
  perRound.push([`query (${fmt(query.settings.rows)} insights, ${query.settings.generator}, 1 connection)`, [...query.runs.map((x) => `round ${x.round} ${x.query}: p50 ${fmt(x.p50Ms, 2)} ms, p95 ${fmt(x.p95Ms, 2)} ms (${fmt(x.requests)} requests)`), `deep/first p50 ratio per round: ${query.deepRoundRatios.join(", ")}`]])
}

const summary = fresh("summary")
if (summary?.table) rows.push(...summary.table)
else if (summary?.timings) {
  for (const [name, t] of Object.entries(summary.timings)) rows.push({ measure: `summary at ${fmt(summary.rows)} insights, ${name}: p95 ms`, insightd: t.p95_ms, reference: null, ratio: null, target: "≤ 100 ms", met: t.p95_ms <= 100 })
  perRound.push(["summary", Object.entries(summary.timings).map(([name, t]) => `${name}: p50 ${t.p50_ms} ms, p95 ${t.p95_ms} ms over ${t.runs} runs (${fmt(t.matched)} matched)`)])
}

for (const memory of [fresh("memory"), fresh("memory-1m")]) {
  if (!memory) continue
  for (const v of memory.verdicts) rows.push({ measure: `memory: peak RSS MB, ${v.what}`, insightd: v.peakMb, reference: null, ratio: null, target: `≤ ${memory.targetMb} MB`, met: v.withinTarget })
  if (memory.backlog) {
    const a = memory.backlog.analysis
    perRound.push(["memory", [...(memory.underLoad ?? []).map((u) => `under load (${u.pipeline}): idle ${u.idleRssMb} MB, peak ${u.peakRssUnderLoadMb} MB at ${fmt(u.acceptedPerSecond)} req/s, after ${u.peakRssAfterLoadMb} MB`), `backlog ${fmt(memory.backlog.backlog)}: ${a.done ? "" : `${fmt(a.analysed)} of it `}analysed at ${fmt(a.conversationsPerSecond)} conversations/s end to end, peak ${a.peakRssMb} MB, /health p50 ${a.healthWhileAnalysing.p50Ms} ms / max ${a.healthWhileAnalysing.maxMs} ms while analysing`]])
  }
}

// A `|` inside a cell (`import-csv FILE | store`) would split it into two columns.
const escapePipes = (text) => String(text).replaceAll("|", "\\|")
const cell = (v) => (v === null || v === undefined ? "—" : typeof v === "number" ? fmt(v, Number.isInteger(v) ? 0 : 2) : escapePipes(v))
const tableLines = [
  "| measure | insightd | reference | ratio | target | met? |",
  "| --- | ---: | ---: | ---: | --- | --- |",
  ...rows.map((r) => `| ${escapePipes(r.measure)} | ${cell(r.insightd)} | ${cell(r.reference)}${r.referenceNote && r.reference !== null ? ` (${escapePipes(r.referenceNote)})` : ""} | ${cell(r.ratio)} | ${escapePipes(r.target)} | ${r.met === null || r.met === undefined ? "—" : r.met ? "yes" : "**no**"} |`)
]
const profiles = ["profile-ingest", "profile-ingest-reference"]
  .map((name) => [name, fresh(name)])
  .filter(([, p]) => p)
  .map(([name, p]) => `${name}: top self time (% of busy): ${p.topFunctions.slice(0, 6).map((f) => `${f.function} ${f.pctOfBusy ?? "-"}%`).join(", ")}`)

console.log("\n================ summary ================")
console.log(tableLines.join("\n"))
for (const line of missing) console.log(`note: ${line}`)
for (const line of profiles) console.log(line)
console.log(`runs: ${ran.map((r) => `${r.name} ${r.status === 0 ? "ok" : r.status === "not available" ? "not available" : `FAILED (${r.status})`} ${r.seconds} s`).join("; ")}`)
console.log(`load average before ${machineBefore.loadAverage.join(" / ")}, after ${machineAfter.loadAverage.join(" / ")} (1/5/15 min; ${machineBefore.cores} cores)`)

// ---------------------------------------------------------------------------------------------
// docs/BENCHMARKS.md

const docsFile = args.docs ? path.resolve(String(args.docs)) : quick || only ? path.join(RESULTS_DIR, "BENCHMARKS-quick.md") : path.join(REPO, "docs", "BENCHMARKS.md")
if (args["no-docs"] !== true) {
  const m = machineBefore
  const doc = [
    "# Benchmarks",
    "",
    `Generated by \`npm run bench${quick ? " -- --quick" : ""}\` (bench/run.mjs) on ${new Date(startedAt).toISOString().slice(0, 16).replace("T", " ")} UTC; ${Math.round((Date.now() - startedAt) / 1000)} s in all.`,
    "How each figure is measured: [bench/README.md](../bench/README.md).",
    "",
    "## Machine",
    "",
    `- CPU: ${m.cpuModel}, ${m.cores} cores`,
    `- RAM: ${m.ramGb} GB`,
    `- Node: ${m.node}`,
    `- OS: ${m.os}`,
    `- Load average (1/5/15 min) before the run ${machineBefore.loadAverage.join(" / ")}, after ${machineAfter.loadAverage.join(" / ")}. ` +
      "The machine is shared: other processes compete for the same cores, and the load generator runs on them too. " +
      "So every figure that has a reference is read as a ratio against that reference measured in the same run, rounds alternating reference / insightd, medians of the rounds.",
    "",
    "## Results",
    "",
    "`insightd` and `reference` are medians of the rounds; `ratio` = insightd / reference (for latencies, lower is better). " +
      "Rows without a reference have an absolute target (latency or memory), which noise moves too.",
    "",
    ...tableLines,
    "",
    ...(missing.length ? ["Not measured:", "", ...missing.map((x) => `- ${x}`), ""] : []),
    ...(ran.some((r) => r.status !== 0) ? [`Runs: ${ran.map((r) => `${r.name} ${r.status === 0 ? "ok" : r.status}`).join(", ")}`, ""] : []),
    "## Per-round figures",
    "",
    ...perRound.flatMap(([heading, lines]) => [`### ${heading}`, "", ...lines.map((l) => `- ${l}`), ""]),
    ...(profiles.length ? ["## Profiles", "", ...profiles.map((l) => `- ${l}`), ""] : [])
  ].join("\n")
  fs.mkdirSync(path.dirname(docsFile), { recursive: true })
  fs.writeFileSync(docsFile, doc)
  console.log(`wrote ${path.relative(process.cwd(), docsFile)}`)
}
if (ran.some((r) => r.status !== 0 && r.status !== "not available")) process.exitCode = 1
try {
  fs.rmdirSync(path.join(BENCH_DIR, ".tmp")) // scratch space, empty when every run cleaned up after itself
} catch {}
