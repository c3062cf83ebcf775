// Reference ingest server for bench/ingest.mjs: bare node:http + better-sqlite3 doing the honest
// equivalent of insightd's POST /api/v1/conversations, and nothing more:
//   read the body (1 MiB limit), JSON.parse, minimal validation (author string, timestamp
//   parseable, text 1..20000), assign a conv_<ULID> id, group commit (queue; on setImmediate
//   insert everything queued in ONE transaction), then 202 JSON + Location, only after commit.
// Same table, columns and index as insightd's `conversations` (src/store/migrations.ts);
// WAL + synchronous=FULL.  Env: INSIGHTD_PORT, INSIGHTD_HOST, INSIGHTD_DB (like the daemon).
// POST /api/v1/conversations/bulk (bench/bulk.mjs): read the body (16 MiB), JSON array or NDJSON
// (Content-Type application/x-ndjson), the same minimal validation per item (any invalid → 400,
// none stored), ≤ 1,000 items, ids, ONE transaction for the request, then 202 with the ids.
import Database from "better-sqlite3"
import { randomFillSync } from "node:crypto"
import { createServer } from "node:http"
import { monotonicFactory } from "ulid"

const port = Number(process.env.INSIGHTD_PORT ?? 8081)
const host = process.env.INSIGHTD_HOST ?? "127.0.0.1"
const file = process.env.INSIGHTD_DB ?? "reference.db"
const MAX_BODY = 1024 * 1024
const MAX_GROUP = 2048
const MAX_BULK_BODY = 16 * 1024 * 1024
const MAX_BULK_ITEMS = 1000

const db = new Database(file)
db.pragma("journal_mode = WAL")
db.pragma("synchronous = FULL")
db.exec(`CREATE TABLE IF NOT EXISTS conversations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  text TEXT NOT NULL,
  author TEXT NOT NULL,
  timestamp TEXT NOT NULL,
  messages TEXT,
  metadata TEXT,
  raw TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  claimed_by TEXT,
  claimed_at TEXT,
  received_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_status_seq ON conversations (status, seq);`)

const insert = db.prepare(`INSERT INTO conversations
  (id, text, author, timestamp, messages, metadata, raw, content_hash, status, attempts, received_at, updated_at)
  VALUES (?, ?, ?, ?, NULL, NULL, ?, '', 'pending', 0, ?, ?)`)
const insertAll = db.transaction((rows, now) => {
  for (const { row } of rows) insert.run(row.id, row.text, row.author, row.timestamp, row.raw, now, now)
})

const pool = new Uint8Array(4096)
let poolNext = pool.length
const nextUlid = monotonicFactory(() => {
  if (poolNext >= pool.length) {
    randomFillSync(pool)
    poolNext = 0
  }
  return pool[poolNext++] / 0x100
})

let queue = []
let scheduled = false

const flush = () => {
  scheduled = false
  const batch = queue.length > MAX_GROUP ? queue.splice(0, MAX_GROUP) : queue
  if (batch === queue) queue = []
  if (queue.length > 0) {
    scheduled = true
    setImmediate(flush)
  }
  try {
    insertAll(batch, new Date().toISOString())
  } catch (error) {
    for (const { res } of batch) reply(res, 503, { error: "unavailable", message: String(error.message) })
    return
  }
  for (const { row, res } of batch) {
    const body = JSON.stringify({ status: "accepted", conversation_id: row.id, message: "Conversation queued for analysis" })
    res.writeHead(202, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      location: `/api/v1/conversations/${row.id}`
    })
    res.end(body)
  }
}

const reply = (res, status, payload) => {
  const body = JSON.stringify(payload)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
  res.end(body)
}

const invalid = (res, field, message) => reply(res, 400, { error: "invalid_schema", message, details: [{ field, message }] })

/** The item's row, or the reason it is invalid (the same minimal checks as a single POST). */
const toRow = (json, raw) => {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return "a conversation must be a JSON object"
  if (typeof json.author !== "string" || json.author.length === 0) return "author must be a non-empty string"
  const millis = typeof json.timestamp === "string" ? Date.parse(json.timestamp) : NaN
  if (Number.isNaN(millis)) return "timestamp must be an ISO-8601 date-time"
  if (typeof json.text !== "string" || json.text.length < 1 || json.text.length > 20_000) return "text must be 1..20000 characters"
  return { id: `conv_${nextUlid()}`, text: json.text, author: json.author, timestamp: new Date(millis).toISOString(), raw }
}

