/**
 * A fake xAI Grok endpoint for the tests and the benchmarks: node:http on a free loopback port,
 * speaking the OpenAI chat-completions wire format (`POST /v1/chat/completions`), with scripted
 * faults. Plain JavaScript so the benchmarks run it on Node as it is; its types, with each fault
 * explained, are in fake-grok.d.mts.
 *
 * - It finds the batch's conversation ids in the request's user message (the JSON document the
 *   analyzer sends), and answers each with a result that is a deterministic function of the id
 *   (`expectedFor(id)`), so a test can check every stored result belongs to its own conversation.
 * - Faults are chosen per call: first from `enqueue(...)`, else from the `fault` function (by
 *   call number and ids), else "ok".
 * - Every call's arrival time (performance.now(), ms) is recorded, including the ones it never
 *   answers, with its ids, the fault used and the status sent.
 */
import { createServer } from "node:http"
import { performance } from "node:perf_hooks"

/** FNV-1a, 32 bits. */
const hash = (text) => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

const TOPICS = ["delivery_delay", "refund_request", "billing_error", "app_crash", "account_access", "product_quality", "praise"]

/** What the fake answers for a conversation id: a pure function of the id. */
export const expectedFor = (id) => {
  const h = hash(id)
  return {
    sentiment_score: Math.round(((h % 2001) / 1000 - 1) * 1000) / 1000,
    confidence: Math.round((0.5 + ((h >>> 11) % 501) / 1000) * 1000) / 1000,
    clusters: [TOPICS[(h >>> 3) % TOPICS.length]],
    reasoning: `fake analysis of ${id}`
  }
}

