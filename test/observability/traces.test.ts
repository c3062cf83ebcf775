/**
 * Traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, the daemon exports spans over OTLP/HTTP (JSON)
 * to it: a span per HTTP request and per pipeline stage. A loopback server stands in for the
 * collector and records what arrives on /v1/traces.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFakeGrok } from "../support/fake-grok.mjs"
import { conversation, postJson, type RunningDaemon, startDaemon, waitFor, waitForStatus } from "../support/server.js"

interface OtlpSpan {
  name: string
  traceId: string
  spanId: string
  parentSpanId?: string
}
interface OtlpExport {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }
    scopeSpans: Array<{ spans: Array<OtlpSpan> }>
  }>
}

let receiver: Server
let endpoint: string
const exports: Array<{ path: string; body: OtlpExport }> = []
let daemon: RunningDaemon | undefined

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      exports.push({ path: request.url ?? "", body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as OtlpExport })
      response.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve))
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
})

afterAll(async () => {
  if (daemon) {
    await daemon.stop()
    daemon.cleanup()
  }
  await new Promise<void>((resolve) => receiver.close(() => resolve()))
})

const spans = () => exports.flatMap((e) => e.body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)))

describe("OTLP traces", () => {
  it("exports spans for requests and pipeline stages to OTEL_EXPORTER_OTLP_ENDPOINT", async () => {
    daemon = await startDaemon({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint } })
    const response = await postJson(daemon.baseUrl, "/api/v1/conversations", conversation())
    expect(response.status).toBe(202)
    const { conversation_id } = (await response.json()) as { conversation_id: string }
    await waitForStatus(daemon.baseUrl, conversation_id)
    await waitFor(() => ["stage.persist", "stage.analyze", "stage.persist-insight"].every((name) => spans().some((span) => span.name === name)), 15_000, "stage spans")
    expect(exports.every((e) => e.path === "/v1/traces")).toBe(true)
    const names = new Set(spans().map((span) => span.name))
    expect(names).toContain("http.server POST")
    const service = exports[0].body.resourceSpans[0].resource.attributes.find((a) => a.key === "service.name")
    expect(service?.value.stringValue).toBe("insightd")
    expect(await daemon.stop()).toBe(0)
  })

  it("a span per Grok call, inside the batch's span", async () => {
    const fake = await startFakeGrok()
    fake.enqueue("503", "ok")
    const grok = await startDaemon({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, INSIGHTD_ANALYZER: "grok", XAI_API_KEY: "xai-trace-key", XAI_BASE_URL: fake.baseUrl, INSIGHTD_GROK_RETRY_BASE_MS: "50" }
    })
    try {
      const response = await postJson(grok.baseUrl, "/api/v1/conversations", conversation())
      const { conversation_id } = (await response.json()) as { conversation_id: string }
      await waitForStatus(grok.baseUrl, conversation_id)
      await waitFor(() => spans().filter((span) => span.name === "grok.call").length >= 2, 15_000, "grok.call spans")
      const batch = spans().find((span) => span.name === "grok.analyze_batch")
      expect(batch).toBeDefined()
      const calls = spans().filter((span) => span.name === "grok.call")
      expect(calls.every((call) => call.traceId === batch!.traceId)).toBe(true)
    } finally {
      expect(await grok.stop()).toBe(0)
      grok.cleanup()
      await fake.close()
    }
  })

  it("exports nothing when the variable is unset", async () => {
    const before = exports.length
    const plain = await startDaemon()
    try {
      const response = await postJson(plain.baseUrl, "/api/v1/conversations", conversation())
      const { conversation_id } = (await response.json()) as { conversation_id: string }
      await waitForStatus(plain.baseUrl, conversation_id)
      expect(plain.logs().find((line) => line.message === "insightd starting")?.traces).toBe("off")
    } finally {
      expect(await plain.stop()).toBe(0)
      plain.cleanup()
    }
    expect(exports.length).toBe(before)
  })
})
