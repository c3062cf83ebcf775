/**
 * A daemon whose log reader goes away (a log shipper restarting, `insightd serve 2>&1 | head`)
 * keeps serving and still shuts down gracefully: a write to a closed stderr pipe (EPIPE) used to
 * be an uncaught error that killed it with exit 1, leaving its claims `processing`.
 */
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { conversation, postJson, startDaemon, waitForStatus } from "../support/server.js"

describe("a daemon whose stderr reader has gone", () => {
  it("keeps accepting and analysing, then drains on SIGTERM and exits 0", async () => {
    // debug: every batch is a log line, so the daemon writes to the dead pipe all along.
    const daemon = await startDaemon({ env: { INSIGHTD_LOG_LEVEL: "debug", INSIGHTD_RATE_LIMIT: "0" } })
    try {
      daemon.child.stderr!.destroy()
      const ids: Array<string> = []
      for (let round = 0; round < 5; round++) {
        const response = await postJson(daemon.baseUrl, "/api/v1/conversations/bulk", Array.from({ length: 200 }, (_, i) => conversation({ text: `Still waiting for my refund, ticket ${round}-${i}` })))
        expect(response.status).toBe(202)
        ids.push(...((await response.json()) as { conversation_ids: Array<string> }).conversation_ids)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      await waitForStatus(daemon.baseUrl, ids[ids.length - 1], "completed")
      expect(await daemon.stop("SIGTERM")).toBe(0)
      const db = new Database(daemon.dbPath, { readonly: true })
      try {
        expect(db.prepare("SELECT COUNT(*) FROM conversations WHERE status = 'processing'").pluck().get()).toBe(0)
        expect(db.prepare("SELECT COUNT(*) FROM conversations").pluck().get()).toBe(1000)
      } finally {
        db.close()
      }
    } finally {
      await daemon.stop("SIGKILL").catch(() => undefined)
      daemon.cleanup()
    }
  }, 60_000)
})
