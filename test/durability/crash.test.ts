import Database from "better-sqlite3"
import http from "node:http"
import { describe, expect, it } from "vitest"
import { conversation, startDaemon, waitFor } from "../support/server.js"

const countByStatus = (dbPath: string) => {
  const db = new Database(dbPath, { readonly: true })
  const rows = db.prepare("SELECT status, COUNT(*) AS n FROM conversations GROUP BY status").all() as Array<{ status: string; n: number }>
  db.close()
  return Object.fromEntries(rows.map((r) => [r.status, r.n])) as Record<string, number>
}

/** Keep-alive client posting single conversations with client ids until stopped. */
const postLoop = (port: number, prefix: string, acknowledged: Set<string>, stop: { now: boolean }) =>
  new Promise<void>((done) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    let n = 0
    const next = () => {
      if (stop.now) {
        agent.destroy()
        return done()
      }
      const id = `conv_${prefix}_${n++}`
      const body = JSON.stringify(conversation({ id, text: `crash test ${id}: still waiting for my refund` }))
      const request = http.request(
        { host: "127.0.0.1", port, path: "/api/v1/conversations", method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (response) => {
          response.resume()
          response.on("end", () => {
            if (response.statusCode === 202) acknowledged.add(id)
            next()
          })
        }
      )
      request.on("error", () => {
        agent.destroy()
        done()
      })
      request.end(body)
    }
    next()
  })

describe("durability", () => {
  it("kill -9 under concurrent load loses no acknowledged conversation; all are analysed after restart", async () => {
    const first = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
    const acknowledged = new Set<string>()
    const stop = { now: false }
    const clients = Array.from({ length: 8 }, (_, i) => postLoop(first.port, `c${i}`, acknowledged, stop))
    await new Promise((r) => setTimeout(r, 1500))
    first.child.kill("SIGKILL") // mid-load: requests are in flight
    await first.exited
    stop.now = true
    await Promise.all(clients)
    expect(acknowledged.size).toBeGreaterThan(100)

    const db = new Database(first.dbPath, { readonly: true })
    const stored = new Set((db.prepare("SELECT id FROM conversations").all() as Array<{ id: string }>).map((r) => r.id))
    db.close()
    const lost = [...acknowledged].filter((id) => !stored.has(id))
    expect(lost).toEqual([])

    const second = await startDaemon({ dbPath: first.dbPath })
    try {
      await waitFor(() => {
        const counts = countByStatus(first.dbPath)
        return (counts.pending ?? 0) === 0 && (counts.processing ?? 0) === 0
      }, 60_000, "the backlog to be analysed")
      const counts = countByStatus(first.dbPath)
      expect(counts.failed ?? 0).toBe(0)
      expect(counts.completed).toBe(stored.size)
      const sample = [...acknowledged].slice(0, 20)
      for (const id of sample) {
        const body = (await (await fetch(`${second.baseUrl}/api/v1/conversations/${id}`)).json()) as { status: string; insight: unknown }
        expect(body.status).toBe("completed")
        expect(body.insight).not.toBeNull()
      }
    } finally {
      expect(await second.stop()).toBe(0)
    }
  })

  it("SIGTERM while busy: new POSTs get 503, exit 0, nothing left processing; the rest completes after restart", async () => {
    const daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0", INSIGHTD_GRACE_PERIOD_MS: "3000" } })
    for (let chunk = 0; chunk < 10; chunk++) {
      const items = Array.from({ length: 1000 }, (_, i) => conversation({ text: `backlog ${chunk}-${i}: I was charged twice and the parcel is late` }))
      const response = await fetch(`${daemon.baseUrl}/api/v1/conversations/bulk`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(items) })
      expect(response.status).toBe(202)
    }
    await waitFor(() => (countByStatus(daemon.dbPath).completed ?? 0) > 0, 20_000, "analysis to start")
    daemon.child.kill("SIGTERM")
    await waitFor(() => daemon.logs().some((l) => l.message === "shutdown: signal received, draining"), 5_000, "draining to start")
    const during = await fetch(`${daemon.baseUrl}/api/v1/conversations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(conversation()),
      signal: AbortSignal.timeout(5_000)
    }).catch(() => null)
    const code = await Promise.race([daemon.exited, new Promise<string>((r) => setTimeout(() => r("still running 20 s after SIGTERM"), 20_000))])
    if (code !== 0) console.error(daemon.stderr().split("\n").filter((l) => !l.includes("batch analyzed")).slice(-30).join("\n"))
    expect(code).toBe(0)
    if (during !== null) {
      expect(during.status).toBe(503)
      expect(((await during.json()) as { error: string }).error).toBe("unavailable")
    }
    const counts = countByStatus(daemon.dbPath)
    expect(counts.processing ?? 0).toBe(0)
    expect(counts.pending ?? 0).toBeGreaterThan(0) // the backlog is released, not lost or failed
    expect(counts.failed ?? 0).toBe(0)
    const messages = daemon.logs().map((l) => l.message)
    for (const step of ["shutdown: sources stopped, draining", "shutdown: unfinished claims released", "shutdown: complete"]) expect(messages).toContain(step)

    const again = await startDaemon({ dbPath: daemon.dbPath })
    try {
      await waitFor(() => (countByStatus(daemon.dbPath).completed ?? 0) === 10_000, 90_000, "the backlog to complete")
    } finally {
      expect(await again.stop()).toBe(0)
    }
  }, 150_000)
})
