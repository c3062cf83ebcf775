import { describe, expect, it } from "vitest"
import { makeSlidingWindow } from "../../src/services/InboundLimiter.js"
import { maxInAnyWindow } from "../support/fake-grok.mjs"

/** Offers a request at each time (ms, ascending); returns the times admitted. */
const admittedAt = (perSecond: number, times: ReadonlyArray<number>): Array<number> => {
  const admit = makeSlidingWindow(perSecond)
  return times.filter((at) => admit(at).admitted)
}

describe("inbound limit (SPEC §4: N POSTs per second)", () => {
  it("a burst after an idle spell gets N, not the 2N a token bucket lets through; a second later N more", () => {
    const burst = Array.from({ length: 300 }, (_, i) => 10_000 + i * 2) // 300 requests within 0.6 s
    expect(admittedAt(100, burst)).toHaveLength(100)
    const admit = makeSlidingWindow(5)
    for (let i = 0; i < 5; i++) expect(admit(0).admitted).toBe(true)
    expect(admit(0)).toEqual({ admitted: false, retryAfterSeconds: 1 })
    expect(admit(1000).admitted).toBe(false) // 0 ms and 1,000 ms are within one second of each other
    expect(admit(1001).admitted).toBe(true)
  })

  it("never more than N in any sliding second, whatever the arrival pattern, and the limit is used fully", () => {
    let seed = 7
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31)
    for (const perSecond of [1, 5, 100]) {
      const times: Array<number> = []
      let at = 0
      for (let i = 0; i < 5000; i++) times.push((at += random() < 0.1 ? random() * 700 : random() * 3))
      const admitted = admittedAt(perSecond, times)
      expect(maxInAnyWindow(admitted, 1000), `limit ${perSecond}`).toBeLessThanOrEqual(perSecond)
      expect(admitted.length).toBeGreaterThan(0)
      // Steady demand above the limit (one request per ms for 10 s): N per second are admitted.
      const steady = admittedAt(perSecond, Array.from({ length: 10_000 }, (_, i) => 50_000 + i))
      expect(steady.length, `limit ${perSecond}`).toBeGreaterThanOrEqual(Math.floor(perSecond * 10 * 0.99))
    }
  })

  it("0 turns the limit off", () => {
    expect(admittedAt(0, Array.from({ length: 1000 }, () => 5))).toHaveLength(1000)
  })
})
