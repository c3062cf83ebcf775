/**
 * SPEC §5 "202 means durable" and "Nothing gets stuck", against the real process: a `kill -9`
 * in the middle of concurrent ingestion loses no acknowledged conversation, and after a restart
 * on the same database file every one of them is analysed; rows the dead process left
 * `processing` are recovered (and the recovery is logged).
 */
import http from "node:http"
import { describe, expect, it } from "vitest"
import { type ChildDaemon, conversation, mapLimit, spawnDaemon, statusCounts, waitUntil, withDb } from "../support/child.js"

interface LoadStats {
  /** Ids whose request got a 202 status line (the acknowledgement). */
  readonly acknowledged: Set<string>
  /** Requests sent and not yet answered. */
  inFlight: number
  /** Statuses other than 202 before the kill, and errors before the kill (both must stay empty). */
  readonly unexpected: Array<string>
  killed: boolean
}

interface Posted {
  readonly path: string
  readonly ids: ReadonlyArray<string>
  readonly body: string
}

/**
 * One keep-alive client: posts `next()` again and again on its own connection until the daemon
 * dies (the first connection error ends it) or `stop` is set.
 */
const client = (port: number, stats: LoadStats, stop: { now: boolean }, next: () => Posted) =>
  new Promise<void>((done) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    let finished = false
    const finish = () => {
      if (finished) return
      finished = true
      agent.destroy()
      done()
    }
    const send = () => {
      if (finished) return
      if (stop.now) return finish()
      const posted = next()
      stats.inFlight++
      let answered = false
      const request = http.request(
        {
          host: "127.0.0.1",
          port,
          path: posted.path,
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(posted.body) }
        },
        (response) => {
          answered = true
          stats.inFlight--
          // The status line is the acknowledgement: the body may be cut off by the kill.
          if (response.statusCode === 202) for (const id of posted.ids) stats.acknowledged.add(id)
          else if (!stats.killed) stats.unexpected.push(`${posted.path} -> ${response.statusCode}`)
          response.on("error", () => undefined)
          // Next request once this one is complete; a body cut off by the kill ends the client.
          response.on("close", () => (response.complete ? send() : finish()))
          response.resume()
        }
      )
      request.on("error", (error) => {
        if (!answered) stats.inFlight--
        if (!stats.killed) stats.unexpected.push(`${posted.path} -> ${error.message}`)
        finish()
      })
      request.end(posted.body)
    }
    send()
  })

const ids = (dbPath: string): Set<string> =>
  withDb(dbPath, (db) => new Set((db.prepare("SELECT id FROM conversations").all() as Array<{ id: string }>).map((r) => r.id)))

