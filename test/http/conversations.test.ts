/**
 * SPEC §4 ingestion and conversation endpoints against the real daemon (built dist/, real
 * SQLite file, free loopback port): POST /api/v1/conversations, POST …/bulk, GET …/{id},
 * POST …/{id}/retry, and /health, /ready, /openapi.json, /docs. The inbound limit is off here
 * (INSIGHTD_RATE_LIMIT=0), which is also what the 300-request burst checks.
 */
import { gzipSync } from "node:zlib"
import Database from "better-sqlite3"
import { request as httpRequest } from "node:http"
import { connect } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { conversation, type RunningDaemon, startDaemon, waitFor } from "../support/server.js"
import { type ErrorBody, expectError, fieldsOf, makeClient } from "./helpers.js"

let daemon: RunningDaemon
const client = makeClient(() => daemon)
const { get, post, getJson } = client

const ID_PATTERN = /^conv_[A-Za-z0-9_-]{1,64}$/
const CONVERSATION_KEYS = ["attempts", "author", "id", "insight", "last_error", "messages", "metadata", "received_at", "status", "text", "timestamp", "updated_at"]

interface Accepted {
  status: string
  conversation_id: string
  message: string
}
interface BulkAccepted {
  status: string
  accepted: number
  conversation_ids: Array<string>
}
interface ConversationView {
  id: string
  text: string
  author: string
  timestamp: string
  messages: Array<Record<string, unknown>> | null
  metadata: Record<string, unknown> | null
  status: string
  attempts: number
  last_error: string | null
  received_at: string
  updated_at: string
  insight: Record<string, unknown> | null
}

/** Read-only peek at the daemon's database (WAL lets it read while the daemon writes). */
const readDb = <T>(query: (db: Database.Database) => T): T => {
  const db = new Database(daemon.dbPath, { readonly: true, fileMustExist: true })
  try {
    return query(db)
  } finally {
    db.close()
  }
}
const rowCount = (id: string) => (readDb((db) => db.prepare("SELECT COUNT(*) AS n FROM conversations WHERE id = ?").get(id)) as { n: number }).n

const waitCompleted = async (id: string) => {
  let view = {} as ConversationView
  await waitFor(async () => {
    view = await getJson<ConversationView>(`/api/v1/conversations/${id}`)
    return view.status === "completed"
  }, 20_000, `${id} completed`)
  return view
}

/**
 * Sends a body with Transfer-Encoding: chunked (no Content-Length), so the size limit has to be
 * enforced while reading. Resolves with the status and body, or the socket error if the server
 * cut the upload short before a response arrived.
 */