/** The conversation ids of a request: from the analyzer's JSON document, else any `"conversation_id": "conv_…"`. */
export const idsOf = (body) => {
  const messages = typeof body === "object" && body !== null && Array.isArray(body.messages) ? body.messages : []
  const ids = []
  for (const message of messages) {
    if (message.role !== "user" || typeof message.content !== "string") continue
    try {
      const document = JSON.parse(message.content)
      for (const entry of document.conversations ?? []) if (typeof entry.conversation_id === "string") ids.push(entry.conversation_id)
      continue
    } catch {
      // not the JSON document: look for ids in the text
    }
    for (const match of message.content.matchAll(/"conversation_id"\s*:\s*"(conv_[A-Za-z0-9_-]{1,64})"/g)) ids.push(match[1])
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

export const startFakeGrok = async (options = {}) => {
  const calls = []
  const queue = []
  let acceptedKey = options.apiKey
  let faultOf = options.fault
  let latency = options.latencyMs ?? 0
  const retryAfter = options.retryAfterSeconds ?? 1
  const model = options.model ?? "grok-4-fast-non-reasoning"
  const sockets = new Set()

  const send = (response, status, body, headers = {}) => {
    const text = typeof body === "string" ? body : JSON.stringify(body)
    response.writeHead(status, { "content-type": "application/json", ...headers })
    response.end(text)
  }

  const errorBody = (message, type) => ({ error: { message, type, code: type } })

  /** Result items a conversation's text (or its thread, joined) carries as a ready-made answer. */
  const carriedItems = (body) => {
    const items = []
    let document = null
    try {
      document = JSON.parse(body?.messages?.[1]?.content ?? "null")
    } catch {
      document = null
    }
    for (const entry of document?.conversations ?? []) {
      for (const text of [entry.text ?? "", (entry.messages ?? []).map((m) => m.text).join("")]) {
        const start = text.indexOf("{")
        if (start < 0) continue
        try {
          const parsed = JSON.parse(text.slice(start, text.lastIndexOf("}") + 1))
          if (Array.isArray(parsed?.results)) items.push(...parsed.results)
        } catch {
          // not an answer
        }
      }
    }
    return items
  }

  const resultsFor = (ids, fault, body) => {
    let results = ids.map((id) => ({ conversation_id: id, ...expectedFor(id) }))
    if (fault === "obey-injection") {
      for (const item of carriedItems(body)) {
        const at = results.findIndex((result) => result.conversation_id === item.conversation_id)
        if (at >= 0) results[at] = item
      }
    }
    if (fault === "missing-ids") results = results.slice(0, Math.ceil(results.length / 2))
    if (fault === "shuffled") results = results.reverse()
    if (fault === "unknown-id" && results.length > 0) {
      results[0] = { ...results[0], conversation_id: `${String(results[0].conversation_id)}_x` }
      results.push({ conversation_id: "conv_not_in_batch", ...expectedFor("conv_not_in_batch") })
    }
    if (fault === "invalid-item" && results.length > 0) results[0] = { ...results[0], sentiment_score: 7 }
    return results
  }

  const contentFor = (json, fault) => {
    switch (fault) {
      case "fenced":
        return "```json\n" + JSON.stringify(JSON.parse(json), null, 2) + "\n```"
      case "prose":
        return `Sure! Here is the analysis you asked for {as requested}:\n${json}\nLet me know if you need anything else.`
      case "no-json":
        return "I'm sorry, I can't help with that."
      default:
        return json
    }
  }

  const handle = (request, response, raw, at) => {
    let body = null
    try {
      body = JSON.parse(raw)
    } catch {
      body = null
    }
    const ids = idsOf(body)
    const authorization = request.headers.authorization ?? ""
    const authorized = authorization.startsWith("Bearer ") && (acceptedKey === undefined || authorization === `Bearer ${acceptedKey}`)
    const number = calls.length + 1
    const fault = !authorized ? "401" : (queue.shift() ?? faultOf?.(number, ids) ?? "ok")
    const call = { at, ids, fault, status: null, authorized, body }
    calls.push(call)
    if (fault === "timeout") return // never answered
    const answer = () => {
      if (response.destroyed) return
      const status = (code, payload, headers = {}) => {
        call.status = code
        send(response, code, payload, headers)
      }
      switch (fault) {
        case "401":
          return status(401, errorBody("Incorrect API key provided", "invalid_api_key"))
        case "429":
          return status(429, errorBody("Too many requests", "rate_limit_exceeded"))
        case "429-retry-after":
          return status(429, errorBody("Too many requests", "rate_limit_exceeded"), { "retry-after": String(retryAfter) })
        case "429-retry-after-date":
          return status(429, errorBody("Too many requests", "rate_limit_exceeded"), { "retry-after": new Date(Date.now() + retryAfter * 1000).toUTCString() })
        case "500":
          return status(500, errorBody("Internal server error", "server_error"))
        case "503":
          return status(503, errorBody("Service unavailable", "overloaded"))
        case "408":
          return status(408, errorBody("Request timeout", "timeout"))
        case "400":
          return status(400, errorBody("Invalid request: model does not exist", "invalid_request_error"))
        case "400-echo-auth":
          return status(400, errorBody(`Invalid request; received header Authorization: ${authorization}`, "invalid_request_error"))
        case "bad-envelope":
          return status(200, { hello: "not a completion" })
        default: {
          const json = JSON.stringify({ results: resultsFor(ids, fault, body) })
          const content = contentFor(json, fault)
          const promptTokens = Math.ceil(raw.length / 4)
          const completionTokens = Math.ceil(content.length / 4)
          return status(200, {
            id: `chatcmpl-fake-${number}`,
            object: "chat.completion",
            created: Math.floor(Date.now() / 1000),
            model,
            choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, finish_reason: "stop", logprobs: null }],
            usage: {
              prompt_tokens: promptTokens,
              completion_tokens: completionTokens,
              total_tokens: promptTokens + completionTokens,
              // $0.20 per million prompt tokens, $0.50 per million completion tokens.
              cost_in_usd_ticks: promptTokens * 2_000 + completionTokens * 5_000
            },
            system_fingerprint: "fake"
          })
        }
      }
    }
    if (latency > 0) setTimeout(answer, latency)
    else answer()
  }

  const server = createServer((request, response) => {
    const at = performance.now()
    if (request.method !== "POST" || !(request.url ?? "").endsWith("/chat/completions")) {
      send(response, 404, errorBody(`no route ${request.method} ${request.url}`, "not_found"))
      return
    }
    const chunks = []
    request.on("data", (chunk) => chunks.push(chunk))
    request.on("end", () => handle(request, response, Buffer.concat(chunks).toString("utf8"), at))
  })
  server.keepAliveTimeout = 60_000
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = server.address().port

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    calls,
    enqueue: (...faults) => {
      queue.push(...faults)
    },
    acceptKey: (key) => {
      acceptedKey = key
    },
    setFault: (fault) => {
      faultOf = fault
    },
    setLatency: (ms) => {
      latency = ms
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
