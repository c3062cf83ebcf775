import Database from "better-sqlite3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { conversation, type Daemon, postJson, startDaemon, waitFor } from "../support/daemon.js"

let daemon: Daemon
const statuses: Array<number> = []
const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
  const response = await postJson(daemon.baseUrl, path, body, headers)
  statuses.push(response.status)
  return response
}
const get = async (path: string) => {
  const response = await fetch(`${daemon.baseUrl}${path}`)
  statuses.push(response.status)
  return response
}

beforeAll(async () => {
  daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
})
afterAll(async () => {
  expect(await daemon.stop()).toBe(0)
  // Nothing a client sent may ever produce a 500.
  expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([])
})

const expectError = async (response: Response, status: number, code: string) => {
  expect(response.status).toBe(status)
  const body = (await response.json()) as { error: string; message: string; details: Array<Record<string, unknown>> }
  expect(body.error).toBe(code)
  expect(typeof body.message).toBe("string")
  expect(Array.isArray(body.details)).toBe(true)
  expect(JSON.stringify(body)).not.toMatch(/\bat .*\.(js|ts):\d+/) // no stack trace
  return body
}

describe("POST /api/v1/conversations", () => {
  it("202 with the accepted body and a Location header; the row is committed", async () => {
    const response = await post("/api/v1/conversations", conversation())
    expect(response.status).toBe(202)
    const body = (await response.json()) as { status: string; conversation_id: string; message: string }
    expect(Object.keys(body).sort()).toEqual(["conversation_id", "message", "status"])
    expect(body.status).toBe("accepted")
    expect(body.message).toBe("Conversation queued for analysis")
    expect(body.conversation_id).toMatch(/^conv_[A-Za-z0-9_-]{1,64}$/)
    expect(response.headers.get("location")).toBe(`/api/v1/conversations/${body.conversation_id}`)
    const db = new Database(daemon.dbPath, { readonly: true })
    expect(db.prepare("SELECT COUNT(*) AS n FROM conversations WHERE id = ?").get(body.conversation_id)).toEqual({ n: 1 })
    db.close()
  })

  it("generated ids sort in creation order", async () => {
    const ids: Array<string> = []
    for (let i = 0; i < 20; i++) ids.push(((await (await post("/api/v1/conversations", conversation())).json()) as { conversation_id: string }).conversation_id)
    expect([...ids].sort()).toEqual(ids)
  })

  it("keeps a client id, derives text from messages, keeps metadata and unknown fields in raw", async () => {
    const input = {
      id: "conv_client_thread_1",
      author: "@ana",
      timestamp: "2024-05-01T12:00:00+02:00",
      messages: [
        { author: "@ana", text: "I was charged twice", timestamp: "2024-05-01T12:00:00+02:00", inbound: true },
        { author: "@shop", text: "Refund on its way", timestamp: "2024-05-01T12:05:00+02:00" }
      ],
      metadata: { channel: "twitter" },
      priority: "high"
    }
    expect((await post("/api/v1/conversations", input)).status).toBe(202)
    const stored = (await (await get("/api/v1/conversations/conv_client_thread_1")).json()) as Record<string, unknown>
    expect(Object.keys(stored).sort()).toEqual(
      ["attempts", "author", "id", "insight", "last_error", "messages", "metadata", "received_at", "status", "text", "timestamp", "updated_at"].sort()
    )
    expect(stored.text).toBe("I was charged twice\nRefund on its way")
    expect(stored.timestamp).toBe("2024-05-01T10:00:00.000Z")
    expect(stored.metadata).toEqual({ channel: "twitter" })
    const db = new Database(daemon.dbPath, { readonly: true })
    const raw = db.prepare("SELECT raw FROM conversations WHERE id = ?").get("conv_client_thread_1") as { raw: string }
    expect(JSON.parse(raw.raw)).toEqual(input)
    db.close()
  })

  it("400 invalid_schema names the field, for each kind of mistake", async () => {
    const cases: Array<[unknown, string]> = [
      [{ timestamp: "2024-05-01T12:00:00Z", text: "x" }, "author"],
      [conversation({ timestamp: "last tuesday" }), "timestamp"],
      [conversation({ text: "x".repeat(20_001) }), "text"],
      [{ author: "a", timestamp: "2024-05-01T12:00:00Z", messages: [] }, "messages"],
      [{ author: "a", timestamp: "2024-05-01T12:00:00Z" }, "text"],
      [conversation({ id: "not-a-conv-id" }), "id"],
      [conversation({ author: 42 }), "author"]
    ]
    for (const [body, field] of cases) {
      const error = await expectError(await post("/api/v1/conversations", body), 400, "invalid_schema")
      expect(error.details.map((d) => d.field)).toContain(field)
      expect(error.message).toContain(field)
    }
  })

  it("400 for a body that is not JSON or not an object", async () => {
    await expectError(await post("/api/v1/conversations", "{ not json"), 400, "invalid_schema")
    await expectError(await post("/api/v1/conversations", [conversation()]), 400, "invalid_schema")
  })

  it("the same id with the same content is an idempotent 202; different content is a 409", async () => {
    const input = conversation({ id: "conv_idempotent_1" })
    expect((await post("/api/v1/conversations", input)).status).toBe(202)
    const again = await post("/api/v1/conversations", input)
    expect(again.status).toBe(202)
    expect(((await again.json()) as { conversation_id: string }).conversation_id).toBe("conv_idempotent_1")
    const body = await expectError(await post("/api/v1/conversations", { ...input, text: "something else" }), 409, "conflict")
    expect(body.message).toContain("conv_idempotent_1")
    const db = new Database(daemon.dbPath, { readonly: true })
    expect(db.prepare("SELECT COUNT(*) AS n FROM conversations WHERE id = 'conv_idempotent_1'").get()).toEqual({ n: 1 })
    db.close()
  })

  it("413 over 1 MiB, 415 for a body that is not JSON", async () => {
    await expectError(await post("/api/v1/conversations", conversation({ text: "y".repeat(1_100_000) })), 413, "payload_too_large")
    await expectError(await post("/api/v1/conversations", "author=a", { "content-type": "application/x-www-form-urlencoded" }), 415, "unsupported_media_type")
    await expectError(await post("/api/v1/conversations", JSON.stringify(conversation()), { "content-type": "text/plain" }), 415, "unsupported_media_type")
  })
})

