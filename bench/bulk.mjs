// Bulk ingest throughput: POST /api/v1/conversations/bulk with 1,000 conversations per request,
// as a JSON array and as NDJSON, from several concurrent clients, against insightd (ingest-only
// pipeline: HTTP → validate → persist) and against bench/reference-server.mjs fed the same bodies
// (bare node:http: parse, minimal validation, one transaction per request, 202 after commit).
// Rounds alternate reference, insightd, … on fresh databases; medians and ratios are reported.
// Target: insightd ≥ 100,000 conversations/s. Every acknowledged id must be in the database.
//
//   node bench/bulk.mjs [--rounds=3] [--rows=100000] [--per-request=1000] [--clients=4]
//                       [--formats=json,ndjson] [--targets=reference,insightd]
import Database from "better-sqlite3"
import fs from "node:fs"
import path from "node:path"
import { BENCH_DIR, bulkBody, fmt, freshDir, makeConversations, median, parseArgs, removeDir, round, rssSampler, startServer, writeResult } from "./lib.mjs"

const args = parseArgs()
const rounds = Number(args.rounds ?? 3)
const rows = Number(args.rows ?? 100_000)
const perRequest = Number(args["per-request"] ?? 1000)
const clients = Number(args.clients ?? 4)
const formats = String(args.formats ?? "json,ndjson").split(",")
const targets = String(args.targets ?? "reference,insightd").split(",")
const WARMUP_REQUESTS = 3
const TARGET_PER_SECOND = 100_000
const INGEST_ONLY = path.join(BENCH_DIR, "pipelines", "ingest-only.json")

// The same request bodies for every target and round (generated once, outside the timing).
const requestCount = Math.ceil(rows / perRequest)
const bodiesOf = (format, seedBase, count) =>
  Array.from({ length: count }, (_, r) => bulkBody(makeConversations(seedBase + r, Math.min(perRequest, rows - r * perRequest), r * perRequest), format))
const bodies = Object.fromEntries(formats.map((format) => [format, { warmup: bodiesOf(format, 900_000, WARMUP_REQUESTS), measured: bodiesOf(format, 1, requestCount) }]))
const bodyBytes = Object.fromEntries(formats.map((f) => [f, bodies[f].measured.reduce((a, b) => a + Buffer.byteLength(b.body), 0)]))

const send = async (base, { body, contentType }) => {
  const res = await fetch(`${base}/api/v1/conversations/bulk`, { method: "POST", headers: { "content-type": contentType }, body })
  const text = await res.text()
  if (res.status !== 202) return { status: res.status, ids: [], text }
  return { status: 202, ids: JSON.parse(text).conversation_ids }
}

/** Sends `list` with `clients` concurrent workers; returns { ms, ids, failures }. */
const sendAll = async (base, list) => {
  let next = 0
  const ids = []
  const failures = []
  const started = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < list.length) {
        const r = await send(base, list[next++])
        if (r.status === 202) ids.push(...r.ids)
        else failures.push(`${r.status} ${r.text.slice(0, 200)}`)
      }
    })
  )
  return { ms: performance.now() - started, ids, failures }
}

const runOnce = async (target, format, roundNo) => {
  const dir = freshDir(`bulk-${target}`)
  const db = path.join(dir, "bench.db")
  const server = await startServer(target === "reference" ? { kind: "reference", db } : { kind: "insightd", db, pipeline: INGEST_ONLY })
  const rss = rssSampler(server.pid, 100)
  let warm, load, exit
  try {
    warm = await sendAll(server.base, bodies[format].warmup)
    rss.mark("load")
    load = await sendAll(server.base, bodies[format].measured)
  } finally {
    exit = await server.stop()
  }
  const peakRssMb = rss.stop().find((p) => p.label === "load")?.peakMb
  const conn = new Database(db, { readonly: true, fileMustExist: true })
  const stored = conn.prepare("SELECT COUNT(*) FROM conversations").pluck().get()
  const storedIds = new Set(conn.prepare("SELECT id FROM conversations").pluck().all())
  conn.close()
  removeDir(dir)
  const acked = [...warm.ids, ...load.ids]
  const lost = acked.filter((id) => !storedIds.has(id)).length
  const expected = rows + bodies[format].warmup.reduce((a, b) => a + (b.contentType === "application/x-ndjson" ? b.body.split("\n").length - 1 : JSON.parse(b.body).length), 0)
  const problems = []
  if (lost > 0) problems.push(`${lost} acknowledged conversations missing from the database`)
  if (stored !== expected) problems.push(`${stored} rows stored, ${expected} sent`)
  if (load.ids.length !== rows) problems.push(`${load.ids.length} ids acknowledged, ${rows} sent`)
  if (warm.failures.length + load.failures.length > 0) problems.push(`${warm.failures.length + load.failures.length} failed requests: ${[...warm.failures, ...load.failures][0]}`)
  if (exit.code !== 0) problems.push(`exit ${JSON.stringify(exit)}: ${server.output().slice(-1000)}`)
  const perSecond = load.ids.length / (load.ms / 1000)
  console.log(
    `  round ${roundNo} ${format.padEnd(6)} ${target.padEnd(9)} ${fmt(perSecond).padStart(8)} conversations/s  (${fmt(rows)} in ${fmt(load.ms, 0)} ms, ` +
      `${fmt(bodyBytes[format] / 1024 / 1024 / (load.ms / 1000), 1)} MB/s)  stored ${fmt(stored)} lost ${lost}  peak RSS ${peakRssMb} MB` +
      (problems.length ? `  PROBLEMS: ${problems.join("; ")}` : "")
  )
  return { target, format, round: roundNo, perSecond: Math.round(perSecond), ms: Math.round(load.ms), stored, expected, lost, peakRssMb, problems }
}