const postChunked = (path: string, chunks: Array<string>) =>
  new Promise<{ status: number; body: string; connection: string | undefined } | { error: string }>((resolve) => {
    const req = httpRequest(`${daemon.baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json", "transfer-encoding": "chunked" } }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (c: string) => (body += c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }))
    })
    req.on("error", (error) => resolve({ error: error.message }))
    const writeNext = (i: number) => {
      if (i >= chunks.length) return req.end()
      const more = req.write(chunks[i])
      if (more) setImmediate(() => writeNext(i + 1))
      else req.once("drain", () => writeNext(i + 1))
    }
    writeNext(0)
  })

beforeAll(async () => {
  daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
})
afterAll(async () => {
  if (daemon === undefined) return
  expect(await daemon.stop()).toBe(0)
  daemon.cleanup()
  expect(client.serverErrors(), "no response may be a 500").toEqual([])
})

describe("POST /api/v1/conversations", () => {
  it("202 with exactly the accepted body and a Location header; the row is committed before the 202", async () => {
    const response = await post("/api/v1/conversations", conversation())
    expect(response.status).toBe(202)
    expect(response.headers.get("content-type")).toMatch(/^application\/json/)
    const body = (await response.json()) as Accepted
    expect(body).toEqual({ status: "accepted", conversation_id: body.conversation_id, message: "Conversation queued for analysis" })
    expect(body.conversation_id).toMatch(ID_PATTERN)
    expect(response.headers.get("location")).toBe(`/api/v1/conversations/${body.conversation_id}`)
    expect(rowCount(body.conversation_id)).toBe(1)
    expect((await get(response.headers.get("location")!)).status).toBe(200)
  })

  it("generated ids match the id pattern and sort in creation order", async () => {
    const ids: Array<string> = []
    for (let i = 0; i < 25; i++) {
      const response = await post("/api/v1/conversations", conversation({ text: `order check ${i}` }))
      expect(response.status).toBe(202)
      ids.push(((await response.json()) as Accepted).conversation_id)
    }
    for (const id of ids) expect(id).toMatch(ID_PATTERN)
    expect(new Set(ids).size).toBe(ids.length)
    expect([...ids].sort()).toEqual(ids)
  })

  it("keeps the client's id (up to 64 characters after conv_)", async () => {
    for (const id of ["conv_client-id_1", `conv_${"a".repeat(64)}`]) {
      const response = await post("/api/v1/conversations", conversation({ id }))
      expect(response.status).toBe(202)
      expect(((await response.json()) as Accepted).conversation_id).toBe(id)
      expect(response.headers.get("location")).toBe(`/api/v1/conversations/${id}`)
      expect((await getJson<ConversationView>(`/api/v1/conversations/${id}`)).id).toBe(id)
    }
  })

  it("accepts a messages thread without text and derives the text from it; timestamps become UTC", async () => {
    const input = {
      id: "conv_thread_only",
      author: "@ana",
      timestamp: "2024-05-01T12:00:00+02:00",
      messages: [
        { author: "@ana", text: "I was charged twice for one order", timestamp: "2024-05-01T12:00:00+02:00", inbound: true },
        { author: "@shop", text: "Sorry, the refund is on its way", timestamp: "2024-05-01T12:05:00+02:00", inbound: false }
      ]
    }
    expect((await post("/api/v1/conversations", input)).status).toBe(202)
    const stored = await getJson<ConversationView>("/api/v1/conversations/conv_thread_only")
    expect(stored.text).toContain("I was charged twice for one order")
    expect(stored.text).toContain("Sorry, the refund is on its way")
    expect(stored.timestamp).toBe("2024-05-01T10:00:00.000Z")
    expect(stored.messages).toHaveLength(2)
    expect(stored.messages![0]).toMatchObject({ author: "@ana", text: "I was charged twice for one order", inbound: true })
  })

  it("takes back what GET gave: an optional field sent as null counts as left out (raw keeps the null)", async () => {
    const created = await post("/api/v1/conversations", { id: null, author: "@ana", timestamp: "2024-05-01T12:00:00Z", text: "where is my parcel", messages: null, metadata: null })
    expect(created.status).toBe(202)
    const id = ((await created.json()) as { conversation_id: string }).conversation_id
    expect(id).toMatch(/^conv_/)
    const stored = await getJson<ConversationView>(`/api/v1/conversations/${id}`)
    expect({ text: stored.text, messages: stored.messages, metadata: stored.metadata }).toEqual({ text: "where is my parcel", messages: null, metadata: null })
    // Sent back as read (status and the rest are extra fields, kept in raw): accepted again.
    const again = await post("/api/v1/conversations", { ...stored, id: "conv_sent_back" })
    expect(again.status).toBe(202)
    // text null with a thread: the text is derived, as when it is left out.
    const thread = await post("/api/v1/conversations", {
      id: "conv_text_null",
      author: "@ana",
      timestamp: "2024-05-01T12:00:00Z",
      text: null,
      messages: [{ author: "@ana", text: "charged twice", timestamp: "2024-05-01T12:00:00Z" }]
    })
    expect(thread.status).toBe(202)
    expect((await getJson<ConversationView>("/api/v1/conversations/conv_text_null")).text).toBe("charged twice")
    // Null is not a value for a required field, nor a thread's only source of text.
    await expectError(await post("/api/v1/conversations", { author: null, timestamp: "2024-05-01T12:00:00Z", text: "x" }), 400, "invalid_schema")
    const neither = await expectError(await post("/api/v1/conversations", { author: "a", timestamp: "2024-05-01T12:00:00Z", text: null, messages: null }), 400, "invalid_schema")
    expect(fieldsOf(neither)).toContain("text")
  })

  it("a text derived from a long thread keeps the 20,000-character limit (cut with …); the messages stay whole", async () => {
    const long = (letter: string) => letter.repeat(15_000)
    const created = await post("/api/v1/conversations", {
      author: "@customer",
      timestamp: "2024-05-01T12:00:00Z",
      messages: ["a", "b", "c"].map((letter) => ({ author: "@customer", text: long(letter), timestamp: "2024-05-01T12:00:00Z" }))
    })
    expect(created.status).toBe(202)
    const { conversation_id } = (await created.json()) as Accepted
    const stored = await getJson<ConversationView>(`/api/v1/conversations/${conversation_id}`)
    expect(stored.text.length).toBe(20_000)
    expect(stored.text.endsWith("…")).toBe(true)
    expect(stored.text.startsWith(`${long("a")}\n${"b".repeat(100)}`)).toBe(true)
    expect(stored.messages?.map((message) => String(message.text).length)).toEqual([15_000, 15_000, 15_000])
    // Counted in characters (code points), as a given text is: two messages of 12,000 emoji are
    // cut to 19,999 characters and "…" (not to 20,000 UTF-16 units, half of that).
    const emoji = await post("/api/v1/conversations", {
      author: "@customer",
      timestamp: "2024-05-01T12:00:00Z",
      messages: [1, 2].map(() => ({ author: "@customer", text: "😀".repeat(12_000), timestamp: "2024-05-01T12:00:00Z" }))
    })
    expect(emoji.status).toBe(202)
    const emojiText = (await getJson<ConversationView>(`/api/v1/conversations/${((await emoji.json()) as Accepted).conversation_id}`)).text
    expect([...emojiText].length).toBe(20_000)
    expect(emojiText).toBe(`${"😀".repeat(12_000)}\n${"😀".repeat(7_998)}…`)
  })

  it("accepts unknown top-level fields and keeps them in raw, exactly as submitted", async () => {
    const body = `{"id":"conv_unknown_fields","author":"@bo","timestamp":"2024-05-01T12:00:00Z","text":"hello","priority":"high","nested":{"a":[1,2,{"b":null}]},"metadata":{"channel":"chat"}}`
    expect((await post("/api/v1/conversations", body)).status).toBe(202)
    const stored = await getJson<ConversationView>("/api/v1/conversations/conv_unknown_fields")
    expect(stored.metadata).toEqual({ channel: "chat" })
    expect(stored).not.toHaveProperty("priority")
    const raw = readDb((db) => db.prepare("SELECT raw FROM conversations WHERE id = ?").get("conv_unknown_fields")) as { raw: string }
    expect(raw.raw).toBe(body)
  })

  it("ignores a UTF-8 byte order mark before a JSON body (single and bulk), keeping raw without it", async () => {
    const single = `{"id":"conv_bom_single","author":"@bo","timestamp":"2024-05-01T12:00:00Z","text":"sent from a Windows tool"}`
    expect((await post("/api/v1/conversations", `\ufeff${single}`)).status).toBe(202)
    const item = `{"id":"conv_bom_bulk","author":"@bo","timestamp":"2024-05-01T12:00:00Z","text":"bulk with a BOM"}`
    expect((await post("/api/v1/conversations/bulk", `\ufeff[${item}]`)).status).toBe(202)
    const raws = readDb((db) => db.prepare("SELECT raw FROM conversations WHERE id IN ('conv_bom_bulk', 'conv_bom_single') ORDER BY id").pluck().all()) as Array<string>
    expect(raws).toEqual([item, single])
  })

  it("refuses a body that is not valid UTF-8 rather than storing U+FFFD for the bad bytes (single and bulk)", async () => {
    const bytes = (text: string) => Buffer.concat([Buffer.from(text.slice(0, text.indexOf("@@"))), Buffer.from([0xff, 0xfe]), Buffer.from(text.slice(text.indexOf("@@") + 2))])
    const single = bytes(`{"id":"conv_not_utf8","author":"@bo","timestamp":"2024-05-01T12:00:00Z","text":"bad @@ bytes"}`)
    const bulk = bytes(`{"id":"conv_not_utf8_bulk","author":"@bo","timestamp":"2024-05-01T12:00:00Z","text":"bad @@ bytes"}\n`)
    for (const [path, body, type] of [
      ["/api/v1/conversations", single, "application/json"],
      ["/api/v1/conversations/bulk", bulk, "application/x-ndjson"]
    ] as const) {
      const response = await fetch(`${daemon.baseUrl}${path}`, { method: "POST", headers: { "content-type": type }, body })
      expect(response.status, path).toBe(400)
      expect(await response.json(), path).toEqual({
        error: "invalid_schema",
        message: "body is not valid UTF-8 (JSON must be sent as UTF-8)",
        details: [{ field: "(body)", message: "not valid UTF-8" }]
      })
    }
    const stored = readDb((db) => db.prepare("SELECT COUNT(*) FROM conversations WHERE id IN ('conv_not_utf8', 'conv_not_utf8_bulk')").pluck().get())
    expect(stored).toBe(0)
  })

  it("accepts text of exactly 20,000 characters and application/json with a charset", async () => {
    const response = await post("/api/v1/conversations", conversation({ text: "x".repeat(20_000) }), { "content-type": "application/json; charset=utf-8" })
    expect(response.status).toBe(202)
  })

  it("400 invalid_schema naming the field, for each kind of mistake, never with a stack trace", async () => {
    const cases: Array<[string, unknown, string]> = [
      ["missing author", { timestamp: "2024-05-01T12:00:00Z", text: "x" }, "author"],
      ["author not a string", conversation({ author: 42 }), "author"],
      ["blank author", conversation({ author: "   " }), "author"],
      ["missing timestamp", { author: "a", text: "x" }, "timestamp"],
      ["bad timestamp", conversation({ timestamp: "last tuesday" }), "timestamp"],
      ["impossible date", conversation({ timestamp: "2024-02-31T25:61:00Z" }), "timestamp"],
      ["text too long", conversation({ text: "x".repeat(20_001) }), "text"],
      ["empty text", conversation({ text: "" }), "text"],
      ["neither text nor messages", { author: "a", timestamp: "2024-05-01T12:00:00Z" }, "text"],
      ["empty messages", { author: "a", timestamp: "2024-05-01T12:00:00Z", messages: [] }, "messages"],
      ["message without author", { author: "a", timestamp: "2024-05-01T12:00:00Z", messages: [{ text: "hi", timestamp: "2024-05-01T12:00:00Z" }] }, "messages.0.author"],
      ["bad id pattern", conversation({ id: "not-a-conv-id" }), "id"],
      ["id with a bad character", conversation({ id: "conv_has space" }), "id"],
      ["id too long", conversation({ id: `conv_${"a".repeat(65)}` }), "id"],
      ["metadata not an object", conversation({ metadata: "nope" }), "metadata"]
    ]
    for (const [what, body, field] of cases) {
      const error = await expectError(await post("/api/v1/conversations", body), 400, "invalid_schema")
      expect(fieldsOf(error), what).toContain(field)
      expect(error.message, what).toContain(field.split(".").pop()!)
    }
  })

  it("a text of spaces only is refused as such, not as an empty one", async () => {
    const error = await expectError(await post("/api/v1/conversations", conversation({ text: "   " })), 400, "invalid_schema")
    expect(error.message).toContain("text must not be empty or only whitespace")
  })

  it("names every bad field at once", async () => {
    const error = await expectError(await post("/api/v1/conversations", { author: 1, timestamp: "nope", text: "" }), 400, "invalid_schema")
    expect(fieldsOf(error)).toEqual(expect.arrayContaining(["author", "timestamp", "text"]))
  })

  it("400 for malformed JSON and for JSON that is not one object", async () => {
    for (const body of ["{ not json", '{"author": "a", "timestamp": "2024-05-01T12:00:00Z", "text": "x"', "", "null", "42", '"text"', "[]", JSON.stringify([conversation()])]) {
      const error = await expectError(await post("/api/v1/conversations", body), 400, "invalid_schema")
      expect(error.details.length, body).toBeGreaterThan(0)
    }
  })

  it("same id and same content is an idempotent 202 (keys in any order), never a duplicate row", async () => {
    const id = "conv_idempotent_1"
    const input = { id, author: "@idem", timestamp: "2024-05-01T12:00:00Z", text: "charged twice", metadata: { a: 1, b: 2 } }
    const reordered = { metadata: { b: 2, a: 1 }, text: "charged twice", timestamp: "2024-05-01T12:00:00Z", author: "@idem", id }
    for (const body of [input, input, reordered]) {
      const response = await post("/api/v1/conversations", body)
      expect(response.status).toBe(202)
      expect(((await response.json()) as Accepted).conversation_id).toBe(id)
    }
    expect(rowCount(id)).toBe(1)
    await waitCompleted(id)
    // Still one conversation and one insight for that author.
    const page = await getJson<{ metadata: { total_count: number } }>("/api/v1/insights?author=%40idem")
    expect(page.metadata.total_count).toBe(1)
  })

  it("409 conflict for the same id with different content; the stored conversation is unchanged", async () => {
    const id = "conv_conflict_1"
    expect((await post("/api/v1/conversations", conversation({ id, text: "original text" }))).status).toBe(202)
    const error = await expectError(await post("/api/v1/conversations", conversation({ id, text: "different text" })), 409, "conflict")
    expect(error.message).toContain(id)
    expect(error.details).toEqual([{ conversation_id: id }])
    await expectError(await post("/api/v1/conversations", conversation({ id, text: "original text", extra: true })), 409, "conflict")
    expect((await getJson<ConversationView>(`/api/v1/conversations/${id}`)).text).toBe("original text")
    expect(rowCount(id)).toBe(1)
  })

  it("413 payload_too_large for a body over 1 MiB, declared or chunked", async () => {
    const big = conversation({ text: "y".repeat(1_100_000) })
    const error = await expectError(await post("/api/v1/conversations", big), 413, "payload_too_large")
    expect(error.details).toEqual([{ limit_bytes: 1_048_576 }])
    // The client is still uploading when the answer comes: it must read the 413, not a reset
    // connection (closing at once lost the answer in about half of these).
    for (const size of [2_000_000, 4_000_000, 8_000_000, 3_000_000, 6_000_000]) {
      await expectError(await post("/api/v1/conversations", conversation({ text: "y".repeat(size) })), 413, "payload_too_large")
    }

    const piece = "z".repeat(64 * 1024)
    const chunks = ['{"author":"a","timestamp":"2024-05-01T12:00:00Z","text":"', ...Array.from({ length: 20 }, () => piece), '"}']
    const chunked = await postChunked("/api/v1/conversations", chunks)
    if ("error" in chunked) {
      // Only acceptable if the server answered and closed while we were still uploading.
      throw new Error(`chunked oversize upload got no response: ${chunked.error}`)
    }
    expect(chunked.status).toBe(413)
    expect(JSON.parse(chunked.body)).toMatchObject({ error: "payload_too_large" })
    // The rest of the body is never read: the connection must not carry another request (a
    // keep-alive client's next request on it waited forever).
    expect(chunked.connection).toBe("close")
    // The server still answers afterwards.
    expect((await get("/health")).status).toBe(200)
  })

  it("415 for a body that is not JSON", async () => {
    for (const [type, body] of [
      ["text/plain", JSON.stringify(conversation())],
      ["application/x-www-form-urlencoded", "author=a&timestamp=2024-05-01&text=hi"],
      ["application/xml", "<conversation/>"],
      ["application/x-ndjson", JSON.stringify(conversation())]
    ]) {
      const error = await expectError(await post("/api/v1/conversations", body, { "content-type": type }), 415, "unsupported_media_type")
      expect(error.message, type).toContain(type)
    }
  })

  it("Expect: 100-continue with a body over the limit gets its 413 before uploading anything; within the limit it continues", async () => {
    const ask = (path: string, length: number, body?: string) =>
      new Promise<{ status: number; continued: boolean; text: string }>((done, fail) => {
        let continued = false
        const request = httpRequest(`${daemon.baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json", "content-length": String(length), expect: "100-continue" } })
        request.on("continue", () => {
          continued = true
          request.end(body)
        })
        request.on("response", (response) => {
          let text = ""
          response.setEncoding("utf8")
          response.on("data", (chunk: string) => (text += chunk))
          response.on("end", () => done({ status: response.statusCode ?? 0, continued, text }))
        })
        request.on("error", fail)
        request.flushHeaders()
      })
    const bulk = await ask("/api/v1/conversations/bulk", 17 * 1024 * 1024)
    expect([bulk.status, bulk.continued]).toEqual([413, false])
    expect(JSON.parse(bulk.text)).toMatchObject({ error: "payload_too_large" })
    const single = await ask("/api/v1/conversations", 2 * 1024 * 1024)
    expect([single.status, single.continued]).toEqual([413, false])
    const body = JSON.stringify(conversation())
    const fine = await ask("/api/v1/conversations", Buffer.byteLength(body), body)
    expect([fine.status, fine.continued]).toEqual([202, true])
  })

  it("415 for a compressed body or a charset other than UTF-8, saying which; UTF-8 declared is fine", async () => {
    const body = JSON.stringify(conversation())
    const gzipped = await client.request("POST", "/api/v1/conversations", { body: gzipSync(body), headers: { "content-type": "application/json", "content-encoding": "gzip" } })
    expect((await expectError(gzipped, 415, "unsupported_media_type")).message).toContain("Content-Encoding gzip is not supported")
    const bulk = await post("/api/v1/conversations/bulk", JSON.stringify([conversation()]), { "content-type": "application/json", "content-encoding": "br" })
    expect((await expectError(bulk, 415, "unsupported_media_type")).message).toContain("Content-Encoding br")
    const latin1 = await post("/api/v1/conversations", body, { "content-type": "application/json; charset=latin1" })
    expect((await expectError(latin1, 415, "unsupported_media_type")).message).toContain("charset latin1 is not supported")
    for (const type of ["application/json; charset=utf-8", "application/json;charset=UTF-8", 'application/json; charset="utf-8"']) {
      expect((await post("/api/v1/conversations", body, { "content-type": type })).status, type).toBe(202)
    }
    expect((await post("/api/v1/conversations", body, { "content-type": "application/json", "content-encoding": "identity" })).status).toBe(202)
  })

  it("with the inbound limit off (INSIGHTD_RATE_LIMIT=0) a burst of 300 is all accepted", async () => {
    const responses = await Promise.all(Array.from({ length: 300 }, (_, i) => post("/api/v1/conversations", conversation({ text: `burst ${i}` }))))
    const statuses = responses.map((r) => r.status)
    expect(statuses.filter((s) => s !== 202)).toEqual([])
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as Accepted).conversation_id))
    expect(new Set(ids).size).toBe(300)
    const stored = readDb((db) => db.prepare(`SELECT COUNT(*) AS n FROM conversations WHERE id IN (${ids.map(() => "?").join(",")})`).get(...ids)) as { n: number }
    expect(stored.n).toBe(300)
  })
})

