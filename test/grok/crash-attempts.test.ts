/**
 * kill -9 with Grok calls in flight: the daemon claims far ahead of its 10 calls/s (up to
 * max_in_flight batches wait for a call slot), so a crash must not count an attempt against
 * conversations no call ever carried, or a few crashes in a row would fail them unsent.
 */
import { afterEach, describe, expect, it } from "vitest"
import { type FakeGrok, startFakeGrok } from "../support/fake-grok.mjs"
import { type Daemon, postBulk, startDaemon, statusCounts, waitFor } from "./daemon-process.js"

let fake: FakeGrok | undefined
let daemon: Daemon | undefined
/** The daemon of a round that is to crash; killed here too if the test fails before it does. */
let crashing: Daemon | undefined
afterEach(async () => {
  if (crashing !== undefined) {
    await crashing.kill("SIGKILL")
    crashing.cleanup()
  }
  await daemon?.stop()
  await fake?.close()
  crashing = undefined
  daemon = undefined
  fake = undefined
})

const grokEnv = (fake: FakeGrok) => ({
  XAI_API_KEY: "xai-test-secret-key",
  XAI_BASE_URL: fake.baseUrl,
  // Unanswered calls stay in flight until the crash.
  INSIGHTD_GROK_TIMEOUT_MS: "30000",
  INSIGHTD_GRACE_PERIOD_MS: "1500"
})
// Calls ~450 ms apart while crashing: the kill lands long before the next one could be marked or sent.
const slowGrokEnv = (fake: FakeGrok) => ({ ...grokEnv(fake), INSIGHTD_GROK_CALLS_PER_SECOND: "2" })

describe("kill -9 with Grok calls in flight", () => {
  it("counts an attempt only for the conversations a call carried; the rest keep their budget, and all complete after restart", async () => {
    const CALLS_PER_CRASH = 3
    const CRASHES = 2
    // Each round's third call kills the daemon as it arrives: no further call has begun when the
    // signal lands.
    fake = await startFakeGrok({
      fault: (call) => {
        if (call % CALLS_PER_CRASH === 0) void crashing?.kill("SIGKILL")
        return "timeout"
      }
    })
    const items = Array.from({ length: 1000 }, (_, i) => ({ id: `conv_crash_${String(i).padStart(4, "0")}`, author: `customer${i}`, timestamp: "2024-05-01T12:00:00Z", text: `order ${i} is late again` }))
    const sentIn = new Map<string, number>()
    let dbPath: string | undefined
    for (let round = 0; round < CRASHES; round++) {
      const callsBefore = fake.calls.length
      crashing = await startDaemon(slowGrokEnv(fake), dbPath === undefined ? undefined : { dbPath })
      dbPath = crashing.dbPath
      if (round === 0) await postBulk(crashing, items)
      await waitFor(() => fake!.calls.length >= callsBefore + CALLS_PER_CRASH, 30_000, "the calls of this round")
      const code = await crashing.kill("SIGKILL")
      expect(code).toBeNull() // killed, not exited
      for (const call of fake.calls.slice(callsBefore)) for (const id of call.ids) sentIn.set(id, (sentIn.get(id) ?? 0) + 1)
      expect(fake.calls.length).toBe(callsBefore + CALLS_PER_CRASH)
    }
    crashing = undefined

    // What the crashes left: claimed rows `processing`, far more than the calls carried.
    fake.setFault(() => "ok")
    daemon = await startDaemon(grokEnv(fake), { dbPath: dbPath! })
    const db = daemon.db()
    const recoveredLog = "recovered conversations left processing by a previous run"
    await waitFor(() => daemon!.logs.some((l) => l.message === recoveredLog), 10_000, "the recovery")
    const recovered = daemon.logs.find((l) => l.message === recoveredLog)
    expect(Number(recovered?.conversations)).toBeGreaterThan(10 * CALLS_PER_CRASH)
    await waitFor(() => (statusCounts(daemon!).completed ?? 0) === items.length, 60_000, "every conversation to complete")
    const counts = statusCounts(daemon)
    expect(counts.failed ?? 0).toBe(0)
    // Each completed conversation's attempts: one per crashed run whose call carried it, plus the
    // run that completed it. None was charged for a run in which it only waited for a slot.
    const attempts = db.prepare("SELECT id, attempts FROM conversations").all() as Array<{ id: string; attempts: number }>
    const wrong = attempts.filter((row) => row.attempts !== (sentIn.get(row.id) ?? 0) + 1)
    expect(wrong.slice(0, 5)).toEqual([])
    expect(sentIn.size).toBeGreaterThan(0)
    expect([...sentIn.values()].some((n) => n === CRASHES)).toBe(true) // the oldest went out in every run
  }, 120_000)
})
