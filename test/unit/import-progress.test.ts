/**
 * import-csv's progress figures: the ETA follows each phase's own pace (SPEC §8 / issue 4:
 * progress with rows, threads, rate and ETA), so it does not claim seconds left while the store
 * still has most of the work ahead.
 */
import { describe, expect, it } from "vitest"
import { newProgress, progressEta, progressFraction } from "../../src/twcs/reader.js"

describe("import-csv progress", () => {
  const startedAt = 1_000_000

  it("while reading: the rest of the file at its rate, plus the emitting phase estimated from the reading time", () => {
    const p = { ...newProgress(), totalBytes: 1_000, bytesRead: 250 }
    // A quarter read in 10 s: 30 s of reading left, then 40 s × 2 of storing.
    expect(progressEta(p, startedAt, startedAt + 10_000, 2)).toBe(30 + 80)
    expect(progressFraction(p, 2 / 3)).toBeCloseTo(0.25 / 3, 10)
    // Nothing to go on yet.
    expect(progressEta({ ...p, bytesRead: 0 }, startedAt, startedAt + 10_000, 2)).toBeNull()
  })

  it("while emitting: the rest at the pace measured since emitting began, whatever the estimate said", () => {
    const p = { ...newProgress(), phase: "emitting" as const, totalBytes: 1_000, bytesRead: 1_000, spillBytes: 500, spillRead: 100, emittingSince: startedAt + 40_000 }
    // A fifth emitted in 20 s: 80 s left (the estimate from reading would have said 60).
    expect(progressEta(p, startedAt, startedAt + 60_000, 2)).toBe(80)
    // Just begun: the estimate, less what has passed.
    expect(progressEta({ ...p, spillRead: 0 }, startedAt, startedAt + 40_500, 2)).toBe(79.5)
    expect(progressEta({ ...p, phase: "done" }, startedAt, startedAt + 60_000, 2)).toBe(0)
  })
})
