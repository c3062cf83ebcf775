#!/usr/bin/env node
// import-csv benchmark, side by side on one generated twcs file (bench/gen-twcs.mjs):
//   reference  a bare csv-parse pass writing each row as JSON to stdout (what any import must at least do)
//   import-csv `node dist/main.js import-csv FILE > /dev/null` (threads rebuilt)   goal: ratio ≥ 0.5
//   store      `node dist/main.js import-csv FILE --store` into a fresh SQLite     goal: ≥ 20,000 conversations/s
//   pipe       `node dist/main.js import-csv FILE | node dist/main.js store` into a fresh SQLite, timed
//              from the start until both processes have exited, conversations counted in the
//              database afterwards                                               goal: ≥ 20,000 conversations/s
//   reference pipe  the same pipe made of two bare scripts (REFERENCE_IMPORT | REFERENCE_STORE below),
//              run alternately with insightd's: what this machine allows at all
// Rounds alternate reference / import-csv; medians are reported. Both include process start-up.
// --big: also generates 2.8 M tweets (the real file's size) and samples import-csv's VmRSS from
// /proc/<pid>/status: goal peak ≤ 1 GB.
//
//   npm run build && node bench/import-csv.mjs [--tweets=200000] [--rounds=3] [--big] [--seed=42]
// Results: bench/results/import-csv.json
import { spawn } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import Database from "better-sqlite3"
import { generateTwcs } from "./gen-twcs.mjs"

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url))
const REPO = path.dirname(BENCH_DIR)
const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(arg)
    return m ? [m[1], m[2] ?? true] : [arg, true]
  })
)
const tweets = Number(args.tweets ?? 200_000)
const rounds = Number(args.rounds ?? 3)
const seed = Number(args.seed ?? 42)
const work = path.join(BENCH_DIR, ".tmp", `import-csv-${process.pid}`)
fs.mkdirSync(work, { recursive: true })
const log = (line) => process.stderr.write(`${line}\n`)
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

const REFERENCE = `
import fs from "node:fs"
import { parse } from "csv-parse"
let lines = []
const out = async (text) => { if (!process.stdout.write(text)) await new Promise((r) => process.stdout.once("drain", r)) }
for await (const record of fs.createReadStream(process.argv[2], { highWaterMark: 1 << 20 }).pipe(parse({ columns: true, relax_column_count: true }))) {
  lines.push(JSON.stringify(record))
  if (lines.length >= 1000) { await out(lines.join("\\n") + "\\n"); lines = [] }
}
if (lines.length > 0) await out(lines.join("\\n") + "\\n")
`

// The reference for `import-csv | store`: the least any implementation must do, with none of the
// checks, bounds or reporting. Import: csv-parse, every tweet held in memory, roots found by walking
// parents (a visited set ends cycles), threads sorted by time and written as the same conversation
// JSON. Store: JSON.parse each line, insert the same row (same table, WAL, synchronous FULL, 2,000
// per transaction). No validation, no line numbers, no resubmission check, no memory bound.
const REFERENCE_IMPORT = `
import fs from "node:fs"
import { parse } from "csv-parse"
const tweets = new Map()
let header = true
for await (const r of fs.createReadStream(process.argv[2], { highWaterMark: 1 << 20 }).pipe(parse({ relax_column_count: true }))) {
  if (header) { header = false; continue }
  const id = Math.trunc(Number(r[0]))
  tweets.set(id, { id, author: r[1], inbound: r[2] === "True", time: Date.parse(r[3]), text: r[4], parent: r[6] === "" ? undefined : Math.trunc(Number(r[6])) })
}
const rootOf = (tweet) => {
  const seen = new Set()
  let at = tweet
  while (at.parent !== undefined && tweets.has(at.parent) && !seen.has(at.id)) { seen.add(at.id); at = tweets.get(at.parent) }
  return at.id
}
const threads = new Map()
for (const tweet of tweets.values()) {
  const root = rootOf(tweet)
  const members = threads.get(root)
  if (members === undefined) threads.set(root, [tweet])
  else members.push(tweet)
}
let lines = []
const out = async (text) => { if (!process.stdout.write(text)) await new Promise((r) => process.stdout.once("drain", r)) }
for (const [root, members] of threads) {
  members.sort((a, b) => a.time - b.time)
  const customer = members.find((m) => m.inbound)?.author ?? members[0].author
  const companies = [...new Set(members.filter((m) => !m.inbound).map((m) => m.author))]
  lines.push(JSON.stringify({
    id: "conv_twcs_" + root, author: customer, timestamp: new Date(members[0].time).toISOString(), text: members.map((m) => m.text).join("\\n"),
    messages: members.map((m) => ({ author: m.author, text: m.text, timestamp: new Date(m.time).toISOString(), inbound: m.inbound })),
    metadata: { source: "twcs", root_tweet_id: String(root), tweet_ids: members.map((m) => String(m.id)), companies }
  }))
  if (lines.length >= 1000) { await out(lines.join("\\n") + "\\n"); lines = [] }
}
if (lines.length > 0) await out(lines.join("\\n") + "\\n")
`
const REFERENCE_STORE = `
import Database from "better-sqlite3"
import readline from "node:readline"
const db = new Database(process.argv[2])
db.pragma("journal_mode = WAL")
db.pragma("synchronous = FULL")
db.exec(\`CREATE TABLE IF NOT EXISTS conversations (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, text TEXT NOT NULL,
  author TEXT NOT NULL, timestamp TEXT NOT NULL, messages TEXT, metadata TEXT, raw TEXT NOT NULL, content_hash TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, claimed_by TEXT, claimed_at TEXT,
  received_at TEXT NOT NULL, updated_at TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS conversations_status_seq ON conversations (status, seq)\`)
const insert = db.prepare("INSERT INTO conversations (id, text, author, timestamp, messages, metadata, raw, content_hash, received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?)")
const store = db.transaction((rows) => {
  const now = new Date().toISOString()
  for (const [raw, c] of rows) insert.run(c.id, c.text, c.author, c.timestamp, JSON.stringify(c.messages), JSON.stringify(c.metadata), raw, now, now)
})
let rows = []
for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  rows.push([line, JSON.parse(line)])
  if (rows.length >= 2000) { store(rows); rows = [] }
}
store(rows)
db.close()
`