describe("POST /api/v1/conversations/bulk", () => {
  it("a JSON array → 202 with exactly {status, accepted, conversation_ids}, in item order, all stored", async () => {
    const items = Array.from({ length: 25 }, (_, i) => conversation({ text: `bulk item ${i}` }))
    items[3] = conversation({ id: "conv_bulk_client_3" })
    const response = await post("/api/v1/conversations/bulk", items)
    expect(response.status).toBe(202)
    const body = (await response.json()) as BulkAccepted
    expect(Object.keys(body).sort()).toEqual(["accepted", "conversation_ids", "status"])
    expect(body.status).toBe("accepted")
    expect(body.accepted).toBe(25)
    expect(body.conversation_ids).toHaveLength(25)
    expect(body.conversation_ids[3]).toBe("conv_bulk_client_3")
    for (const id of body.conversation_ids) expect(id).toMatch(ID_PATTERN)
    expect(new Set(body.conversation_ids).size).toBe(25)
    const generated = body.conversation_ids.filter((_, i) => i !== 3)
    expect([...generated].sort()).toEqual(generated)
    for (const [i, id] of body.conversation_ids.entries()) {
      const stored = await getJson<ConversationView>(`/api/v1/conversations/${id}`)
      expect(stored.text).toBe(i === 3 ? conversation().text : `bulk item ${i}`)
    }
  })

  it("keeps each JSON-array item's raw exactly as sent (spacing, escapes, number forms); the same items sent compact are the same content", async () => {
    const items = [
      `{ "id": "conv_raw_bulk_1", "author": "@b\u00e9a", "timestamp": "2024-05-01T12:00:00Z",\n  "text": "a, [b] \\"c\\"", "score": 1.50 }`,
      `{"id":"conv_raw_bulk_2","author":"@cy","timestamp":"2024-05-01T12:00:00Z","text":"x","metadata":{"n":1e2}}`
    ]
    const body = `[\n  ${items[0]} ,\n\t${items[1]}\n]`
    expect((await post("/api/v1/conversations/bulk", body)).status).toBe(202)
    const raws = readDb((db) => db.prepare("SELECT raw FROM conversations WHERE id IN ('conv_raw_bulk_1', 'conv_raw_bulk_2') ORDER BY id").pluck().all()) as Array<string>
    expect(raws).toEqual(items)
    expect((await getJson<ConversationView>("/api/v1/conversations/conv_raw_bulk_1")).author).toBe("@béa")
    const again = await post("/api/v1/conversations/bulk", items.map((item) => JSON.parse(item) as unknown))
    expect(again.status).toBe(202)
  })

  it("NDJSON with Content-Type application/x-ndjson → 202 (blank lines and CRLF tolerated)", async () => {
    const lines = [1, 2, 3].map((i) => JSON.stringify(conversation({ id: `conv_ndjson_${i}`, text: `ndjson ${i}` })))
    const body = `${lines[0]}\r\n\r\n${lines[1]}\n${lines[2]}\n`
    const response = await post("/api/v1/conversations/bulk", body, { "content-type": "application/x-ndjson" })
    expect(response.status).toBe(202)
    expect(await response.json()).toEqual({ status: "accepted", accepted: 3, conversation_ids: ["conv_ndjson_1", "conv_ndjson_2", "conv_ndjson_3"] })
    expect((await getJson<ConversationView>("/api/v1/conversations/conv_ndjson_2")).text).toBe("ndjson 2")
  })

  it("any invalid item → 400 naming each bad item's index and field, and nothing is stored", async () => {
    const items = [
      conversation({ id: "conv_atomic_1" }),
      conversation({ id: "conv_atomic_2", author: "" }),
      conversation({ id: "conv_atomic_3" }),
      conversation({ id: "conv_atomic_4", timestamp: "nope" }),
      conversation({ id: "conv_atomic_5", text: "x".repeat(20_001) })
    ]
    const error = await expectError(await post("/api/v1/conversations/bulk", items), 400, "invalid_schema")
    const named = error.details.map((d) => [d.index, d.field])
    expect(named).toEqual(
      expect.arrayContaining([
        [1, "author"],
        [3, "timestamp"],
        [4, "text"]
      ])
    )
    expect(error.details.every((d) => [1, 3, 4].includes(d.index as number))).toBe(true)
    for (const id of ["conv_atomic_1", "conv_atomic_2", "conv_atomic_3", "conv_atomic_4", "conv_atomic_5"]) {
      await expectError(await get(`/api/v1/conversations/${id}`), 404, "not_found")
    }
  })

  it("an invalid NDJSON item or line → 400 with its index, nothing stored", async () => {
    const good = JSON.stringify(conversation({ id: "conv_ndjson_bad_0" }))
    const missing = JSON.stringify({ id: "conv_ndjson_bad_1", timestamp: "2024-05-01T12:00:00Z", text: "no author" })
    let error = await expectError(await post("/api/v1/conversations/bulk", `${good}\n${missing}\n`, { "content-type": "application/x-ndjson" }), 400, "invalid_schema")
    expect(error.details.map((d) => [d.index, d.field])).toEqual([[1, "author"]])
    error = await expectError(await post("/api/v1/conversations/bulk", `${good}\n{broken json\n`, { "content-type": "application/x-ndjson" }), 400, "invalid_schema")
    expect(error.details[0]).toMatchObject({ index: 1, line: 2, field: "(body)" })
    // Every bad item in one answer: lines that are not JSON and items that fail the schema alike.
    const body = [good, "[1]", missing, "{bad", "", "{bad2", good.replace("conv_ndjson_bad_0", "conv_ndjson_bad_6")].join("\n")
    error = await expectError(await post("/api/v1/conversations/bulk", body, { "content-type": "application/x-ndjson" }), 400, "invalid_schema")
    expect(error.details.map((d) => [d.index, d.field])).toEqual([[1, "(body)"], [2, "author"], [3, "(body)"], [4, "(body)"]])
    expect(error.details.filter((d) => d.index === 3 || d.index === 4).map((d) => d.line)).toEqual([4, 6])
    expect(error.message).toMatch(/^4 of 6 items are invalid; nothing was stored: item 1: .*item 2: .*item 3: .*line 4 is not valid JSON.*item 4: .*line 6/)
    // Schema issues name the line too: with blank lines before it, item 1 is line 4.
    error = await expectError(await post("/api/v1/conversations/bulk", `${good}\n\n\n${missing}\n`, { "content-type": "application/x-ndjson" }), 400, "invalid_schema")
    expect(error.details).toEqual([expect.objectContaining({ index: 1, line: 4, field: "author" })])
    await expectError(await get("/api/v1/conversations/conv_ndjson_bad_0"), 404, "not_found")
    await expectError(await get("/api/v1/conversations/conv_ndjson_bad_6"), 404, "not_found")
  })

  it("a conflicting item rejects the whole bulk with 409, and nothing else is stored", async () => {
    expect((await post("/api/v1/conversations", conversation({ id: "conv_bulk_clash" }))).status).toBe(202)
    const items = [conversation({ id: "conv_bulk_fresh" }), conversation({ id: "conv_bulk_clash", text: "different" })]
    const error = await expectError(await post("/api/v1/conversations/bulk", items), 409, "conflict")
    // Each conflicting item named by its index, as a 400 names its bad items.
    expect(error.details).toEqual([{ index: 1, field: "id", conversation_id: "conv_bulk_clash", message: "already exists with different content" }])
    // An id twice in the bulk: both items named.
    const twice = [conversation({ id: "conv_bulk_clash", text: "different" }), conversation({ id: "conv_bulk_fresh" }), conversation({ id: "conv_bulk_clash", text: "different" })]
    const both = await expectError(await post("/api/v1/conversations/bulk", twice), 409, "conflict")
    expect(both.details.map((detail) => detail.index)).toEqual([0, 2])
    await expectError(await get("/api/v1/conversations/conv_bulk_fresh"), 404, "not_found")
  })

  it("resubmitting the same bulk is idempotent: 202, same ids, no duplicate rows", async () => {
    const items = [1, 2, 3].map((i) => conversation({ id: `conv_bulk_again_${i}`, text: `again ${i}` }))
    for (let round = 0; round < 2; round++) {
      const response = await post("/api/v1/conversations/bulk", items)
      expect(response.status).toBe(202)
      expect(((await response.json()) as BulkAccepted).conversation_ids).toEqual(["conv_bulk_again_1", "conv_bulk_again_2", "conv_bulk_again_3"])
    }
    for (const i of [1, 2, 3]) expect(rowCount(`conv_bulk_again_${i}`)).toBe(1)
  })

  it("more than 1,000 items → 413; 1,000 is accepted", async () => {
    const error = await expectError(await post("/api/v1/conversations/bulk", Array.from({ length: 1001 }, () => conversation())), 413, "payload_too_large")
    expect(error.message).toContain("1000")
    // The limit that was crossed: the item count, not the 16 MiB body size the body kept under.
    expect(error.details).toEqual([{ limit_items: 1000 }])
    const ndjson = Array.from({ length: 1001 }, () => JSON.stringify(conversation())).join("\n")
    await expectError(await post("/api/v1/conversations/bulk", ndjson, { "content-type": "application/x-ndjson" }), 413, "payload_too_large")
    const ok = await post("/api/v1/conversations/bulk", Array.from({ length: 1000 }, (_, i) => conversation({ text: `thousand ${i}` })))
    expect(ok.status).toBe(202)
    expect(((await ok.json()) as BulkAccepted).accepted).toBe(1000)
  })

  it("a body over 16 MiB → 413 even when every item is valid", async () => {
    const items = Array.from({ length: 900 }, () => conversation({ text: "w".repeat(19_500) }))
    await expectError(await post("/api/v1/conversations/bulk", items), 413, "payload_too_large")
  })

  it("an empty array, an empty NDJSON body or a non-array → 400", async () => {
    await expectError(await post("/api/v1/conversations/bulk", []), 400, "invalid_schema")
    await expectError(await post("/api/v1/conversations/bulk", "\n\n", { "content-type": "application/x-ndjson" }), 400, "invalid_schema")
    await expectError(await post("/api/v1/conversations/bulk", conversation()), 400, "invalid_schema")
    await expectError(await post("/api/v1/conversations/bulk", "[{"), 400, "invalid_schema")
  })

  it("415 for a bulk body that is neither JSON nor NDJSON", async () => {
    await expectError(await post("/api/v1/conversations/bulk", JSON.stringify([conversation()]), { "content-type": "text/plain" }), 415, "unsupported_media_type")
    await expectError(await post("/api/v1/conversations/bulk", "a=b", { "content-type": "application/x-www-form-urlencoded" }), 415, "unsupported_media_type")
  })
})