console.log(
  `bulk: ${targets.join(" / ")} × ${formats.join(" / ")}, ${rounds} alternating rounds, ${fmt(rows)} conversations in requests of ${fmt(perRequest)}, ` +
    `${clients} concurrent clients (bodies: ${formats.map((f) => `${f} ${fmt(bodyBytes[f] / requestCount / 1024, 0)} KiB`).join(", ")})`
)
const runs = []
for (let r = 1; r <= rounds; r++) for (const format of formats) for (const target of targets) runs.push(await runOnce(target, format, r))

const summary = {}
for (const format of formats) {
  summary[format] = {}
  for (const target of targets) {
    const mine = runs.filter((x) => x.format === format && x.target === target)
    summary[format][target] = { medianPerSecond: Math.round(median(mine.map((x) => x.perSecond))), perRound: mine.map((x) => x.perSecond), medianPeakRssMb: median(mine.map((x) => x.peakRssMb)), lost: mine.reduce((a, x) => a + x.lost, 0) }
  }
  const ref = summary[format].reference
  const ins = summary[format].insightd
  if (ref && ins) {
    const roundRatios = runs
      .filter((x) => x.format === format && x.target === "insightd")
      .map((x) => x.perSecond / runs.find((y) => y.format === format && y.target === "reference" && y.round === x.round).perSecond)
    summary[format].ratio = { ratioOfMedians: round(ins.medianPerSecond / ref.medianPerSecond, 3), roundRatios: roundRatios.map((x) => round(x, 3)) }
  }
}

console.log("\nbulk summary (medians):")
const table = []
for (const format of formats) {
  const s = summary[format]
  for (const target of targets) console.log(`  ${format.padEnd(6)} ${target.padEnd(9)} ${fmt(s[target].medianPerSecond).padStart(8)} conversations/s  (rounds ${s[target].perRound.map((x) => fmt(x)).join(", ")})  lost ${s[target].lost}`)
  if (s.ratio) console.log(`  ${format.padEnd(6)} ratio insightd/reference ${s.ratio.ratioOfMedians} (rounds ${s.ratio.roundRatios.join(", ")})`)
  if (s.insightd) {
    table.push({
      measure: `HTTP bulk ingest, ${format === "json" ? "JSON array" : "NDJSON"} (${fmt(perRequest)}/request, ${clients} clients), conversations/s`,
      insightd: s.insightd.medianPerSecond,
      reference: s.reference?.medianPerSecond ?? null,
      ratio: s.ratio?.ratioOfMedians ?? null,
      target: `≥ ${fmt(TARGET_PER_SECOND)}/s`,
      met: s.insightd.medianPerSecond >= TARGET_PER_SECOND && s.insightd.lost === 0
    })
    console.log(`  ${format.padEnd(6)} target ≥ ${fmt(TARGET_PER_SECOND)} conversations/s → ${s.insightd.medianPerSecond >= TARGET_PER_SECOND ? "met" : "NOT met"}`)
  }
}
const problems = runs.flatMap((r) => r.problems.map((p) => `${r.target} ${r.format} round ${r.round}: ${p}`))
if (problems.length) console.log(`  PROBLEMS:\n    ${problems.join("\n    ")}`)
console.log(
  `wrote ${writeResult("bulk", { benchmark: "bulk", settings: { rounds, rows, perRequest, clients, formats, targets }, summary, table, runs, problems, node: process.version, measuredAt: new Date().toISOString() })}`
)
try {
  fs.rmdirSync(path.join(BENCH_DIR, ".tmp"))
} catch {}
if (problems.length) process.exitCode = 1