describe("POST /api/v1/conversations/bulk", () => {
  it("a JSON array → 202 with every id", async () => {
    const items = Array.from({ length: 25 }, (_, i) => conversation({ text: `bulk item ${i}` }))
    const response = await post("/api/v1/conversations/bulk", items)
    expect(response.status).toBe(202)
    const body = (await response.json()) as { status: string; accepted: number; conversation_ids: Array<string> }
    expect(body.status).toBe("accepted")
    expect(body.accepted).toBe(25)
    expect(new Set(body.conversation_ids).size).toBe(25)
  })

  it("NDJSON → 202", async () => {
    const ndjson = [1, 2, 3].map((i) => JSON.stringify(conversation({ id: `conv_ndjson_${i}` }))).join("\n") + "\n"
    const response = await post("/api/v1/conversations/bulk", ndjson, { "content-type": "application/x-ndjson" })
    expect(response.status).toBe(202)
    expect(((await response.json()) as { conversation_ids: Array<string> }).conversation_ids).toEqual(["conv_ndjson_1", "conv_ndjson_2", "conv_ndjson_3"])
  })

  it("any invalid item → 400 naming each index and field, and nothing is stored", async () => {
    const items = [
      conversation({ id: "conv_atomic_1" }),
      conversation({ id: "conv_atomic_2", author: "" }),
      conversation({ id: "conv_atomic_3" }),
      conversation({ id: "conv_atomic_4", timestamp: "nope" })
    ]
    const body = await expectError(await post("/api/v1/conversations/bulk", items), 400, "invalid_schema")
    expect(body.details.map((d) => [d.index, d.field])).toEqual([
      [1, "author"],
      [3, "timestamp"]
    ])
    for (const id of ["conv_atomic_1", "conv_atomic_3"]) expect((await get(`/api/v1/conversations/${id}`)).status).toBe(404)
  })

  it("a conflicting item rejects the whole bulk with 409", async () => {
    expect((await post("/api/v1/conversations", conversation({ id: "conv_bulk_clash" }))).status).toBe(202)
    const items = [conversation({ id: "conv_bulk_fresh" }), conversation({ id: "conv_bulk_clash", text: "different" })]
    await expectError(await post("/api/v1/conversations/bulk", items), 409, "conflict")
    expect((await get("/api/v1/conversations/conv_bulk_fresh")).status).toBe(404)
  })

  it("more than 1,000 items → 413; an empty array → 400", async () => {
    const items = Array.from({ length: 1001 }, () => conversation())
    await expectError(await post("/api/v1/conversations/bulk", items), 413, "payload_too_large")
    await expectError(await post("/api/v1/conversations/bulk", []), 400, "invalid_schema")
  })
})

