// Node load generator (fallback when `wrk` is not installed; `--loadgen=node` forces it).
// N keep-alive connections, each sending one POST at a time for a fixed duration; every POST a
// distinct conversation. Writes the same JSON summary as the wrk script (and `<out>.ids`).
//   node bench/loadgen.mjs --url=http://127.0.0.1:8080 --connections=64 --seconds=5 --out=file.json
import fs from "node:fs"
import http from "node:http"
import { makeConversation, parseArgs, prng } from "./lib.mjs"

const args = parseArgs()
const url = new URL(args.url)
const connections = Number(args.connections ?? 64)
const seconds = Number(args.seconds ?? 5)
const out = args.out
const path = "/api/v1/conversations"

let undici = null
try {
  undici = await import("undici")
} catch {}

const rand = prng((process.pid * 2654435761) >>> 0)
let n = 0
const nextBody = () => JSON.stringify(makeConversation(rand, n++))

/** One POST → { status, body }. undici Client per connection, else node:http keep-alive Agent. */
const makeSender = () => {
  if (undici) {
    const client = new undici.Client(url.origin, { pipelining: 1, keepAliveTimeout: 60_000 })
    return {
      send: async (body) => {
        const res = await client.request({ method: "POST", path, headers: { "content-type": "application/json" }, body })
        return { status: res.statusCode, body: await res.body.text() }
      },
      close: () => client.close()
    }
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  return {
    send: (body) =>
      new Promise((resolve, reject) => {
        const req = http.request(
          { host: url.hostname, port: url.port, method: "POST", path, agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
          (res) => {
            let text = ""
            res.setEncoding("utf8")
            res.on("data", (d) => (text += d))
            res.on("end", () => resolve({ status: res.statusCode, body: text }))
          }
        )
        req.on("error", reject)
        req.end(body)
      }),
    close: () => agent.destroy()
  }
}

const latencies = []
const ids = []
const otherStatuses = {}
let requests = 0
let accepted = 0
let other = 0
const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 }
const started = performance.now()
const endAt = started + seconds * 1000

const worker = async () => {
  const sender = makeSender()
  while (performance.now() < endAt) {
    const body = nextBody()
    const t0 = performance.now()
    try {
      const res = await sender.send(body)
      latencies.push((performance.now() - t0) * 1000)
      requests++
      if (res.status === 202) {
        accepted++
        const m = /"conversation_id":"([^"]+)"/.exec(res.body)
        if (m) ids.push(m[1])
      } else {
        other++
        errors.status++
        otherStatuses[res.status] = (otherStatuses[res.status] ?? 0) + 1
      }
    } catch {
      errors.read++
    }
  }
  await sender.close()
}

await Promise.all(Array.from({ length: connections }, worker))
const durationUs = Math.round((performance.now() - started) * 1000)
latencies.sort((a, b) => a - b)
const pct = (p) => (latencies.length === 0 ? 0 : Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]))
fs.writeFileSync(
  out,
  JSON.stringify({
    generator: undici ? "node-undici" : "node-http",
    durationUs,
    requests,
    accepted,
    other,
    otherStatuses,
    errors,
    latencyUs: {
      p50: pct(50),
      p90: pct(90),
      p99: pct(99),
      max: Math.round(latencies[latencies.length - 1] ?? 0),
      mean: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)
    }
  })
)
fs.writeFileSync(`${out}.ids`, ids.join("\n") + "\n")
