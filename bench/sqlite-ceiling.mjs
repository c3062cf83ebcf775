#!/usr/bin/env node
// What SQLite alone allows on this machine: the ceiling under the absolute write targets
// (bulk ≥ 100,000 conversations/s, `import-csv | store` ≥ 20,000/s).
//
// A bare better-sqlite3 loop inserts rows into the daemon's own schema (a fresh database made by
// `insightd migrate`) with the durability the daemon keeps: WAL, synchronous FULL, 512 rows per
// INSERT as the Store does. Only BEGIN / INSERT / COMMIT are timed; the parameters are built
// beforehand, so there is no HTTP, JSON, validation or Effect in the figure. Two row shapes:
//   bulk  the conversations bench/bulk.mjs posts (makeConversations), 1,000 per transaction
//         (one bulk request);
//   twcs  the conversations `import-csv` makes of a generated 200 k-tweet file (threads with
//         their messages, metadata and raw JSON), 2,000 per transaction (the reference store's).
// A target above the ceiling cannot be met by any code that keeps those guarantees here.
//
//   npm run build && node bench/sqlite-ceiling.mjs [--rounds=3] [--rows=200000] [--tweets=200000]
// Results: bench/results/sqlite-ceiling.json
import { spawnSync } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import Database from "better-sqlite3"
import { generateTwcs } from "./gen-twcs.mjs"
import { fmt, freshDir, makeConversations, median, parseArgs, removeDir, REPO, round, writeResult } from "./lib.mjs"

const args = parseArgs()
const rounds = Number(args.rounds ?? 3)
const bulkRows = Number(args.rows ?? 200_000)
const tweets = Number(args.tweets ?? 200_000)
const ROWS_PER_INSERT = 512
const MAIN = process.env.BENCH_ENTRY ?? path.join(REPO, "dist", "main.js")
const dir = freshDir("sqlite-ceiling")
const log = (line) => process.stderr.write(`${line}\n`)

/** A fresh database with the daemon's schema, made by the daemon itself. */
const freshDatabase = (name) => {
  const file = path.join(dir, `${name}.db`)
  for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(file + suffix, { force: true })
  const migrated = spawnSync(process.execPath, [MAIN, "migrate"], { env: { ...process.env, INSIGHTD_DB: file, INSIGHTD_LOG_LEVEL: "error" }, encoding: "utf8" })
  if (migrated.status !== 0) throw new Error(`insightd migrate failed: ${migrated.stderr}`)
  return file
}

const now = new Date().toISOString()
/** The Store's column values for one conversation (content_hash unused, as in the Store). */
const rowOf = (c, raw) => [c.id, c.text, c.author, c.timestamp, c.messages ? JSON.stringify(c.messages) : null, c.metadata ? JSON.stringify(c.metadata) : null, raw, "", "pending", 0, now, now]
const COLUMNS = "(id, text, author, timestamp, messages, metadata, raw, content_hash, status, attempts, received_at, updated_at)"

/** Inserts `rows` (column arrays) in transactions of `perTransaction`; returns rows/s of the timed loop. */
const insertAll = (file, rows, perTransaction) => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = FULL")
  db.pragma("temp_store = MEMORY")
  const statements = new Map()
  const statementFor = (n) => {
    if (!statements.has(n)) statements.set(n, db.prepare(`INSERT INTO conversations ${COLUMNS} VALUES ${Array(n).fill("(?,?,?,?,?,?,?,?,?,?,?,?)").join(",")}`))
    return statements.get(n)
  }
  const params = []
  for (let t = 0; t < rows.length; t += perTransaction) {
    const tx = rows.slice(t, t + perTransaction)
    const chunks = []
    for (let i = 0; i < tx.length; i += ROWS_PER_INSERT) chunks.push(tx.slice(i, i + ROWS_PER_INSERT).flat())
    params.push(chunks)
  }
  const started = performance.now()
  for (const chunks of params) {
    db.exec("BEGIN")
    for (const chunk of chunks) statementFor(chunk.length / 12).run(...chunk)
    db.exec("COMMIT")
  }
  const ms = performance.now() - started
  const stored = db.prepare("SELECT COUNT(*) FROM conversations").pluck().get()
  db.close()
  if (stored !== rows.length) throw new Error(`${stored} rows stored, ${rows.length} inserted`)
  return { perSecond: (rows.length / ms) * 1000, usPerRow: (ms * 1000) / rows.length }
}

// Bulk-shaped rows: what bench/bulk.mjs sends, with the ids and UTC times the daemon would store.
const bulk = makeConversations(7, bulkRows).map((c, i) => {
  const raw = JSON.stringify(c)
  return rowOf({ ...c, id: `conv_01KBENCH${String(i).padStart(16, "0")}`, timestamp: new Date(c.timestamp).toISOString(), messages: null, metadata: null }, raw)
})

// twcs-shaped rows: import-csv's own output for a generated file.
const csv = path.join(dir, "twcs.csv")
await generateTwcs({ tweets, out: csv, seed: 42 })
const imported = spawnSync(process.execPath, [MAIN, "import-csv", csv], { env: { ...process.env, INSIGHTD_LOG_LEVEL: "error" }, encoding: "utf8", maxBuffer: 1 << 30 })
if (imported.status !== 0) throw new Error(`import-csv failed: ${imported.stderr}`)
const twcs = imported.stdout.trim().split("\n").map((line) => rowOf(JSON.parse(line), line))
const twcsBytes = twcs.reduce((sum, row) => sum + row.reduce((s, v) => s + (typeof v === "string" ? v.length : 8), 0), 0) / twcs.length

const runs = []
for (let r = 1; r <= rounds; r++) {
  for (const [shape, rows, perTransaction] of [["bulk", bulk, 1000], ["twcs", twcs, 2000]]) {
    const result = insertAll(freshDatabase(`${shape}-${r}`), rows, perTransaction)
    runs.push({ round: r, shape, rows: rows.length, perTransaction, perSecond: Math.round(result.perSecond), usPerRow: round(result.usPerRow, 2) })
    log(`  round ${r} ${shape.padEnd(4)} ${fmt(result.perSecond).padStart(8)} rows/s  (${result.usPerRow.toFixed(2)} µs/row, ${fmt(rows.length)} rows)`)
  }
}
removeDir(dir)

const medianOf = (shape) => Math.round(median(runs.filter((x) => x.shape === shape).map((x) => x.perSecond)))
const table = [
  {
    measure: `SQLite alone (bare better-sqlite3 loop, daemon schema, WAL + synchronous FULL, ${ROWS_PER_INSERT}/INSERT): bulk-shaped rows, 1,000 per transaction, rows/s — the ceiling under the bulk target`,
    insightd: null,
    reference: medianOf("bulk"),
    ratio: null,
    target: "≥ 100,000/s needs this ≫ 100,000",
    met: null
  },
  {
    measure: `SQLite alone, the same loop: import-csv's rows (${fmt(twcs.length)} threads, ~${fmt(twcsBytes)} bytes of columns each), 2,000 per transaction, rows/s — the ceiling under \`import-csv | store\``,
    insightd: null,
    reference: medianOf("twcs"),
    ratio: null,
    target: "≥ 20,000/s needs this ≫ 20,000",
    met: null
  }
]
for (const row of table) console.log(`${row.measure}: ${fmt(row.reference)}`)
console.log(`wrote ${writeResult("sqlite-ceiling", { benchmark: "sqlite-ceiling", settings: { rounds, bulkRows, tweets, rowsPerInsert: ROWS_PER_INSERT }, table, runs, node: process.version, measuredAt: new Date().toISOString() })}`)