/** Runs a command with stdout to /dev/null; resolves with seconds, exit code and peak RSS (MB). */
const run = (argv, env = {}) =>
  new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const devNull = fs.openSync("/dev/null", "w")
    const proc = spawn(process.execPath, argv, { cwd: REPO, env: { ...process.env, INSIGHTD_LOG_FORMAT: "json", ...env }, stdio: ["ignore", devNull, "pipe"] })
    let stderr = ""
    proc.stderr.on("data", (chunk) => (stderr += chunk))
    let peakKb = 0
    const sample = () => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${proc.pid}/status`, "utf8"))
        if (m) peakKb = Math.max(peakKb, Number(m[1]))
      } catch {
        // the process just ended
      }
    }
    const timer = setInterval(sample, 100)
    proc.on("error", reject)
    proc.on("close", (code) => {
      clearInterval(timer)
      fs.closeSync(devNull)
      resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, code, peakMb: Math.round(peakKb / 1024), stderr })
    })
  })

/**
 * `import-csv FILE | store` through a shell (or, with `reference` = the two scripts' paths, the
 * reference pair); resolves with seconds until both have exited and the exit codes.
 */
const runPipe = (file, db, reference = undefined) =>
  new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const main = JSON.stringify(path.join(REPO, "dist/main.js"))
    const node = JSON.stringify(process.execPath)
    const [importer, storer] =
      reference === undefined
        ? [`${node} ${main} import-csv ${JSON.stringify(file)}`, `${node} ${main} store`]
        : [`${node} ${JSON.stringify(reference.importer)} ${JSON.stringify(file)}`, `${node} ${JSON.stringify(reference.storer)} "$INSIGHTD_DB"`]
    // PIPESTATUS: the exit status of each side, so a failing import-csv is not hidden by store's.
    const script = `${importer} 2>"$ERR_IMPORT" | ${storer} 2>"$ERR_STORE"; echo "\${PIPESTATUS[0]} \${PIPESTATUS[1]}"`
    const errImport = `${db}.import.err`
    const errStore = `${db}.store.err`
    const proc = spawn("bash", ["-c", script], {
      cwd: REPO,
      env: { ...process.env, INSIGHTD_LOG_FORMAT: "json", INSIGHTD_DB: db, ERR_IMPORT: errImport, ERR_STORE: errStore },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    proc.stdout.on("data", (chunk) => (out += chunk))
    proc.on("error", reject)
    proc.on("close", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const [importCode, storeCode] = out.trim().split(" ").map(Number)
      const stderr = `${fs.readFileSync(errImport, "utf8")}${fs.readFileSync(errStore, "utf8")}`
      resolve({ seconds, importCode, storeCode, stderr })
    })
  })

/** Conversations in the database (what was committed, whatever the commands said). */
const storedIn = (db) => {
  const handle = new Database(db, { readonly: true })
  try {
    return handle.prepare("SELECT count(*) AS n FROM conversations").get().n
  } finally {
    handle.close()
  }
}

const lastLog = (stderr) => {
  const lines = stderr.trim().split("\n")
  try {
    return JSON.parse(lines.at(-1))
  } catch {
    return { raw: lines.at(-1) }
  }
}

const results = { date: new Date().toISOString(), node: process.version, tweets, rounds, seed }
try {
  const file = path.join(work, "twcs.csv")
  log(`generating ${tweets} tweets…`)
  const generated = await generateTwcs({ tweets, out: file, seed })
  const bytes = fs.statSync(file).size
  results.file = { tweets: generated.tweets, threads: generated.threads, megabytes: Math.round(bytes / 1e5) / 10 }

  const referenceScript = path.join(work, "reference.mjs")
  fs.writeFileSync(referenceScript, REFERENCE)
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(work, "node_modules"))
  const ref = []
  const imp = []
  for (let round = 1; round <= rounds; round++) {
    const r = await run([referenceScript, file])
    if (r.code !== 0) throw new Error(`reference failed: ${r.stderr}`)
    const i = await run(["dist/main.js", "import-csv", file])
    if (i.code !== 0) throw new Error(`import-csv failed (${i.code}): ${i.stderr.slice(-2000)}`)
    ref.push(r.seconds)
    imp.push(i.seconds)
    log(`round ${round}: reference ${r.seconds.toFixed(2)} s, import-csv ${i.seconds.toFixed(2)} s (ratio ${(r.seconds / i.seconds).toFixed(2)}), import-csv peak RSS ${i.peakMb} MB`)
  }
  results.reference_seconds = ref
  results.import_csv_seconds = imp
  results.ratio = Math.round((median(ref) / median(imp)) * 100) / 100
  results.ratio_target = 0.5
  results.rows_per_second = Math.round(generated.tweets / median(imp))

  const stores = []
  for (let round = 1; round <= rounds; round++) {
    const db = path.join(work, `store-${round}.db`)
    const s = await run(["dist/main.js", "import-csv", file, "--store"], { INSIGHTD_DB: db })
    if (s.code !== 0) throw new Error(`import-csv --store failed (${s.code}): ${s.stderr.slice(-2000)}`)
    const summary = lastLog(s.stderr)
    stores.push({ seconds: s.seconds, stored: summary.stored, per_second: Math.round(summary.stored / s.seconds) })
    log(`store round ${round}: ${summary.stored} conversations in ${s.seconds.toFixed(2)} s = ${Math.round(summary.stored / s.seconds)}/s`)
    for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(db + suffix, { force: true })
  }
  results.store = stores
  results.store_conversations_per_second = median(stores.map((s) => s.per_second))
  results.store_target = 20_000

  const reference = { importer: path.join(work, "reference-import.mjs"), storer: path.join(work, "reference-store.mjs") }
  fs.writeFileSync(reference.importer, REFERENCE_IMPORT)
  fs.writeFileSync(reference.storer, REFERENCE_STORE)
  const pipes = []
  const referencePipes = []
  // Alternating rounds: the reference pair, then insightd's.
  for (let round = 1; round <= rounds; round++) {
    for (const [name, runs, how] of [["reference pipe", referencePipes, reference], ["pipe", pipes, undefined]]) {
      const db = path.join(work, `pipe-${round}.db`)
      const p = await runPipe(file, db, how)
      if (p.importCode !== 0 || p.storeCode !== 0) throw new Error(`${name} failed (${p.importCode} ${p.storeCode}): ${p.stderr.slice(-2000)}`)
      const stored = storedIn(db)
      runs.push({ seconds: p.seconds, stored, per_second: Math.round(stored / p.seconds) })
      log(`${name} round ${round}: ${stored} conversations in ${p.seconds.toFixed(2)} s = ${Math.round(stored / p.seconds)}/s`)
      for (const suffix of ["", "-wal", "-shm", ".import.err", ".store.err"]) fs.rmSync(db + suffix, { force: true })
    }
  }
  results.pipe = pipes
  results.reference_pipe = referencePipes
  results.pipe_conversations_per_second = median(pipes.map((p) => p.per_second))
  results.reference_pipe_conversations_per_second = median(referencePipes.map((p) => p.per_second))
  results.pipe_ratio = Math.round((results.pipe_conversations_per_second / results.reference_pipe_conversations_per_second) * 100) / 100
  results.pipe_target = 20_000

  // Start-up: what every command pays before any work (node alone as the floor).
  const helpRuns = []
  const bareRuns = []
  for (let round = 1; round <= Math.max(rounds === 1 ? 3 : 5, rounds); round++) {
    bareRuns.push((await run(["-e", ""])).seconds)
    helpRuns.push((await run(["dist/main.js", "--help"])).seconds)
  }
  results.help_seconds = median(helpRuns)
  results.node_alone_seconds = median(bareRuns)
  log(`start-up: insightd --help ${results.help_seconds.toFixed(2)} s, node alone ${results.node_alone_seconds.toFixed(2)} s (medians)`)

  const storeMedian = median(stores.map((s) => s.seconds))
  const pipeMedian = median(pipes.map((p) => p.seconds))
  results.table = [
    {
      measure: `import-csv, ${Math.round(generated.tweets / 1000)} k generated tweets → JSONL: rows/s (reference: bare csv-parse → JSON)`,
      insightd: results.rows_per_second,
      reference: Math.round(generated.tweets / median(ref)),
      ratio: results.ratio,
      target: "≥ 0.5 × reference",
      met: results.ratio >= 0.5
    },
    {
      measure: `import-csv FILE | store (${generated.threads} conversations, until both exit): conversations/s (reference: bare csv-parse + in-memory threads | bare better-sqlite3 inserts)`,
      insightd: results.pipe_conversations_per_second,
      reference: results.reference_pipe_conversations_per_second,
      ratio: results.pipe_ratio,
      target: "≥ 20,000/s",
      met: results.pipe_conversations_per_second >= 20_000
    },
    {
      measure: "import-csv FILE --store: conversations/s",
      insightd: results.store_conversations_per_second,
      reference: null,
      ratio: null,
      target: "≥ 20,000/s",
      met: results.store_conversations_per_second >= 20_000
    },
    {
      measure: "start-up: `insightd --help` s (reference: `node -e ''`)",
      insightd: Math.round(results.help_seconds * 100) / 100,
      reference: Math.round(results.node_alone_seconds * 100) / 100,
      ratio: null,
      target: "—",
      met: null
    }
  ]
  results.runs = [
    ...ref.map((seconds, i) => ({ round: i + 1, reference_s: Math.round(seconds * 100) / 100, import_csv_s: Math.round(imp[i] * 100) / 100 })),
    ...stores.map((x, i) => ({ round: i + 1, store_s: Math.round(x.seconds * 100) / 100, stored: x.stored })),
    ...pipes.map((x, i) => ({ round: i + 1, pipe_s: Math.round(x.seconds * 100) / 100, reference_pipe_s: Math.round(referencePipes[i].seconds * 100) / 100, stored: x.stored }))
  ]
  log(`medians: --store ${storeMedian.toFixed(2)} s, pipe ${pipeMedian.toFixed(2)} s`)

  if (args.big) {
    const big = path.join(work, "twcs-big.csv")
    log("generating 2.8 M tweets…")
    const bigGenerated = await generateTwcs({ tweets: 2_800_000, out: big, seed })
    fs.rmSync(file, { force: true })
    const b = await run(["dist/main.js", "import-csv", big])
    if (b.code !== 0) throw new Error(`import-csv (big) failed (${b.code}): ${b.stderr.slice(-2000)}`)
    results.big = {
      tweets: bigGenerated.tweets,
      megabytes: Math.round(fs.statSync(big).size / 1e5) / 10,
      seconds: Math.round(b.seconds * 10) / 10,
      peak_rss_mb: b.peakMb,
      target_mb: 1024
    }
    log(`big: ${bigGenerated.tweets} tweets in ${b.seconds.toFixed(1)} s, peak RSS ${b.peakMb} MB`)
    results.table.push({
      measure: `import-csv of ${(bigGenerated.tweets / 1e6).toFixed(1)} M generated tweets: peak RSS MB`,
      insightd: b.peakMb,
      reference: null,
      ratio: null,
      target: "≤ 1,024 MB",
      met: b.peakMb <= 1024
    })
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}
const resultsDir = path.join(BENCH_DIR, "results")
fs.mkdirSync(resultsDir, { recursive: true })
fs.writeFileSync(path.join(resultsDir, "import-csv.json"), `${JSON.stringify(results, null, 2)}\n`)
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`)