const bulk = (req, res) => {
  const type = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase()
  const ndjson = type === "application/x-ndjson"
  if (type !== "" && type !== "application/json" && !ndjson) return reply(res, 415, { error: "unsupported_media_type", message: "send application/json or application/x-ndjson" })
  const chunks = []
  let size = 0
  let tooLarge = false
  req.on("data", (chunk) => {
    size += chunk.length
    if (size > MAX_BULK_BODY) tooLarge = true
    else chunks.push(chunk)
  })
  req.on("end", () => {
    if (tooLarge) return reply(res, 413, { error: "payload_too_large", message: "body over 16 MiB" })
    const text = Buffer.concat(chunks).toString("utf8")
    // Each item keeps its own JSON text as `raw`: the NDJSON line, or the item re-serialised.
    let items
    try {
      items = ndjson
        ? text.split("\n").filter((line) => line.trim() !== "").map((line) => [JSON.parse(line), line])
        : JSON.parse(text).map((item) => [item, JSON.stringify(item)])
    } catch {
      return invalid(res, "(body)", ndjson ? "not valid NDJSON" : "not a JSON array")
    }
    if (items.length === 0 || items.length > MAX_BULK_ITEMS) return invalid(res, "(body)", `1..${MAX_BULK_ITEMS} conversations per request`)
    const rows = []
    for (let i = 0; i < items.length; i++) {
      const row = toRow(items[i][0], items[i][1])
      if (typeof row === "string") return invalid(res, `[${i}]`, row)
      rows.push({ row })
    }
    try {
      insertAll(rows, new Date().toISOString())
    } catch (error) {
      return reply(res, 503, { error: "unavailable", message: String(error.message) })
    }
    reply(res, 202, { status: "accepted", accepted: rows.length, conversation_ids: rows.map(({ row }) => row.id) })
  })
}

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.method === "GET" && req.url === "/health") return reply(res, 200, { status: "ok" })
  if (req.method === "POST" && req.url === "/api/v1/conversations/bulk") return bulk(req, res)
  if (req.method !== "POST" || req.url !== "/api/v1/conversations") return reply(res, 404, { error: "not_found", message: "no such route" })
  const type = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase()
  if (type !== "" && type !== "application/json") return reply(res, 415, { error: "unsupported_media_type", message: "send application/json" })
  const chunks = []
  let size = 0
  let tooLarge = false
  req.on("data", (chunk) => {
    size += chunk.length
    if (size > MAX_BODY) tooLarge = true
    else chunks.push(chunk)
  })
  req.on("end", () => {
    if (tooLarge) return reply(res, 413, { error: "payload_too_large", message: "body over 1 MiB" })
    const raw = chunks.length === 1 ? chunks[0].toString("utf8") : Buffer.concat(chunks).toString("utf8")
    let json
    try {
      json = JSON.parse(raw)
    } catch {
      return invalid(res, "(body)", "not valid JSON")
    }
    if (json === null || typeof json !== "object" || Array.isArray(json)) return invalid(res, "(body)", "a conversation must be a JSON object")
    if (typeof json.author !== "string" || json.author.length === 0) return invalid(res, "author", "author must be a non-empty string")
    const millis = typeof json.timestamp === "string" ? Date.parse(json.timestamp) : NaN
    if (Number.isNaN(millis)) return invalid(res, "timestamp", "timestamp must be an ISO-8601 date-time")
    if (typeof json.text !== "string" || json.text.length < 1 || json.text.length > 20_000) return invalid(res, "text", "text must be 1..20000 characters")
    queue.push({
      row: { id: `conv_${nextUlid()}`, text: json.text, author: json.author, timestamp: new Date(millis).toISOString(), raw },
      res
    })
    if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
  })
})

server.listen(port, host)

const shutdown = () => {
  server.close()
  server.closeIdleConnections?.()
  setImmediate(() => {
    while (queue.length > 0) flush()
    db.close()
    process.exit(0)
  })
}
process.on("SIGTERM", shutdown)
process.on("SIGINT", shutdown)
