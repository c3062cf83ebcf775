/**
 * SPEC §5 "Graceful shutdown", against the real process: SIGTERM while a large backlog is being
 * analysed drains (new POSTs 503), finishes or releases in-flight work within the grace period,
 * leaves nothing `processing`, exits 0 and logs its steps; a restart completes the backlog.
 */
import { describe, expect, it } from "vitest"
import { type ChildDaemon, conversation, spawnDaemon, statusCounts, waitUntil, withDb } from "../support/child.js"

const GRACE_MS = 4000
const BACKLOG = 20_000
const BULK = 1000

const texts = [
  "I was charged twice and the parcel is late",
  "Great support, thank you so much!",
  "The login page keeps timing out",
  "Still waiting for my refund after 3 weeks",
  "ok"
]

describe("SIGTERM while busy", () => {
  it("drains, leaves nothing processing, exits 0 within the grace period, and the backlog completes after restart", async () => {
    const daemon = await spawnDaemon({ env: { INSIGHTD_RATE_LIMIT: "0", INSIGHTD_GRACE_PERIOD_MS: String(GRACE_MS) } })
    const dbPath = daemon.dbPath
    let again: ChildDaemon | undefined
    try {
      for (let chunk = 0; chunk < BACKLOG / BULK; chunk++) {
        const items = Array.from({ length: BULK }, (_, i) => conversation({ author: `@user${i % 50}`, text: `${texts[i % texts.length]} (#${chunk}-${i})` }))
        const response = await fetch(`${daemon.baseUrl}/api/v1/conversations/bulk`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(items)
        })
        expect(response.status).toBe(202)
        expect(((await response.json()) as { accepted: number }).accepted).toBe(BULK)
      }
      // Analysis is running: some done, much still to do.
      await waitUntil(() => statusCounts(dbPath).completed > 0, 10_000, "analysis to start")
      const before = statusCounts(dbPath)
      expect(before.pending + before.processing).toBeGreaterThan(0)

      const sigterm = daemon.stop("SIGTERM", GRACE_MS + 6000)
      // Once the sources are stopped, a new submission is refused with 503 (or, if the daemon has
      // already finished draining and closed its port, not answered at all).
      await daemon.waitForLog((l) => l.message === "shutdown: sources stopped, draining", 5000, "draining to start")
      const during = await fetch(`${daemon.baseUrl}/api/v1/conversations`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(conversation({ id: "conv_sigterm_late" }))
      }).then(
        async (response) => ({ status: response.status, body: (await response.json()) as { error?: string } }),
        () => null
      )
      const stopped = await sigterm
      expect(stopped.code).toBe(0)
      expect(stopped.signal).toBeNull()
      expect(stopped.ms).toBeLessThan(GRACE_MS + 4000)
      if (during === null) expect(daemon.logsWith("shutdown: complete")).toHaveLength(1)
      else expect(during).toEqual({ status: 503, body: expect.objectContaining({ error: "unavailable" }) })

      // Daemon stopped: nothing processing, nothing lost, nothing failed, no claim left behind.
      const after = statusCounts(dbPath)
      expect(after.processing).toBe(0)
      expect(after.failed).toBe(0)
      expect(after.pending + after.completed).toBe(BACKLOG)
      expect(after.pending).toBeGreaterThan(0) // it really was busy: the rest was released, not dropped
      withDb(dbPath, (db) => {
        expect(db.prepare("SELECT COUNT(*) AS n FROM conversations WHERE claimed_by IS NOT NULL OR claimed_at IS NOT NULL").get()).toEqual({ n: 0 })
        // A release is not an attempt: every pending row is back at attempts = 0.
        expect(db.prepare("SELECT COUNT(*) AS n FROM conversations WHERE status = 'pending' AND attempts <> 0").get()).toEqual({ n: 0 })
        expect(db.prepare("SELECT COUNT(*) AS n FROM insights").get()).toEqual({ n: after.completed })
        expect(db.prepare("SELECT COUNT(*) AS n FROM conversations WHERE id = 'conv_sigterm_late'").get()).toEqual({ n: 0 })
      })

      // The shutdown steps, in order.
      const messages = daemon.logs().map((l) => String(l.message))
      const steps = [
        "shutdown: signal received, draining",
        "shutdown: sources stopped, draining",
        messages.includes("shutdown: in-flight analysis finished") ? "shutdown: in-flight analysis finished" : "shutdown: grace period over, interrupting in-flight analysis",
        "shutdown: unfinished claims released",
        "shutdown: complete"
      ]
      const positions = steps.map((step) => messages.indexOf(step))
      expect(positions.every((p) => p >= 0), `missing shutdown steps: ${steps.filter((_, i) => positions[i] < 0).join(", ")}`).toBe(true)
      expect([...positions].sort((a, b) => a - b)).toEqual(positions)
      expect(daemon.logs().some((l) => l.message === "source closed" && l.source === "http")).toBe(true)
      expect(daemon.logs().filter((l) => l.level === "error" || l.level === "fatal")).toEqual([])

      // Restart on the same file: nothing to recover (nothing was left processing), backlog completes.
      again = await spawnDaemon({ dbPath, env: { INSIGHTD_RATE_LIMIT: "0" } })
      await again.waitForLog((l) => l.message === "insightd ready", 10_000, "insightd ready")
      expect(again.logsWith("recovered conversations left processing by a previous run")).toEqual([])
      await waitUntil(() => statusCounts(dbPath).completed === BACKLOG, 40_000, "the backlog to complete after restart", 200)
      expect(statusCounts(dbPath)).toEqual({ pending: 0, processing: 0, completed: BACKLOG, failed: 0 })
      expect(withDb(dbPath, (db) => db.prepare("SELECT COUNT(*) AS n FROM insights").get())).toEqual({ n: BACKLOG })
      const health = await fetch(`${again.baseUrl}/health`)
      expect(health.status).toBe(200)
      expect((await again.stop("SIGTERM", 15_000)).code).toBe(0)
    } finally {
      if (daemon.isRunning()) daemon.proc.kill("SIGKILL")
      if (again?.isRunning()) again.proc.kill("SIGKILL")
    }
  }, 80_000)
})