describe("GET /api/v1/conversations/{id}", () => {
  it("has exactly the SPEC field set; the insight is filled once analysed", async () => {
    const id = "conv_lifecycle_1"
    const input = conversation({ id, text: "I was charged twice and nobody answers. Terrible service.", metadata: { channel: "twitter" } })
    expect((await post("/api/v1/conversations", input)).status).toBe(202)
    const first = await getJson<ConversationView>(`/api/v1/conversations/${id}`)
    expect(Object.keys(first).sort()).toEqual(CONVERSATION_KEYS)
    expect(first).toMatchObject({ id, author: "@customer", timestamp: "2024-05-01T12:00:00.000Z", messages: null, metadata: { channel: "twitter" } })
    expect(["pending", "processing", "completed"]).toContain(first.status)
    // insight is null exactly until the conversation is analysed
    if (first.status !== "completed") expect(first.insight).toBeNull()
    expect(Number.isNaN(Date.parse(first.received_at))).toBe(false)

    const done = await waitCompleted(id)
    expect(Object.keys(done).sort()).toEqual(CONVERSATION_KEYS)
    expect(done.last_error).toBeNull()
    expect(done.attempts).toBeGreaterThanOrEqual(1)
    expect(done.updated_at >= done.received_at).toBe(true)
    const insight = done.insight!
    expect(insight).not.toBeNull()
    expect(insight.sentiment).toBe("negative")
    expect(insight.sentiment_score as number).toBeGreaterThanOrEqual(-1)
    expect(insight.sentiment_score as number).toBeLessThan(-0.1)
    expect(insight.confidence as number).toBeGreaterThanOrEqual(0)
    expect(insight.confidence as number).toBeLessThanOrEqual(1)
    expect(insight.analyzer).toMatch(/^local:/)
    const clusters = insight.clusters as Array<string>
    expect(clusters.length).toBeGreaterThanOrEqual(1)
    expect(clusters.length).toBeLessThanOrEqual(5)
    for (const c of clusters) expect(c).toMatch(/^[a-z0-9]+(_[a-z0-9]+)*$/)
    expect((insight.reasoning as string).length).toBeLessThanOrEqual(500)
    expect(Number.isNaN(Date.parse(insight.analyzed_at as string))).toBe(false)
  })

  it("404 not_found for unknown ids", async () => {
    for (const id of ["conv_does_not_exist", "whatever", "conv_", encodeURIComponent("conv_a/b"), `conv_${"q".repeat(64)}`]) {
      const error = await expectError(await get(`/api/v1/conversations/${id}`), 404, "not_found")
      expect(error.message).toContain("does not exist")
      expect(error.details).toEqual([])
    }
  })

  it("404 not_found with the JSON error body for a path no endpoint serves", async () => {
    for (const path of ["/api/v1/nope", "/api/v2/conversations", "/favicon.ico?x=1"]) {
      const error = await expectError(await get(path), 404, "not_found")
      expect(error.message).toContain(path.split("?")[0])
    }
  })

  it("405 method_not_allowed with Allow for a known path asked with another method (404 only for unknown paths)", async () => {
    for (const [method, path, allow] of [
      ["POST", "/health", "GET, HEAD"],
      ["DELETE", "/api/v1/conversations/conv_some_id", "GET, HEAD"],
      ["GET", "/api/v1/conversations/conv_some_id/retry", "POST"],
      ["GET", "/api/v1/conversations", "POST"],
      // The bulk route, not a conversation named "bulk" (GET …/{id} would match it otherwise).
      ["GET", "/api/v1/conversations/bulk", "POST"],
      ["DELETE", "/api/v1/conversations/bulk", "POST"],
      ["PUT", "/api/v1/insights?limit=1", "GET, HEAD"],
      ["POST", "/openapi.json", "GET, HEAD"]
    ] as const) {
      const response = await client.request(method, path)
      expect(response.headers.get("allow"), `${method} ${path}`).toBe(allow)
      const error = await expectError(response, 405, "method_not_allowed")
      expect(error.message).toBe(`${method} is not allowed on ${path.split("?")[0]}; it takes ${allow}`)
    }
    await expectError(await client.request("DELETE", "/api/v1/nope"), 404, "not_found")
  })

  it("404 not_found (JSON error body) also for an unknown id longer than 100 (or 1,000) characters", async () => {
    // Such an id can never exist, but it is still an unknown id: same 404 body as any other.
    for (const id of [`conv_${"q".repeat(96)}`, `conv_${"q".repeat(200)}`, `conv_${"q".repeat(996)}`, `conv_${"q".repeat(12_000)}`]) {
      await expectError(await get(`/api/v1/conversations/${id}`), 404, "not_found")
      await expectError(await post(`/api/v1/conversations/${id}/retry`, ""), 404, "not_found")
    }
  })
})