describe("GET /api/v1/conversations/{id} and retry", () => {
  it("insight is null until analysed, then filled by the local analyzer", async () => {
    const id = "conv_lifecycle_1"
    await post("/api/v1/conversations", conversation({ id, text: "I was charged twice and nobody answers. Terrible." }))
    let stored: { status: string; insight: Record<string, unknown> | null } = { status: "", insight: null }
    await waitFor(async () => {
      stored = (await (await get(`/api/v1/conversations/${id}`)).json()) as typeof stored
      return stored.status === "completed"
    })
    expect(stored.insight).toMatchObject({ sentiment: "negative", analyzer: "local:lexicon-v1" })
    expect(stored.insight!.clusters).toContain("billing_issue")
  })

  it("404 not_found for unknown ids", async () => {
    await expectError(await get("/api/v1/conversations/conv_does_not_exist"), 404, "not_found")
    await expectError(await get("/api/v1/conversations/whatever"), 404, "not_found")
    await expectError(await post("/api/v1/conversations/conv_does_not_exist/retry", {}), 404, "not_found")
  })

  it("retry: 409 unless failed; a failed conversation goes back to pending and completes", async () => {
    const id = "conv_retry_1"
    await post("/api/v1/conversations", conversation({ id }))
    await waitFor(async () => ((await (await get(`/api/v1/conversations/${id}`)).json()) as { status: string }).status === "completed")
    await expectError(await post(`/api/v1/conversations/${id}/retry`, {}), 409, "conflict")
    const db = new Database(daemon.dbPath)
    db.prepare("UPDATE conversations SET status = 'failed', last_error = 'simulated' WHERE id = ?").run(id)
    db.close()
    const response = await post(`/api/v1/conversations/${id}/retry`, {})
    expect(response.status).toBe(202)
    await waitFor(async () => {
      const stored = (await (await get(`/api/v1/conversations/${id}`)).json()) as { status: string; last_error: string | null }
      return stored.status === "completed" && stored.last_error === null
    })
  })
})

describe("operations endpoints", () => {
  it("/health and /ready", async () => {
    const health = await get("/health")
    expect([health.status, await health.json()]).toEqual([200, { status: "ok" }])
    const ready = await get("/ready")
    expect(ready.status).toBe(200)
  })

  it("/openapi.json is OpenAPI 3.1 with every path; /docs works offline", async () => {
    const spec = (await (await get("/openapi.json")).json()) as { openapi: string; paths: Record<string, unknown> }
    expect(spec.openapi).toMatch(/^3\.1/)
    for (const path of ["/api/v1/conversations", "/api/v1/conversations/bulk", "/api/v1/conversations/{id}", "/api/v1/conversations/{id}/retry", "/api/v1/insights", "/health", "/ready"]) {
      expect(Object.keys(spec.paths)).toContain(path)
    }
    const docs = await get("/docs")
    expect(docs.status).toBe(200)
    const html = await docs.text()
    expect(html).toMatch(/<html/i)
    expect(html).not.toMatch(/<script[^>]+src=["']https?:/i)
    expect(html).not.toMatch(/<link[^>]+href=["']https?:/i)
  })
})
