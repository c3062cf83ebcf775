/**
 * GET /metrics from the real daemon: Prometheus text exposition format (read with a parser, not
 * a regex), open without the API key, and the counters move as conversations flow through.
 */
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeGrok } from "../support/fake-grok.mjs"
import { conversation, postJson, type RunningDaemon, startDaemon, waitFor, waitForStatus } from "../support/server.js"

interface Sample {
  value?: string
  labels?: Record<string, string>
  buckets?: Record<string, string>
  count?: string
  sum?: string
}
interface Family {
  name: string
  help: string
  type: string
  metrics: Array<Sample>
}

const KEY = "k-metrics-1"
const auth = { authorization: `Bearer ${KEY}` }
let daemon: RunningDaemon

const scrape = async (): Promise<Map<string, Family>> => {
  const response = await fetch(`${daemon.baseUrl}/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type") ?? "").toMatch(/^text\/plain/)
  const families = parsePrometheusTextFormat(await response.text()) as Array<Family>
  return new Map(families.map((family) => [family.name, family]))
}

const matches = (sample: Sample, labels: Record<string, string>) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value)

/** The value of the series with these labels (0 when the series does not exist yet). */
const value = (metrics: Map<string, Family>, name: string, labels: Record<string, string> = {}): number => {
  const sample = metrics.get(name)?.metrics.find((s) => matches(s, labels))
  return sample === undefined ? 0 : Number(sample.value)
}


beforeAll(async () => {
  daemon = await startDaemon({ env: { INSIGHTD_API_KEYS: KEY, INSIGHTD_RATE_LIMIT: "0" } })
})

afterAll(async () => {
  if (daemon) {
    expect(await daemon.stop()).toBe(0)
    daemon.cleanup()
  }
})

describe("GET /metrics", () => {
  it("is Prometheus text format with the documented families, types and naming, open without the API key", async () => {
    const metrics = await scrape()
    // Text format 0.0.4 has HELP and TYPE only; the exporter's OpenMetrics-style UNIT lines said
    // "1" even for seconds.
    expect(await (await fetch(`${daemon.baseUrl}/metrics`)).text()).not.toMatch(/^# UNIT /m)
    const types: Record<string, string> = {
      insightd_conversations_received_total: "COUNTER",
      insightd_conversations_accepted_total: "COUNTER",
      insightd_conversations: "GAUGE",
      insightd_analyzer_paused: "GAUGE",
      insightd_analyzer_unreachable: "GAUGE"
    }
    for (const [name, type] of Object.entries(types)) {
      expect(metrics.get(name)?.type, name).toBe(type)
      expect(metrics.get(name)?.help.length, name).toBeGreaterThan(0)
    }
    for (const [name, family] of metrics) {
      // Every family says what it counts, Effect's own fiber metrics too.
      expect(family.help, name).not.toMatch(/^$|description missing/)
      if (name === "target_info" || name.startsWith("effect_")) continue
      expect(name).toMatch(/^insightd_[a-z0-9_]+$/)
      if (family.type === "COUNTER") expect(name).toMatch(/_total$/)
    }
    expect(value(metrics, "insightd_analyzer_paused")).toBe(0)
    expect(value(metrics, "insightd_analyzer_unreachable")).toBe(0)
    // Counters with known labels exist at 0 before their first event (so increase() counts it).
    const zeroAtStart: Array<[string, Record<string, string>]> = [
      ["insightd_conversations_failed_total", { error_class: "retries_exhausted" }],
      ["insightd_conversations_failed_total", { error_class: "abandoned" }],
      ["insightd_conversations_rejected_total", { source: "http", reason: "invalid_schema" }],
      ["insightd_conversations_rejected_total", { source: "stdin", reason: "invalid_json" }],
      ["insightd_inbound_rate_limited_total", {}],
      ["insightd_insights_written_total", { analyzer: "local:lexicon-v1" }]
    ]
    for (const [name, labels] of zeroAtStart) {
      const sample = metrics.get(name)?.metrics.find((s) => matches(s, labels))
      expect(sample?.value, `${name} ${JSON.stringify(labels)}`).toBe("0")
    }
    // Grok's series only with the Grok analyzer.
    expect(metrics.has("insightd_grok_calls_total")).toBe(false)
    expect(value(metrics, "insightd_conversations", { status: "pending" })).toBe(0)
  })

  it("counters move as conversations flow: received, accepted, rejected by reason, insights written, backlog, request durations", async () => {
    const before = await scrape()
    const N = 12
    for (let i = 0; i < N - 2; i++) {
      const response = await postJson(daemon.baseUrl, "/api/v1/conversations", conversation({ text: `Still waiting for my refund, order ${i}` }), auth)
      expect(response.status).toBe(202)
    }
    const bulk = await postJson(daemon.baseUrl, "/api/v1/conversations/bulk", [conversation({ text: "great service" }), conversation({ text: "app crashes" })], auth)
    expect(bulk.status).toBe(202)
    // Refused: schema (400), media type (415), no key (401).
    expect((await postJson(daemon.baseUrl, "/api/v1/conversations", { author: "x" }, auth)).status).toBe(400)
    expect((await postJson(daemon.baseUrl, "/api/v1/conversations", "{}", { ...auth, "content-type": "text/plain" })).status).toBe(415)
    expect((await postJson(daemon.baseUrl, "/api/v1/conversations", conversation())).status).toBe(401)
    // Not JSON at all (single, and an NDJSON bulk with a broken line): invalid_json, not invalid_schema.
    expect((await postJson(daemon.baseUrl, "/api/v1/conversations", "{bad", auth)).status).toBe(400)
    const ndjson = `${JSON.stringify(conversation())}\n{"author": \n`
    expect((await postJson(daemon.baseUrl, "/api/v1/conversations/bulk", ndjson, { ...auth, "content-type": "application/x-ndjson" })).status).toBe(400)

    let after = before
    await waitFor(
      async () => {
        after = await scrape()
        return value(after, "insightd_conversations", { status: "completed" }) === N
      },
      20_000,
      "every conversation completed according to /metrics"
    )
    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels)
    expect(delta("insightd_conversations_accepted_total", { source: "http" })).toBe(N)
    expect(delta("insightd_conversations_rejected_total", { source: "http", reason: "invalid_schema" })).toBe(1)
    expect(delta("insightd_conversations_rejected_total", { source: "http", reason: "invalid_json" })).toBe(2)
    expect(delta("insightd_conversations_rejected_total", { source: "http", reason: "unsupported_media_type" })).toBe(1)
    expect(delta("insightd_conversations_rejected_total", { source: "http", reason: "unauthorized" })).toBe(1)
    expect(delta("insightd_conversations_received_total", { source: "http" })).toBe(N + 5)
    expect(delta("insightd_insights_written_total", { analyzer: "local:lexicon-v1" })).toBe(N)
    expect(value(after, "insightd_conversations", { status: "pending" })).toBe(0)
    expect(value(after, "insightd_conversations", { status: "failed" })).toBe(0)
    expect(delta("insightd_http_requests_total", { route: "/api/v1/conversations", method: "POST", status: "202" })).toBe(N - 2)
    expect(delta("insightd_http_requests_total", { route: "/api/v1/conversations/bulk", method: "POST", status: "202" })).toBe(1)
    // The parser reads histograms without labels only (it merges labelled series): the HTTP
    // duration histogram is checked for its type here, its series through the requests counter.
    expect(after.get("insightd_http_request_duration_seconds")?.type).toBe("HISTOGRAM")
    // Ids never become label values: one route for every conversation fetched.
    await fetch(`${daemon.baseUrl}/api/v1/conversations/conv_unknown1`, { headers: auth })
    await fetch(`${daemon.baseUrl}/api/v1/conversations/conv_unknown2`, { headers: auth })
    const later = await scrape()
    expect(value(later, "insightd_http_requests_total", { route: "/api/v1/conversations/{id}", method: "GET", status: "404" })).toBe(2)
    const routes = later.get("insightd_http_requests_total")!.metrics.map((s) => s.labels?.route ?? "")
    expect(routes.some((route) => route.includes("conv_"))).toBe(false)
    // Every analysed conversation went through a batch: the batch-size histogram sums to N.
    const batches = later.get("insightd_analyzed_batch_size")!
    expect(batches.type).toBe("HISTOGRAM")
    expect(Number(batches.metrics[0].sum)).toBe(N)
    expect(Number(batches.metrics[0].buckets?.["+Inf"])).toBe(Number(batches.metrics[0].count))
  })

  it("Grok calls by outcome, retries, tokens and cost, and the call histograms", async () => {
    const fake = await startFakeGrok()
    fake.enqueue("500", "ok")
    const grokDaemon = await startDaemon({
      env: { INSIGHTD_ANALYZER: "grok", XAI_API_KEY: "xai-metrics-key", XAI_BASE_URL: fake.baseUrl, INSIGHTD_GROK_RETRY_BASE_MS: "50", INSIGHTD_GROK_RETRY_MAX_MS: "200" }
    })
    try {
      // Before any call: the call series exist at 0.
      const before = new Map((parsePrometheusTextFormat(await (await fetch(`${grokDaemon.baseUrl}/metrics`)).text()) as Array<Family>).map((family) => [family.name, family]))
      for (const outcome of ["2xx", "4xx", "5xx", "timeout", "network"]) {
        expect(before.get("insightd_grok_calls_total")?.metrics.find((s) => matches(s, { outcome }))?.value, outcome).toBe("0")
      }
      expect(before.get("insightd_grok_retries_total")?.metrics[0]?.value).toBe("0")
      const response = await postJson(grokDaemon.baseUrl, "/api/v1/conversations", conversation())
      const { conversation_id } = (await response.json()) as { conversation_id: string }
      await waitForStatus(grokDaemon.baseUrl, conversation_id)
      const text = await (await fetch(`${grokDaemon.baseUrl}/metrics`)).text()
      const metrics = new Map((parsePrometheusTextFormat(text) as Array<Family>).map((family) => [family.name, family]))
      expect(value(metrics, "insightd_grok_calls_total", { outcome: "5xx" })).toBe(1)
      expect(value(metrics, "insightd_grok_calls_total", { outcome: "2xx" })).toBe(1)
      expect(value(metrics, "insightd_grok_retries_total")).toBe(1)
      expect(value(metrics, "insightd_grok_tokens_total", { kind: "prompt" })).toBeGreaterThan(0)
      expect(value(metrics, "insightd_grok_tokens_total", { kind: "completion" })).toBeGreaterThan(0)
      expect(value(metrics, "insightd_grok_cost_usd_total")).toBeGreaterThan(0)
      expect(value(metrics, "insightd_grok_calls_in_flight")).toBe(0)
      expect(Number(metrics.get("insightd_grok_call_duration_seconds")?.metrics[0].count)).toBe(2)
      expect(Number(metrics.get("insightd_grok_batch_size")?.metrics[0].sum)).toBe(1)
      const written = metrics.get("insightd_insights_written_total")?.metrics ?? []
      expect(written.filter((s) => s.labels?.analyzer?.startsWith("grok:")).map((s) => Number(s.value))).toEqual([1])
      // A Grok batch is worth a log line at info, with its tokens.
      const batch = await grokDaemon.waitForLog((line) => line.message === "batch analyzed")
      expect(batch.level).toBe("info")
      expect(batch.prompt_tokens).toBeGreaterThan(0)
      const retry = grokDaemon.logs().find((line) => line.message === "retry scheduled")
      expect(typeof retry?.delay_ms).toBe("number")
      expect(String(retry?.reason)).toContain("500")
    } finally {
      expect(await grokDaemon.stop()).toBe(0)
      grokDaemon.cleanup()
      await fake.close()
    }
  })

  it("counts the usage of every answered call in the Grok totals, a probe's too", async () => {
    const fake = await startFakeGrok({ apiKey: "the-right-key" })
    const grokDaemon = await startDaemon({
      env: { INSIGHTD_ANALYZER: "grok", XAI_API_KEY: "xai-not-yet-accepted", XAI_BASE_URL: fake.baseUrl, INSIGHTD_GROK_PROBE_INTERVAL_MS: "200" }
    })
    try {
      // The key is refused: analysis pauses with the conversation pending; probes go out.
      const response = await postJson(grokDaemon.baseUrl, "/api/v1/conversations", conversation())
      const { conversation_id } = (await response.json()) as { conversation_id: string }
      await grokDaemon.waitForLog((line) => String(line.message).startsWith("analyzer paused"))
      // The key is accepted again: the next probe is answered (billed), then the conversation goes out.
      fake.acceptKey("xai-not-yet-accepted")
      await waitForStatus(grokDaemon.baseUrl, conversation_id)
      const answered = fake.calls.filter((call) => call.status === 200)
      expect(answered.some((call) => call.ids.length === 0)).toBe(true)
      const detail = (await (await fetch(`${grokDaemon.baseUrl}/api/v1/conversations/${conversation_id}`)).json()) as { insight: { cost_usd: number } }
      const metrics = new Map((parsePrometheusTextFormat(await (await fetch(`${grokDaemon.baseUrl}/metrics`)).text()) as Array<Family>).map((family) => [family.name, family]))
      const billed = value(metrics, "insightd_grok_cost_usd_total")
      // The insight carries its own call's cost; the totals also hold the probe's.
      expect(detail.insight.cost_usd).toBeGreaterThan(0)
      expect(billed).toBeGreaterThan(detail.insight.cost_usd)
      expect(value(metrics, "insightd_grok_calls_total", { outcome: "2xx" })).toBe(answered.length)
    } finally {
      expect(await grokDaemon.stop()).toBe(0)
      grokDaemon.cleanup()
      await fake.close()
    }
  })
})