describe("POST /api/v1/conversations/{id}/retry", () => {
  it("404 for an unknown id", async () => {
    await expectError(await post("/api/v1/conversations/conv_does_not_exist/retry", ""), 404, "not_found")
  })

  it("409 for a conversation that has not failed (completed)", async () => {
    const id = "conv_retry_completed"
    await post("/api/v1/conversations", conversation({ id }))
    await waitCompleted(id)
    const error = await expectError(await post(`/api/v1/conversations/${id}/retry`, ""), 409, "conflict")
    expect(error.message).toContain(id)
    expect((await getJson<ConversationView>(`/api/v1/conversations/${id}`)).status).toBe("completed")
  })

  it("a failed conversation → 202, back to pending, and it ends completed", async () => {
    const id = "conv_retry_failed"
    await post("/api/v1/conversations", conversation({ id, text: "Thanks, the replacement arrived quickly!" }))
    await waitCompleted(id)
    const db = new Database(daemon.dbPath)
    try {
      db.pragma("busy_timeout = 5000")
      db.prepare("UPDATE conversations SET status = 'failed', last_error = 'simulated failure' WHERE id = ?").run(id)
    } finally {
      db.close()
    }
    const failed = await getJson<ConversationView>(`/api/v1/conversations/${id}`)
    expect(failed).toMatchObject({ status: "failed", last_error: "simulated failure" })

    const response = await post(`/api/v1/conversations/${id}/retry`, "")
    expect(response.status).toBe(202)
    expect(await response.json()).toEqual({ status: "accepted", conversation_id: id, message: "Conversation queued for analysis" })
    const done = await waitCompleted(id)
    expect(done.last_error).toBeNull()
    expect(done.insight).not.toBeNull()
    // A second retry of the now completed conversation is a conflict again.
    await expectError(await post(`/api/v1/conversations/${id}/retry`, ""), 409, "conflict")
  })
})

