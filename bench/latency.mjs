// Idle end-to-end latency: POST one conversation to an otherwise idle daemon whose Grok analyzer
// points at a fake Grok answering after 300 ms, then poll GET /api/v1/conversations/{id} every
// ~2 ms until its insight is there. N sequential conversations (default 50), a pause between them
// so each finds the daemon idle. Reference: the fake's latency; target p50 ≤ latency + 50 ms.
//
//   node bench/latency.mjs [--count=50] [--latency=300] [--pause=100]
import fs from "node:fs"
import path from "node:path"
import { BENCH_DIR, fmt, freshDir, makeConversations, parseArgs, percentile, removeDir, round, sleep, startServer, writeResult } from "./lib.mjs"
import { startFakeGrok } from "../test/support/fake-grok.mjs"

const args = parseArgs()
const count = Number(args.count ?? 50)
const latencyMs = Number(args.latency ?? 300)
const pauseMs = Number(args.pause ?? 100)
const POLL_MS = 2

const dir = freshDir("latency")
const db = path.join(dir, "bench.db")
const fake = await startFakeGrok({ latencyMs })
const server = await startServer({ kind: "insightd", db, env: { INSIGHTD_ANALYZER: "grok", XAI_API_KEY: "bench-key", XAI_BASE_URL: fake.baseUrl } })
const samples = []
const problems = []
try {
  const conversations = makeConversations(99, count + 3)
  for (let i = 0; i < conversations.length; i++) {
    const t0 = performance.now()
    const res = await fetch(`${server.base}/api/v1/conversations`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(conversations[i]) })
    const body = await res.json()
    if (res.status !== 202) {
      problems.push(`POST → ${res.status} ${JSON.stringify(body).slice(0, 200)}`)
      continue
    }
    const ackMs = performance.now() - t0
    let visibleMs = null
    while (performance.now() - t0 < 30_000) {
      const r = await fetch(`${server.base}/api/v1/conversations/${body.conversation_id}`)
      const view = await r.json()
      if (view.insight) {
        visibleMs = performance.now() - t0
        break
      }
      if (view.status === "failed") break
      await sleep(POLL_MS)
    }
    if (visibleMs === null) problems.push(`${body.conversation_id}: no insight within 30 s`)
    // The first 3 warm the connections and the daemon's code paths; they are not counted.
    else if (i >= 3) samples.push({ ackMs, visibleMs })
    await sleep(pauseMs)
  }
} finally {
  await server.stop()
  await fake.close()
  removeDir(dir)
}
const visible = samples.map((s) => s.visibleMs)
const p50 = percentile(visible, 50)
const p95 = percentile(visible, 95)
const ackP50 = percentile(samples.map((s) => s.ackMs), 50)
const met = p50 <= latencyMs + 50
console.log(
  `latency: ${samples.length} sequential conversations, fake Grok ${latencyMs} ms, polling every ${POLL_MS} ms: POST → insight visible p50 ${fmt(p50, 1)} ms, p95 ${fmt(p95, 1)} ms, ` +
    `max ${fmt(Math.max(...visible), 1)} ms (202 after p50 ${fmt(ackP50, 1)} ms); target p50 ≤ ${latencyMs + 50} ms → ${met ? "met" : "NOT met"}`
)
if (problems.length) console.log(`  PROBLEMS: ${problems.join("; ")}`)
const table = [
  { measure: `idle end-to-end latency POST → insight visible, p50 ms (fake Grok ${latencyMs} ms; p95 ${fmt(p95, 1)} ms)`, insightd: round(p50, 1), reference: latencyMs, referenceNote: "fake Grok latency", ratio: round(p50 / latencyMs, 3), target: `≤ ${latencyMs + 50} ms`, met: met && problems.length === 0 }
]
console.log(
  `wrote ${writeResult("latency", { benchmark: "latency", settings: { count, latencyMs, pauseMs, pollMs: POLL_MS }, p50Ms: round(p50, 2), p95Ms: round(p95, 2), ackP50Ms: round(ackP50, 2), table, samples, problems, node: process.version, measuredAt: new Date().toISOString() })}`
)
try {
  fs.rmdirSync(path.join(BENCH_DIR, ".tmp"))
} catch {}
if (problems.length) process.exitCode = 1
