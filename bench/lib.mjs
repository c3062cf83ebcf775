// Shared helpers for the insightd benchmarks: server processes, the load generator (wrk, or a
// Node fallback), RSS sampling, the conversation generator and small statistics.
import Database from "better-sqlite3"
import { spawn, spawnSync } from "node:child_process"
import fs from "node:fs"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url))
export const REPO = path.dirname(BENCH_DIR)
export const RESULTS_DIR = path.join(BENCH_DIR, "results")
/** Scratch space (databases, id lists). On the same disk as a real deployment: fsync matters. */
export const TMP_DIR = path.join(BENCH_DIR, ".tmp")

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------
// Arguments and output

/** `--name=value` / `--flag` arguments into an object. */
export const parseArgs = (argv = process.argv.slice(2)) => {
  const out = {}
  for (const arg of argv) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(arg)
    if (m) out[m[1]] = m[2] === undefined ? true : m[2]
  }
  return out
}

export const writeResult = (name, data) => {
  fs.mkdirSync(RESULTS_DIR, { recursive: true })
  const file = path.join(RESULTS_DIR, `${name}.json`)
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`)
  return path.relative(process.cwd(), file)
}

export const freshDir = (name) => {
  const dir = path.join(TMP_DIR, `${name}-${process.pid}-${Date.now().toString(36)}`)
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

export const removeDir = (dir) => fs.rmSync(dir, { recursive: true, force: true })

export const median = (values) => {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "n/a"

export const mb = (kb) => kb / 1024

// ---------------------------------------------------------------------------------------------
// Conversations: distinct, realistic support messages of ~150–300 characters

export const PARTS = {
  openers: ["Hi team,", "Hello,", "Hey support,", "Good morning,", "Hi there,", "Dear customer service,", "Hello again,", "Hi,"],
  issues: [
    "my order #N arrived with a cracked screen and the box was completely soaked",
    "I was charged twice for invoice N this month and nobody has explained why",
    "the app keeps logging me out every few minutes since the update to version N",
    "my refund for order N still has not shown up on my card after two weeks",
    "the tracking for parcel N has not moved in five days and the courier will not answer",
    "I love the new dashboard, exporting report N to CSV saves me an hour every week",
    "the password reset email for account N never arrives, not even in the spam folder",
    "your agent on ticket N was friendly and fixed my billing address in two minutes",
    "the subscription renewed at a higher price (plan N) without any warning email",
    "the replacement headphones from order N work perfectly, much better than the first pair",
    "checkout fails with error N whenever I try to pay with my credit card",
    "the delivery for order N came a day early and everything was packed really well"
  ],
  details: [
    "I already tried reinstalling the app and clearing the cache.",
    "Your chat agent promised a callback that never came.",
    "This is the third time I am writing about this.",
    "Everything else about the service has been great so far.",
    "I have been a customer for six years and this never happened before.",
    "The FAQ page did not help at all.",
    "My colleague has exactly the same problem on her account.",
    "Honestly the product itself is fantastic.",
    "I attached screenshots to my previous email.",
    "The phone line kept me on hold for forty minutes."
  ],
  closers: [
    "Can you please look into it today?",
    "Thanks a lot for the quick help!",
    "Otherwise I will have to cancel my subscription.",
    "Keep up the good work.",
    "Please refund me as soon as possible.",
    "Looking forward to your reply.",
    "I am really disappointed.",
    "Much appreciated, you made my day."
  ]
}

/** A small deterministic PRNG (mulberry32). */
export const prng = (seed) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pick = (rand, list) => list[Math.floor(rand() * list.length)]
const two = (n) => String(n).padStart(2, "0")

/** The n-th conversation of stream `seed`: distinct text (the number n is in it), author, time. */
export const makeConversation = (rand, n) => {
  let text = `${pick(rand, PARTS.openers)} ${pick(rand, PARTS.issues).replace("N", String(100000 + n))}. ${pick(rand, PARTS.details)}`
  if (rand() < 0.5) text += ` ${pick(rand, PARTS.details)}`
  text += ` ${pick(rand, PARTS.closers)}`
  return {
    author: `customer-${Math.floor(rand() * 5000)}`,
    timestamp: `2024-05-${two(1 + Math.floor(rand() * 28))}T${two(Math.floor(rand() * 24))}:${two(Math.floor(rand() * 60))}:00Z`,
    text
  }
}

/** The wrk script: same generator in Lua; records the ids of 202s and writes a JSON summary. */
export const wrkScript = () => {
  const luaList = (list) => `{${list.map((s) => JSON.stringify(s)).join(", ")}}`
  return `-- generated by bench/lib.mjs: POST one distinct conversation per request
local openers = ${luaList(PARTS.openers)}
local issues = ${luaList(PARTS.issues)}
local details = ${luaList(PARTS.details)}
local closers = ${luaList(PARTS.closers)}
local threads = {}
counter = 0
ok202 = 0
other = 0
ids = {}
statuses = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(tid * 7919 + os.time())
  wrk.method = "POST"
  wrk.path = "/api/v1/conversations"
  wrk.headers["Content-Type"] = "application/json"
end

local function pick(list) return list[math.random(#list)] end

function request()
  counter = counter + 1
  local n = tid * 10000000 + counter
  local issue = string.gsub(pick(issues), "N", tostring(n), 1)
  local text = pick(openers) .. " " .. issue .. ". " .. pick(details)
  if math.random() < 0.5 then text = text .. " " .. pick(details) end
  text = text .. " " .. pick(closers)
  local body = string.format('{"author":"customer-%d","timestamp":"2024-05-%02dT%02d:%02d:00Z","text":"%s"}',
    math.random(0, 4999), math.random(1, 28), math.random(0, 23), math.random(0, 59), text)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 202 then
    ok202 = ok202 + 1
    local id = string.match(body, '"conversation_id":"([^"]+)"')
    if id then ids[#ids + 1] = id end
  else
    other = other + 1
    statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total202, totalOther, codes = 0, 0, {}
  local out = os.getenv("BENCH_WRK_OUT")
  local idf = io.open(out .. ".ids", "w")
  for _, thread in ipairs(threads) do
    total202 = total202 + thread:get("ok202")
    totalOther = totalOther + thread:get("other")
    for code, n in pairs(thread:get("statuses")) do codes[code] = (codes[code] or 0) + n end
    for _, id in ipairs(thread:get("ids")) do idf:write(id, "\\n") end
  end
  idf:close()
  local codeText = {}
  for code, n in pairs(codes) do codeText[#codeText + 1] = string.format('"%s":%d', code, n) end
  local f = io.open(out, "w")
  f:write(string.format('{"generator":"wrk","durationUs":%d,"requests":%d,"accepted":%d,"other":%d,"otherStatuses":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}',
    summary.duration, summary.requests, total202, totalOther, table.concat(codeText, ","),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  f:close()
end
`
}

// ---------------------------------------------------------------------------------------------
// Load generation

export const haveWrk = () => spawnSync("wrk", ["--version"], { stdio: "ignore" }).error === undefined

/** `wrk` unless missing or `--loadgen=node`; the same generator must serve every target of a run. */
export const chooseGenerator = (args) => {
  if (args.loadgen === "node") return "node"
  if (args.loadgen === "wrk") return "wrk"
  return haveWrk() ? "wrk" : "node"
}

const runProcess = (command, argv, options = {}) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"], ...options })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("error", reject)
    child.on("close", (code) => (code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`${command} exited ${code}: ${stderr || stdout}`))))
  })

/**
 * Runs one timed load against `url` with `connections` keep-alive connections for `seconds`.
 * Returns { generator, durationUs, requests, accepted, other, otherStatuses, errors, latencyUs, ids }.
 */
export const runLoad = async ({ generator, url, connections, seconds, threads = 1, scratch }) => {
  const out = path.join(scratch, `load-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}.json`)
  if (generator === "wrk") {
    const script = path.join(scratch, "post.lua")
    if (!fs.existsSync(script)) fs.writeFileSync(script, wrkScript())
    await runProcess("wrk", ["-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, "--timeout", "10s", "-s", script, url], {
      env: { ...process.env, BENCH_WRK_OUT: out }
    })
  } else {
    await runProcess(process.execPath, [path.join(BENCH_DIR, "loadgen.mjs"), `--url=${url}`, `--connections=${connections}`, `--seconds=${seconds}`, `--out=${out}`])
  }
  const result = JSON.parse(fs.readFileSync(out, "utf8"))
  result.ids = fs.readFileSync(`${out}.ids`, "utf8").split("\n").filter((line) => line.length > 0)
  fs.rmSync(out, { force: true })
  fs.rmSync(`${out}.ids`, { force: true })
  return result
}

// ---------------------------------------------------------------------------------------------
// Server processes

export const freePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

/**
 * Starts a server process (insightd or the reference) on a free port with its database at `db`.
 * `kind`: "insightd" | "reference". `pipeline`: a pipeline file for insightd (default: the repo's).
 */
/**
 * The V8 flags the daemon is deployed with (`npm start`, Docker, systemd: a bounded heap), read
 * from package.json's start script so the benchmarks measure the daemon as it runs. A run that
 * sets NODE_OPTIONS for the daemon (memory.mjs --daemon-node-options) measures those instead.
 */
const START_TOKENS = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).scripts.start.split(/\s+/)
export const DAEMON_NODE_FLAGS = START_TOKENS.filter((token) => token.startsWith("--"))
/** Environment assignments before `node` in the start script (MALLOC_ARENA_MAX=2). */
export const DAEMON_ENV = Object.fromEntries(
  START_TOKENS.slice(0, START_TOKENS.indexOf("node"))
    .filter((token) => /^[A-Z_][A-Z0-9_]*=/.test(token))
    .map((token) => [token.slice(0, token.indexOf("=")), token.slice(token.indexOf("=") + 1)])
)

/** BENCH_ENTRY: another build's dist/main.js to run as insightd (bench/ab.mjs, before/after). */
export const startServer = async ({ kind, db, pipeline, nodeArgs = [], env = {}, onSpawn, healthTimeoutMs = 30_000 }) => {
  const port = await freePort()
  const script = kind === "insightd" ? [process.env.BENCH_ENTRY ?? path.join(REPO, "dist", "main.js"), "serve"] : [path.join(BENCH_DIR, "reference-server.mjs")]
  const deployedFlags = kind === "insightd" && env.NODE_OPTIONS === undefined ? DAEMON_NODE_FLAGS : []
  const deployedEnv = kind === "insightd" ? DAEMON_ENV : {}
  const child = spawn(process.execPath, [...deployedFlags, ...nodeArgs, ...script], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      INSIGHTD_PORT: String(port),
      INSIGHTD_HOST: "127.0.0.1",
      INSIGHTD_DB: db,
      INSIGHTD_RATE_LIMIT: "0",
      INSIGHTD_LOG_FORMAT: "json",
      INSIGHTD_LOG_LEVEL: "warning",
      INSIGHTD_ANALYZER: "local",
      ...(pipeline ? { INSIGHTD_PIPELINE: pipeline } : {}),
      ...deployedEnv,
      ...env
    }
  })
  onSpawn?.(child.pid)
  let output = ""
  const keep = (d) => {
    output += d
    if (output.length > 20000) output = output.slice(-20000)
  }
  child.stdout.on("data", keep)
  child.stderr.on("data", keep)
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })))
  let exitInfo = null
  exited.then((info) => (exitInfo = info))
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + healthTimeoutMs
  for (;;) {
    if (exitInfo) throw new Error(`${kind} exited during start-up (${JSON.stringify(exitInfo)}):\n${output}`)
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(Math.max(1000, deadline - Date.now())) })
      await res.arrayBuffer()
      if (res.status === 200) break
    } catch {}
    if (Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error(`${kind} did not answer /health within ${healthTimeoutMs / 1000} s:\n${output}`)
    }
    await sleep(50)
  }
  return {
    kind,
    pid: child.pid,
    port,
    base,
    output: () => output,
    /** SIGTERM, then wait for the exit (SIGKILL after `timeoutMs`). */
    stop: async (timeoutMs = 30_000) => {
      if (exitInfo) return exitInfo
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
      const info = await exited
      clearTimeout(timer)
      return info
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Memory

/** VmRSS of `pid` in kB, or NaN when the process is gone. */
export const readRssKb = (pid) => {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return m ? Number(m[1]) : NaN
  } catch {
    return NaN
  }
}

/** Samples VmRSS every `everyMs`; `mark(label)` starts a new phase; `stop()` returns per-phase peaks. */
export const rssSampler = (pid, everyMs = 100) => {
  const phases = []
  let current = null
  const mark = (label) => {
    current = { label, samples: 0, peakKb: 0, lastKb: NaN, startedAt: Date.now() }
    phases.push(current)
  }
  mark("start")
  const take = () => {
    const kb = readRssKb(pid)
    if (!Number.isFinite(kb) || current === null) return
    current.samples++
    current.lastKb = kb
    if (kb > current.peakKb) current.peakKb = kb
  }
  take()
  const timer = setInterval(take, everyMs)
  return {
    mark,
    stop: () => {
      clearInterval(timer)
      take()
      return phases.map((p) => ({ label: p.label, samples: p.samples, peakMb: Number(mb(p.peakKb).toFixed(1)), lastMb: Number(mb(p.lastKb).toFixed(1)) }))
    },
    peakMb: () => Number(mb(Math.max(0, ...phases.map((p) => p.peakKb))).toFixed(1))
  }
}

// ---------------------------------------------------------------------------------------------
// Small statistics and the machine

/** The p-th percentile (0..100) of `values` (nearest rank). */
export const percentile = (values, p) => {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

export const round = (n, digits = 2) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null)

/** What the figures were measured on: CPU, cores, RAM, Node, OS, and the load average (noise). */
export const machineInfo = () => {
  const cpus = os.cpus()
  let cpuModel = cpus[0]?.model ?? "unknown"
  try {
    const m = /model name\s*:\s*(.+)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))
    if (m) cpuModel = m[1].trim()
  } catch {}
  let distro = null
  try {
    distro = /PRETTY_NAME="?([^"\n]+)"?/.exec(fs.readFileSync("/etc/os-release", "utf8"))?.[1] ?? null
  } catch {}
  return {
    cpuModel,
    cores: cpus.length,
    ramGb: Number((os.totalmem() / 1024 ** 3).toFixed(1)),
    node: process.version,
    os: `${distro ?? os.type()} (${os.type()} ${os.release()}, ${os.arch()})`,
    loadAverage: os.loadavg().map((x) => Number(x.toFixed(2)))
  }
}

// ---------------------------------------------------------------------------------------------
// Bulk posting and backlogs

/** `n` conversations of stream `seed`, starting at number `from`. */
export const makeConversations = (seed, n, from = 0) => {
  const rand = prng(seed)
  const out = []
  for (let i = 0; i < n; i++) out.push(makeConversation(rand, from + i))
  return out
}

/** A bulk body: `json` (array) or `ndjson`. Returns { body, contentType }. */
export const bulkBody = (items, format = "json") =>
  format === "ndjson"
    ? { body: `${items.map((item) => JSON.stringify(item)).join("\n")}\n`, contentType: "application/x-ndjson" }
    : { body: JSON.stringify(items), contentType: "application/json" }

/** POST /api/v1/conversations/bulk; throws unless every item was accepted (202). Returns the ids. */
export const postBulk = async (base, items, format = "json") => {
  const { body, contentType } = typeof items === "string" ? { body: items, contentType: format === "ndjson" ? "application/x-ndjson" : "application/json" } : bulkBody(items, format)
  const res = await fetch(`${base}/api/v1/conversations/bulk`, { method: "POST", headers: { "content-type": contentType }, body })
  const text = await res.text()
  let json = null
  try {
    json = JSON.parse(text)
  } catch {}
  if (res.status !== 202 || !json || !Array.isArray(json.conversation_ids)) throw new Error(`bulk POST → ${res.status} ${text.slice(0, 300)}`)
  return json.conversation_ids
}

/**
 * Builds a backlog of `count` pending conversations in a fresh database at `db` through the
 * daemon's own bulk path (ingest-only pipeline, so nothing is analysed), then stops the daemon.
 */
export const buildBacklog = async ({ db, count, seed = 42, bulkSize = 1000 }) => {
  const server = await startServer({ kind: "insightd", db, pipeline: path.join(BENCH_DIR, "pipelines", "ingest-only.json") })
  const ids = []
  try {
    for (let from = 0; from < count; from += bulkSize) ids.push(...(await postBulk(server.base, makeConversations(seed + from, Math.min(bulkSize, count - from), from))))
  } finally {
    await server.stop()
  }
  return ids
}

/** Rows of `table` in the database file (read-only connection). */
export const countRows = (db, table = "conversations", where = "") => {
  const conn = new Database(db, { readonly: true, fileMustExist: true })
  try {
    return conn.prepare(`SELECT COUNT(*) FROM ${table} ${where}`).pluck().get()
  } finally {
    conn.close()
  }
}

// ---------------------------------------------------------------------------------------------
// GET latency sampling: wrk when available (its latency histogram), else a Node loop

const wrkGetScript = `-- generated by bench/lib.mjs: GET, count non-200s, JSON summary
local threads = {}
non200 = 0
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body) if status ~= 200 then non200 = non200 + 1 end end
function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("non200") end
  local f = io.open(os.getenv("BENCH_WRK_OUT"), "w")
  f:write(string.format('{"generator":"wrk","durationUs":%d,"requests":%d,"non200":%d,"errors":%d,' ..
    '"latencyUs":{"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f}}',
    summary.duration, summary.requests, bad, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
  f:close()
end
`

/**
 * GETs `url` over `connections` keep-alive connections for `seconds` (default 1 connection:
 * latency = service time, no queueing). Returns { generator, requests, perSecond, non200, p50Ms, p95Ms, p99Ms, maxMs }.
 */
export const sampleGet = async ({ generator, url, seconds = 2, connections = 1, scratch }) => {
  if (generator === "wrk") {
    const script = path.join(scratch, "get.lua")
    if (!fs.existsSync(script)) fs.writeFileSync(script, wrkGetScript)
    const out = path.join(scratch, `get-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}.json`)
    await runProcess("wrk", ["-t", "1", "-c", String(connections), "-d", `${seconds}s`, "--timeout", "10s", "-s", script, url], { env: { ...process.env, BENCH_WRK_OUT: out } })
    const r = JSON.parse(fs.readFileSync(out, "utf8"))
    fs.rmSync(out, { force: true })
    return {
      generator: "wrk",
      requests: r.requests,
      perSecond: Math.round(r.requests / (r.durationUs / 1e6)),
      non200: r.non200 + r.errors,
      p50Ms: r.latencyUs.p50 / 1000,
      p95Ms: r.latencyUs.p95 / 1000,
      p99Ms: r.latencyUs.p99 / 1000,
      maxMs: r.latencyUs.max / 1000
    }
  }
  // Node fallback: keep-alive fetch loops (undici under the hood).
  const latencies = []
  let non200 = 0
  const started = performance.now()
  const endAt = started + seconds * 1000
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < endAt) {
        const t0 = performance.now()
        const res = await fetch(url)
        await res.arrayBuffer()
        latencies.push(performance.now() - t0)
        if (res.status !== 200) non200++
      }
    })
  )
  return {
    generator: "node",
    requests: latencies.length,
    perSecond: Math.round(latencies.length / ((performance.now() - started) / 1000)),
    non200,
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
    p99Ms: percentile(latencies, 99),
    maxMs: percentile(latencies, 100)
  }
}

// ---------------------------------------------------------------------------------------------
// A large insights table, fast: the daemon creates the schema (its own migrations), then rows go
// in directly with better-sqlite3 (indexes dropped during the load and re-created from their own
// SQL afterwards, so whatever indexes the migrations define are what gets queried).

export const INSIGHT_TOPICS = ["delivery_delay", "refund_request", "billing_error", "app_crash", "account_access", "product_quality", "praise", "subscription", "checkout", "shipping_damage", "password_reset", "agent_feedback"]

/**
 * Creates `db` with `count` completed conversations and their insights (timestamps spread over
 * 2024, authors `customer-0…`, ~20 conversations each, 1–2 clusters from INSIGHT_TOPICS).
 * Returns { ms, count }.
 */
export const populateInsights = async ({ db, count, seed = 1 }) => {
  const started = Date.now()
  const server = await startServer({ kind: "insightd", db, pipeline: path.join(BENCH_DIR, "pipelines", "ingest-only.json") })
  await server.stop()
  const conn = new Database(db)
  try {
    conn.pragma("journal_mode = WAL")
    conn.pragma("synchronous = OFF")
    const indexes = conn.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('conversations', 'insights', 'insight_clusters')").all()
    for (const { name } of indexes) conn.exec(`DROP INDEX "${name}"`)
    const insertConversation = conn.prepare(`INSERT INTO conversations (id, text, author, timestamp, messages, metadata, raw, content_hash, status, attempts, received_at, updated_at)
      VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, 'completed', 1, ?, ?)`)
    const insertInsight = conn.prepare(`INSERT INTO insights (conversation_id, timestamp, author, sentiment_score, sentiment, confidence, clusters, reasoning, analyzer, raw_response, prompt_tokens, completion_tokens, cost_usd, analyzed_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'bench', '{}', NULL, NULL, NULL, ?)`)
    const insertCluster = conn.prepare("INSERT INTO insight_clusters (conversation_id, cluster, timestamp, sentiment_score, confidence) VALUES (?, ?, ?, ?, ?)")
    const rand = prng(seed)
    const yearStart = Date.UTC(2024, 0, 1)
    const yearMs = 366 * 24 * 3600 * 1000
    const authors = Math.max(1, Math.floor(count / 20))
    const now = new Date().toISOString()
    const batch = conn.transaction((from, to) => {
      for (let i = from; i < to; i++) {
        const c = makeConversation(rand, i)
        const id = `conv_${String(i).padStart(10, "0")}${Math.floor(rand() * 1e9).toString(36).padStart(6, "0")}`
        const timestamp = new Date(yearStart + Math.floor(rand() * yearMs / 1000) * 1000).toISOString()
        const author = `customer-${Math.floor(rand() * authors)}`
        const score = Math.round((rand() * 2 - 1) * 1000) / 1000
        const label = score < -0.1 ? "negative" : score > 0.1 ? "positive" : "neutral"
        const confidence = Math.round((0.5 + rand() * 0.5) * 1000) / 1000
        const first = INSIGHT_TOPICS[Math.floor(rand() * INSIGHT_TOPICS.length)]
        const second = rand() < 0.3 ? INSIGHT_TOPICS[Math.floor(rand() * INSIGHT_TOPICS.length)] : first
        const clusters = first === second ? [first] : [first, second]
        insertConversation.run(id, c.text, author, timestamp, JSON.stringify({ ...c, author, timestamp }), (i * 2654435761 >>> 0).toString(16).padStart(16, "0"), now, now)
        insertInsight.run(id, timestamp, author, score, label, confidence, JSON.stringify(clusters), `bench insight ${i}`, now)
        for (const cluster of clusters) insertCluster.run(id, cluster, timestamp, score, confidence)
      }
    })
    for (let from = 0; from < count; from += 50_000) {
      batch(from, Math.min(count, from + 50_000))
      await sleep(0)
    }
    for (const { sql } of indexes) conn.exec(sql)
    conn.pragma("wal_checkpoint(TRUNCATE)")
  } finally {
    conn.close()
  }
  return { ms: Date.now() - started, count }
}

/** The cursor the API issues (src/http/handlers.ts): base64url of JSON [timestamp, id]. */
/** A cursor as the API issues it: the position, and the fingerprint of the query it belongs to (read from one the API issued). */
export const insightCursor = (timestamp, id, queryKey) => Buffer.from(JSON.stringify([timestamp, id, queryKey])).toString("base64url")