describe("hostile input never causes a 500", () => {
  it("odd bodies, ids and headers all get a 4xx with the error shape", async () => {
    const cases: Array<[string, string, Record<string, string>]> = [
      ["/api/v1/conversations", JSON.stringify(conversation({ metadata: JSON.parse(`{"a":${"[".repeat(1000)}${"]".repeat(1000)}}`) })), {}],
      ["/api/v1/conversations", '{"__proto__":{"polluted":true},"author":"a","timestamp":"x"}', {}],
      ["/api/v1/conversations", '{"author":"a","timestamp":"2024-05-01T12:00:00Z","text":"\\ud800"}', {}],
      ["/api/v1/conversations", JSON.stringify(conversation({ timestamp: "99999-01-01T00:00:00Z" })), {}],
      ["/api/v1/conversations", JSON.stringify(conversation({ messages: "not an array" })), {}],
      ["/api/v1/conversations/bulk", JSON.stringify([null, 1, "x", []]), {}],
      ["/api/v1/conversations/bulk", "null", {}],
      ["/api/v1/conversations/bulk", "\u0000\u0001", { "content-type": "application/x-ndjson" }]
    ]
    for (const [path, body, headers] of cases) {
      const response = await post(path, body, headers)
      expect(response.status, `${path} ${body.slice(0, 60)}`).toBeLessThan(500)
      if (response.status >= 400) {
        const parsed = JSON.parse(await response.text()) as ErrorBody
        expect(typeof parsed.error).toBe("string")
      } else await response.text()
    }
    // Two items with the same id in one bulk: same content is one row; different content is refused.
    const same = conversation({ id: "conv_dup_in_bulk" })
    expect((await post("/api/v1/conversations/bulk", [same, same])).status).toBe(202)
    expect(rowCount("conv_dup_in_bulk")).toBe(1)
    const clash = await post("/api/v1/conversations/bulk", [conversation({ id: "conv_dup_clash" }), conversation({ id: "conv_dup_other" }), conversation({ id: "conv_dup_clash", text: "other" })])
    // The request contradicts itself (a 400 naming the item), it does not clash with what is stored (409).
    const error = await expectError(clash, 400, "invalid_schema")
    expect(error.details.map((d) => [d.index, d.field])).toEqual([[2, "id"]])
    expect(error.message).toContain("id conv_dup_clash is also item 0's, with different content")
    expect(rowCount("conv_dup_clash")).toBe(0)
  })
})