describe("kill -9 durability", () => {
  it("every 202'd conversation survives a kill -9 mid-load and is analysed after restart; abandoned claims are recovered", async () => {
    const first = await spawnDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
    const dbPath = first.dbPath
    let second: ChildDaemon | undefined
    try {
      const stats: LoadStats = { acknowledged: new Set(), inFlight: 0, unexpected: [], killed: false }
      const stop = { now: false }
      const texts = [
        "My parcel still hasn't arrived and nobody answers",
        "I was charged twice for the same order, please refund",
        "Thanks, the new router works great!",
        "The app crashes every time I open my account page",
        "Been on hold for two hours, terrible service"
      ]
      // 8 clients posting single conversations with client-chosen ids…
      const singles = Array.from({ length: 8 }, (_, c) => {
        let n = 0
        return client(first.port, stats, stop, () => {
          const id = `conv_k9_s${c}_${n++}`
          return { path: "/api/v1/conversations", ids: [id], body: JSON.stringify(conversation({ id, text: `${texts[n % texts.length]} (${id})` })) }
        })
      })
      // …and 2 clients posting bulk arrays of 100, also with client-chosen ids.
      const bulks = Array.from({ length: 2 }, (_, c) => {
        let n = 0
        return client(first.port, stats, stop, () => {
          const batch = n++
          const items = Array.from({ length: 100 }, (_, i) =>
            conversation({ id: `conv_k9_b${c}_${batch}_${i}`, author: `@bulk${c}`, text: `${texts[i % texts.length]} (bulk ${c}/${batch}/${i})` })
          )
          return { path: "/api/v1/conversations/bulk", ids: items.map((item) => item.id as string), body: JSON.stringify(items) }
        })
      })

      await new Promise((r) => setTimeout(r, 2000))
      // Mid-load: the clients never pause, so requests are in flight right now.
      const inFlightAtKill = stats.inFlight
      const acknowledgedBeforeKill = stats.acknowledged.size
      stats.killed = true
      first.proc.kill("SIGKILL")
      const exit = await Promise.race([first.exited, new Promise<never>((_, no) => setTimeout(() => no(new Error("kill -9 did not end the daemon in 5 s")), 5000))])
      await Promise.race([
        Promise.all([...singles, ...bulks]),
        new Promise<never>((_, no) => setTimeout(() => no(new Error("clients did not notice the dead daemon in 10 s")), 10_000))
      ])
      stop.now = true

      expect(exit).toEqual({ code: null, signal: "SIGKILL" })
      expect(stats.unexpected).toEqual([])
      expect(inFlightAtKill).toBeGreaterThan(0)
      expect(acknowledgedBeforeKill).toBeGreaterThan(500)
      const acknowledged = [...stats.acknowledged]

      // The file alone (daemon dead, nothing recovered yet) holds every acknowledged id.
      const integrity = withDb(dbPath, (db) => db.pragma("integrity_check", { simple: true }))
      expect(integrity).toBe("ok")
      const stored = ids(dbPath)
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([])
      const atCrash = statusCounts(dbPath)
      expect(atCrash.failed).toBe(0)

      second = await spawnDaemon({ dbPath, env: { INSIGHTD_RATE_LIMIT: "0" } })
      // HTTP listens first; the pipeline (recovery, then analysis) starts right after.
      await second.waitForLog((l) => l.message === "insightd ready", 10_000, "insightd ready")
      const recovery = second.logsWith("recovered conversations left processing by a previous run")
      if (atCrash.processing > 0) {
        expect(recovery).toHaveLength(1)
        expect(recovery[0].conversations).toBe(atCrash.processing)
      } else {
        expect(recovery).toHaveLength(0)
      }

      const daemon = second
      await waitUntil(
        () => {
          const counts = statusCounts(dbPath)
          return counts.pending === 0 && counts.processing === 0
        },
        30_000,
        "the recovered backlog to be analysed"
      )
      const counts = statusCounts(dbPath)
      expect(counts).toEqual({ pending: 0, processing: 0, completed: stored.size, failed: 0 })
      expect(withDb(dbPath, (db) => (db.prepare("SELECT COUNT(*) AS n FROM insights").get() as { n: number }).n)).toBe(stored.size)

      // Through the API too: every acknowledged conversation, completed with its insight.
      const notDone = (
        await mapLimit(acknowledged, 16, async (id) => {
          const response = await fetch(`${daemon.baseUrl}/api/v1/conversations/${id}`)
          const body = (await response.json()) as { id?: string; status?: string; insight?: { analyzer?: string; clusters?: Array<string> } | null }
          return response.status === 200 && body.id === id && body.status === "completed" && String(body.insight?.analyzer).startsWith("local:") && (body.insight?.clusters?.length ?? 0) > 0
            ? null : `${id}: ${response.status} ${body.status}`
        })
      ).filter((x) => x !== null)
      expect(notDone).toEqual([])

      const stopped = await second.stop("SIGTERM", 15_000)
      expect(stopped.code).toBe(0)
      expect(statusCounts(dbPath).processing).toBe(0)
    } finally {
      if (first.isRunning()) first.proc.kill("SIGKILL")
      if (second?.isRunning()) second.proc.kill("SIGKILL")
    }
  }, 60_000)
})
