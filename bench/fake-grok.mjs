// A fake xAI Grok endpoint for the benchmarks (a plain-JS cut of test/support/fake-grok.ts, which
// is TypeScript and not built): node:http on a free loopback port speaking the OpenAI
// chat-completions wire format, answering every call after `latencyMs` with one deterministic
// result per conversation id of the batch, and recording each call's arrival time.
import { createServer } from "node:http"
import { performance } from "node:perf_hooks"

const hash = (text) => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}
const TOPICS = ["delivery_delay", "refund_request", "billing_error", "app_crash", "account_access", "product_quality", "praise"]
const resultFor = (id) => {
  const h = hash(id)
  return {
    conversation_id: id,
    sentiment_score: Math.round(((h % 2001) / 1000 - 1) * 1000) / 1000,
    confidence: Math.round((0.5 + ((h >>> 11) % 501) / 1000) * 1000) / 1000,
    clusters: [TOPICS[(h >>> 3) % TOPICS.length]],
    reasoning: `fake analysis of ${id}`
  }
}

/** The conversation ids of a request: the analyzer's JSON document, else any `"conversation_id": "conv_…"`. */
const idsOf = (body) => {
  const ids = []
  for (const message of Array.isArray(body?.messages) ? body.messages : []) {
    if (message.role !== "user" || typeof message.content !== "string") continue
    try {
      for (const entry of JSON.parse(message.content).conversations ?? []) if (typeof entry.conversation_id === "string") ids.push(entry.conversation_id)
      continue
    } catch {}
    for (const m of message.content.matchAll(/"conversation_id"\s*:\s*"(conv_[A-Za-z0-9_-]{1,64})"/g)) ids.push(m[1])
  }
  return ids
}

/** The largest number of arrivals in any window [t, t + windowMs) starting at an arrival. */
export const maxInAnyWindow = (arrivals, windowMs = 1000) => {
  const sorted = [...arrivals].sort((a, b) => a - b)
  let best = 0
  let end = 0
  for (let start = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end] < sorted[start] + windowMs) end++
    best = Math.max(best, end - start)
  }
  return best
}

/** Starts the fake. `calls`: [{ at (performance.now() ms), ids }]. */
export const startFakeGrok = async ({ latencyMs = 300 } = {}) => {
  const calls = []
  const sockets = new Set()
  let n = 0
  const server = createServer((req, res) => {
    const at = performance.now()
    const chunks = []
    req.on("data", (c) => chunks.push(c))
    req.on("end", () => {
      if (req.method !== "POST" || !(req.url ?? "").endsWith("/chat/completions")) {
        res.writeHead(404, { "content-type": "application/json" })
        return res.end(JSON.stringify({ error: { message: "no route", type: "not_found" } }))
      }
      const raw = Buffer.concat(chunks).toString("utf8")
      let body = null
      try {
        body = JSON.parse(raw)
      } catch {}
      const ids = idsOf(body)
      calls.push({ at, ids })
      const number = ++n
      setTimeout(() => {
        if (res.destroyed) return
        const content = JSON.stringify({ results: ids.map(resultFor) })
        const promptTokens = Math.ceil(raw.length / 4)
        const completionTokens = Math.ceil(content.length / 4)
        res.writeHead(200, { "content-type": "application/json" })
        res.end(
          JSON.stringify({
            id: `chatcmpl-fake-${number}`,
            object: "chat.completion",
            created: Math.floor(Date.now() / 1000),
            model: body?.model ?? "grok-4-fast-non-reasoning",
            choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, finish_reason: "stop", logprobs: null }],
            usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
            system_fingerprint: "fake"
          })
        )
      }, latencyMs)
    })
  })
  server.keepAliveTimeout = 60_000
  server.on("connection", (s) => {
    sockets.add(s)
    s.on("close", () => sockets.delete(s))
  })
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address()
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    calls,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}