describe("deeply nested JSON", () => {
  // Not recorded by `client`: these tests assert on 5xx themselves, so afterAll's "no 500"
  // check keeps reporting only unexpected ones.
  const post = (path: string, body: string) => fetch(`${daemon.baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body })
  const deep = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`
  const bodies = [
    ["nested metadata, valid otherwise", `{"author":"a","timestamp":"2024-05-01T12:00:00Z","text":"x","metadata":{"a":${deep(10_000)}}}`],
    ["nested metadata with a client id", `{"id":"conv_deep_1","author":"a","timestamp":"2024-05-01T12:00:00Z","text":"x","metadata":{"a":${deep(10_000)}}}`],
    ["metadata that is a nested array", `{"author":"a","timestamp":"2024-05-01T12:00:00Z","text":"x","metadata":${deep(10_000)}}`],
    ["a message text that is a nested array", `{"author":"a","timestamp":"2024-05-01T12:00:00Z","messages":[{"author":"a","timestamp":"2024-05-01T12:00:00Z","text":${deep(10_000)}}]}`],
    ["a nested unknown field", `{"author":"a","timestamp":"2024-05-01T12:00:00Z","text":"x","extra":${deep(100_000)}}`],
    ["a nested unknown field with a client id", `{"id":"conv_deep_2","author":"a","timestamp":"2024-05-01T12:00:00Z","text":"x","extra":${deep(100_000)}}`]
  ] as const

  it("is accepted or refused with a 4xx error body, never a 500", async () => {
    const failures: Array<string> = []
    for (const [what, body] of bodies) {
      for (const path of ["/api/v1/conversations", "/api/v1/conversations/bulk"]) {
        const response = await post(path, path.endsWith("bulk") ? `[${body}]` : body)
        const text = await response.text()
        if (response.status >= 500) failures.push(`${path} with ${what}: ${response.status} ${text.slice(0, 100)}`)
        else if (response.status >= 400) expect((JSON.parse(text) as ErrorBody).error, what).toMatch(/^(invalid_schema|payload_too_large)$/)
        else expect(response.status, what).toBe(202)
      }
    }
    expect(failures).toEqual([])
  })

  it("does not fail other clients' requests committed in the same transaction", async () => {
    for (let round = 0; round < 5; round++) {
      const innocent = Array.from({ length: 50 }, (_, i) => post("/api/v1/conversations", JSON.stringify(conversation({ text: `innocent ${round}-${i}` }))))
      const hostile = post("/api/v1/conversations", bodies[0][1])
      const statuses = (await Promise.all(innocent)).map((r) => r.status)
      await (await hostile).text()
      expect(statuses.filter((s) => s !== 202), `round ${round}`).toEqual([])
    }
  })
})

describe("operations endpoints", () => {
  it("/health is 200 {status: ok}; /ready is 200 when ready", async () => {
    const health = await get("/health")
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: "ok" })
    const ready = await get("/ready")
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ status: "ready", checks: { database: "ok", draining: false } })
  })

  it("HEAD is answered like GET without a body (load balancers probe /health that way)", async () => {
    for (const path of ["/health", "/ready", "/api/v1/insights"]) {
      const got = await get(path)
      const head = await fetch(`${daemon.baseUrl}${path}`, { method: "HEAD" })
      expect(head.status, path).toBe(got.status)
      expect(head.headers.get("content-type"), path).toBe(got.headers.get("content-type"))
      expect(await head.text(), path).toBe("")
    }
    // The connection is still usable afterwards (no body bytes were left on it).
    expect(await (await get("/health")).json()).toEqual({ status: "ok" })
  })

  it("a path that is not valid percent-encoding gets a JSON 400, not an empty 404", async () => {
    for (const path of ["/api/v1/conversations/%E0%A4%A", "/%zz"]) {
      const response = await get(path)
      expect(response.status, path).toBe(400)
      expect(response.headers.get("content-type"), path).toContain("application/json")
      expect(await response.json(), path).toEqual({
        error: "invalid_parameter",
        message: `the URL path ${path} is not valid percent-encoding`,
        details: [{ field: "(path)", message: "malformed percent-encoding" }]
      })
    }
    // Valid escapes still reach their route.
    const escaped = await get("/api/v1/conversations/conv_%41bc")
    expect(escaped.status).toBe(404)
    expect(await escaped.json()).toMatchObject({ error: "not_found", message: "conversation conv_Abc does not exist" })
  })

  it("a query string that is not valid percent-encoding (or not UTF-8) gets a 400 naming it, not a filter on mangled text", async () => {
    for (const query of ["author=%ZZ", "author=%C3%28", "cluster=billing&%E0%A4%A=x"]) {
      const response = await get(`/api/v1/insights?${query}`)
      expect(response.status, query).toBe(400)
      expect(await response.json(), query).toEqual({
        error: "invalid_parameter",
        message: "the query string is not valid percent-encoding (UTF-8)",
        details: [{ field: "(query)", message: "malformed percent-encoding" }]
      })
    }
    // Valid escapes, and + for a space, still mean what they say.
    const page = await get("/api/v1/insights?author=%40ana%20b&cluster=delivery%5Fdelay&limit=1")
    expect(page.status).toBe(200)
  })

  it("/openapi.json is OpenAPI 3.1 with every API path", async () => {
    const response = await get("/openapi.json")
    expect(response.status).toBe(200)
    const spec = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> }
    expect(spec.openapi.startsWith("3.1")).toBe(true)
    const paths = Object.keys(spec.paths)
    for (const path of ["/api/v1/conversations", "/api/v1/conversations/bulk", "/api/v1/conversations/{id}", "/api/v1/conversations/{id}/retry", "/api/v1/insights", "/health", "/ready"]) {
      expect(paths).toContain(path)
    }
    expect(Object.keys(spec.paths["/api/v1/conversations"])).toContain("post")
    expect(Object.keys(spec.paths["/api/v1/insights"])).toContain("get")
  })

  it("/openapi.json describes what the server does: extra fields allowed, NDJSON bulk, /ready's 503, our 400 bodies only", async () => {
    type Operation = { requestBody?: { content: Record<string, unknown> }; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }
    const spec = (await (await get("/openapi.json")).json()) as {
      paths: Record<string, Record<string, Operation>>
      components: { schemas: Record<string, { additionalProperties?: unknown }> }
    }
    // SPEC §3: unknown top-level fields are kept in raw, not rejected (so not additionalProperties: false).
    expect(spec.components.schemas.ConversationInput.additionalProperties).toBe(true)
    expect(spec.components.schemas.Message.additionalProperties).toBe(true)
    // And such a conversation is indeed accepted.
    expect((await post("/api/v1/conversations", { ...conversation(), channel: "twitter" })).status).toBe(202)
    expect(Object.keys(spec.paths["/api/v1/conversations/bulk"].post.requestBody!.content)).toEqual(["application/json", "application/x-ndjson"])
    expect(JSON.stringify(spec.paths["/ready"].get.responses["503"])).toContain("#/components/schemas/Readiness")
    // 400s carry invalid_schema / invalid_parameter bodies, never the platform's HttpApiDecodeError.
    expect(JSON.stringify(spec)).not.toContain("HttpApiDecodeError")
    expect(JSON.stringify(spec.paths["/api/v1/conversations"].post.responses["400"])).toContain("#/components/schemas/InvalidInput")
    expect(JSON.stringify(spec.paths["/api/v1/insights"].get.responses["400"])).toContain("#/components/schemas/InvalidParameter")
    // The headers the answers carry, and the statuses each route can answer.
    const headersOf = (path: string, method: string, status: string) => Object.keys((spec.paths[path][method].responses[status] as { headers?: Record<string, unknown> }).headers ?? {})
    expect(headersOf("/api/v1/conversations", "post", "202")).toEqual(["Location"])
    expect(headersOf("/api/v1/conversations", "post", "429")).toEqual(["Retry-After"])
    expect(headersOf("/api/v1/conversations/bulk", "post", "503")).toEqual(["Retry-After"])
    expect(Object.keys(spec.paths["/api/v1/conversations/{id}/retry"].post.responses)).toEqual(expect.arrayContaining(["202", "400", "404", "409", "429", "503"]))
    expect(Object.keys(spec.paths["/api/v1/conversations/{id}"].get.responses)).toEqual(expect.arrayContaining(["200", "400", "404"]))
  })

  it("/openapi.json declares the optional bearer key on /api routes and gives no $id twice (JSON Schema 2020-12)", async () => {
    type Operation = { security?: Array<Record<string, Array<string>>> }
    const text = await (await get("/openapi.json")).text()
    const spec = JSON.parse(text) as { paths: Record<string, Record<string, Operation>>; components: { securitySchemes?: Record<string, Record<string, string>> } }
    expect(spec.components.securitySchemes?.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" })
    for (const [path, operations] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        expect(operation.security, `${method} ${path}`).toEqual(path.startsWith("/api/") ? [{ bearerAuth: [] }, {}] : [])
      }
    }
    const ids = [...text.matchAll(/"\$id":"([^"]*)"/g)].map((match) => match[1])
    expect(ids.filter((id, index) => ids.indexOf(id) !== index)).toEqual([])
  })

  it("a request Node cannot parse (raw non-ASCII in the query, a bad method, huge headers) gets the JSON error body too", async () => {
    const { hostname, port } = new URL(daemon.baseUrl)
    const send = (bytes: Buffer) =>
      new Promise<string>((resolve) => {
        const socket = connect(Number(port), hostname, () => socket.end(bytes))
        let received = ""
        socket.on("data", (chunk) => (received += chunk.toString("utf8")))
        socket.on("error", () => resolve(received))
        socket.on("close", () => resolve(received))
      })
    const answer = async (bytes: Buffer) => {
      const raw = await send(bytes)
      const [head, body] = raw.split("\r\n\r\n")
      return { status: Number(head.split(" ")[1]), type: /content-type: ([^\r]*)/i.exec(head)?.[1], body: JSON.parse(body) as ErrorBody }
    }
    const nonAscii = await answer(Buffer.from("GET /api/v1/insights?author=é HTTP/1.1\r\nHost: x\r\n\r\n", "utf8"))
    expect(nonAscii).toMatchObject({ status: 400, type: "application/json", body: { error: "invalid_parameter" } })
    expect(nonAscii.body.message).toContain("percent-encoded")
    const method = await answer(Buffer.from("BL@H / HTTP/1.1\r\nHost: x\r\n\r\n"))
    expect(method).toMatchObject({ status: 400, type: "application/json", body: { error: "invalid_parameter" } })
    const headers = await answer(Buffer.from(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`))
    expect(headers).toMatchObject({ status: 431, type: "application/json", body: { error: "invalid_parameter" } })
    // The server goes on serving.
    expect((await get("/health")).status).toBe(200)
  })

  it("/docs is an HTML page that loads no external script or stylesheet (works offline)", async () => {
    const response = await get("/docs")
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type") ?? "").toMatch(/text\/html/)
    const html = await response.text()
    expect(html).toMatch(/<html/i)
    const tags = [...html.matchAll(/<(script|link|img|iframe)\b[^>]*>/gi)].map((m) => m[0])
    const external = tags.filter((tag) => /\b(src|href)\s*=\s*["']?(https?:)?\/\//i.test(tag))
    expect(external).toEqual([])
    expect(html).not.toMatch(/@import\s+(url\()?["']?(https?:)?\/\//i)
    // Nor a source map it does not serve (developer tools would fetch it and get a 404).
    expect(html).not.toContain("sourceMappingURL")
  })
})
