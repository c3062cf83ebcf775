/**
 * `POST /api/v1/conversations` has two implementations: the hot route straight off the Node
 * listener (inbound limit off, the benchmarked case) and the HttpApi handler (limit on, tracing
 * on, large or chunked bodies). A client must not be able to tell them apart: the same requests
 * get the same status, headers that matter and body from both, and both store the same rows.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import Database from "better-sqlite3"
import { request as httpRequest } from "node:http"
import { type RunningDaemon, startDaemon } from "../support/server.js"

interface Answer {
  readonly status: number
  readonly contentType: string | undefined
  readonly location: string | undefined
  readonly retryAfter: string | undefined
  readonly body: unknown
}

/** A raw POST (so Content-Type / chunked bodies are exactly what the case says). */
const send = (base: string, body: string, headers: Record<string, string>, chunked = false): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const url = new URL("/api/v1/conversations", base)
    const req = httpRequest(url, { method: "POST", headers: chunked ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers["content-type"],
          location: res.headers.location,
          retryAfter: res.headers["retry-after"] as string | undefined,
          body: text === "" ? null : JSON.parse(text)
        })
      })
      res.on("error", reject)
    })
    req.on("error", reject)
    if (chunked) {
      // Two writes without a Content-Length: Transfer-Encoding chunked.
      req.write(body.slice(0, 5))
      req.end(body.slice(5))
    } else req.end(body)
  })

const json = { "content-type": "application/json" }
const valid = (id: string, text = "My parcel still hasn't arrived and nobody answers") =>
  JSON.stringify({ id, text, author: "ana", timestamp: "2026-11-01T10:00:00Z" })

/** Each case: a name, the body, headers, and whether it is sent chunked. Ids repeat on purpose (409). */
const cases: ReadonlyArray<{ readonly name: string; readonly body: string; readonly headers: Record<string, string>; readonly chunked?: boolean }> = [
  { name: "accepted", body: valid("conv_same_1"), headers: json },
  { name: "resubmitted with the same content", body: valid("conv_same_1"), headers: json },
  { name: "same id, different content", body: valid("conv_same_1", "a different text"), headers: json },
  { name: "no content type", body: valid("conv_same_2"), headers: {} },
  { name: "json with charset", body: valid("conv_same_3"), headers: { "content-type": "application/json; charset=utf-8" } },
  { name: "chunked body", body: valid("conv_same_4"), headers: json, chunked: true },
  { name: "invalid JSON", body: '{"text": "unterminated', headers: json },
  { name: "an array", body: `[${valid("conv_same_5")}]`, headers: json },
  { name: "missing text", body: JSON.stringify({ author: "ana" }), headers: json },
  { name: "wrong type", body: JSON.stringify({ text: 42, author: "ana" }), headers: json },
  { name: "bad id", body: JSON.stringify({ id: "nope", text: "hello", author: "ana" }), headers: json },
  { name: "bad timestamp", body: JSON.stringify({ text: "hello", author: "ana", timestamp: "yesterday" }), headers: json },
  { name: "unsupported media type", body: valid("conv_same_6"), headers: { "content-type": "text/plain" } },
  { name: "a body over 64 KiB", body: JSON.stringify({ id: "conv_same_7", text: "x".repeat(70_000), author: "ana" }), headers: json },
  { name: "over the 1 MiB body limit", body: JSON.stringify({ text: "x".repeat(1_100_000), author: "ana" }), headers: json }
]

let hot: RunningDaemon
let routed: RunningDaemon

beforeAll(async () => {
  // Limit off: the hot route serves. A limit far above what the test sends: the HttpApi handler.
  ;[hot, routed] = await Promise.all([startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } }), startDaemon({ env: { INSIGHTD_RATE_LIMIT: "100000" } })])
})
afterAll(async () => {
  for (const daemon of [hot, routed]) {
    if (daemon === undefined) continue
    expect(await daemon.stop()).toBe(0)
    daemon.cleanup()
  }
})

describe("the hot ingest route and the HttpApi handler answer alike", () => {
  it("same status, content type, Location and body for every case, in order", async () => {
    for (const c of cases) {
      const fromHot = await send(hot.baseUrl, c.body, c.headers, c.chunked)
      const fromRouted = await send(routed.baseUrl, c.body, c.headers, c.chunked)
      expect({ case: c.name, ...fromHot }).toEqual({ case: c.name, ...fromRouted })
    }
  })

  it("both stored the same conversations", () => {
    const rows = (dbPath: string) => {
      const db = new Database(dbPath, { readonly: true })
      try {
        return db.prepare("SELECT id, text, author, timestamp, raw, status FROM conversations WHERE id LIKE 'conv_same_%' ORDER BY id").all()
      } finally {
        db.close()
      }
    }
    const stored = rows(hot.dbPath)
    expect(stored.map((row) => (row as { id: string }).id)).toEqual(["conv_same_1", "conv_same_2", "conv_same_3", "conv_same_4"])
    expect(stored).toEqual(rows(routed.dbPath))
  })

  it("the hot route is counted in /metrics like any other request", async () => {
    const text = await (await fetch(`${hot.baseUrl}/metrics`)).text()
    const accepted = text.split("\n").find((line) => line.startsWith("insightd_http_requests_total") && line.includes('route="/api/v1/conversations"') && line.includes('status="202"'))
    expect(accepted, text).toBeDefined()
    expect(Number(accepted!.split(" ").at(-1))).toBeGreaterThanOrEqual(1)
  })
})
