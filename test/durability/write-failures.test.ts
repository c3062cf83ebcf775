/**
 * "Nothing gets stuck" (SPEC §5) when the database refuses writes for a while: a full disk, or a
 * write lock held by another process past the busy timeout. Requests get 503 meanwhile; once
 * writes pass again, the analysis flow goes on by itself and every accepted conversation ends
 * `completed`, with nothing left `pending` or `processing` and no restart of the daemon.
 */
import Database from "better-sqlite3"
import { execFileSync } from "node:child_process"
import { afterEach, describe, expect, it } from "vitest"
import { type ChildDaemon, conversation, spawnDaemon, statusCounts, waitUntil } from "../support/child.js"

const daemons: Array<ChildDaemon> = []
afterEach(async () => {
  for (const daemon of daemons.splice(0)) if (daemon.isRunning()) await daemon.stop()
})

const postBulk = async (daemon: ChildDaemon, count: number, tag: string): Promise<number> => {
  const items = Array.from({ length: count }, (_, i) =>
    conversation({ author: `customer-${tag}-${i}`, text: `order ${tag}-${i} still hasn't arrived and I was charged twice for it, please refund me` })
  )
  const response = await fetch(`${daemon.baseUrl}/api/v1/conversations/bulk`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(items)
  })
  await response.text()
  return response.status
}

describe("writes refused for a while", () => {
  it("a full disk: 503 while writes fail, then the backlog is analysed once there is room again, without a restart", async () => {
    // RLIMIT_FSIZE: writing past 3 MB fails in SQLite as a full disk would (EFBIG).
    const daemon = await spawnDaemon({ maxFileBytes: 3_000_000, env: { INSIGHTD_RATE_LIMIT: "0" } })
    daemons.push(daemon)
    let accepted = 0
    let refused = 0
    for (let round = 0; round < 40 && refused < 3; round++) {
      const status = await postBulk(daemon, 300, `full-${round}`)
      if (status === 202) accepted += 300
      else {
        expect(status).toBe(503)
        refused++
      }
    }
    expect(refused).toBe(3)
    expect(accepted).toBeGreaterThan(0)
    // Out of rotation while writes fail (a small probe write would still pass on this "disk").
    const ready = await fetch(`${daemon.baseUrl}/ready`)
    expect(ready.status).toBe(503)
    expect(((await ready.json()) as { reason?: string }).reason).toBe("database_unwritable")

    // Room again (as when an operator frees space): lift the limit on the running process.
    execFileSync("prlimit", ["--pid", String(daemon.pid), "--fsize=unlimited:unlimited"])
    // The analysis flow failed on the full disk: it must go on by itself, and pick up new work.
    await waitUntil(async () => (await postBulk(daemon, 50, "after")) === 202, 15_000, "a bulk accepted again")
    accepted += 50
    await waitUntil(() => statusCounts(daemon.dbPath).completed === accepted, 30_000, `all ${accepted} accepted conversations completed`)
    expect(statusCounts(daemon.dbPath)).toEqual({ pending: 0, processing: 0, completed: accepted, failed: 0 })
    expect(daemon.isRunning()).toBe(true)
    expect((await fetch(`${daemon.baseUrl}/ready`)).status).toBe(200)
  })

  it("a write lock held elsewhere past the busy timeout: the failed flow's claims are handed back and analysed", async () => {
    const daemon = await spawnDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
    daemons.push(daemon)
    for (let round = 0; round < 10; round++) expect(await postBulk(daemon, 1_000, `lock-${round}`)).toBe(202)

    // Another process (here: this one) holds the write lock for more than twice the 5 s busy
    // timeout while the daemon is still analysing the backlog: recording results fails after 5 s,
    // and so does handing the claims back 5 s later, until the lock goes.
    const other = new Database(daemon.dbPath)
    other.exec("BEGIN IMMEDIATE")
    await new Promise((resolve) => setTimeout(resolve, 12_000))
    other.exec("COMMIT")
    other.close()

    await waitUntil(() => statusCounts(daemon.dbPath).completed === 10_000, 45_000, "all 10,000 completed")
    expect(statusCounts(daemon.dbPath)).toEqual({ pending: 0, processing: 0, completed: 10_000, failed: 0 })
    expect(daemon.logsWith("analysis flow failed; restarting").length).toBeGreaterThan(0)
  })
})
