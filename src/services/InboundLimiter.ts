/**
 * Inbound request limit (SPEC §4: 100 POSTs/s by default, 0 = off): at most N requests admitted in
 * any one second, refusing (not waiting) beyond, with how long to wait (the `Retry-After` header).
 * A sliding window, not a token bucket: a bucket of N refilled at N/s admitted up to 2N within
 * one second after an idle spell (196 of a burst at the default of 100, measured).
 */
import { Clock, Effect } from "effect"
import { AppConfig } from "../config.js"

export interface Admission {
  readonly admitted: boolean
  /** Whole seconds until a request would be admitted (≥ 1 when refused). */
  readonly retryAfterSeconds: number
}

const ADMITTED: Admission = { admitted: true, retryAfterSeconds: 0 }
/** The window never lasts more than a second: a refused client may try again after one. */
const REFUSED: Admission = { admitted: false, retryAfterSeconds: 1 }

/**
 * Admissions counted per millisecond over the last 1,001 milliseconds: any interval shorter than a
 * second lies within 1,001 consecutive milliseconds, so no second ever holds more than
 * `perSecond` admissions, in constant memory whatever the limit.
 */
const WINDOW_SLOTS = 1001

export const makeSlidingWindow = (perSecond: number) => {
  const counts = new Uint32Array(WINDOW_SLOTS)
  let total = 0
  /** The latest millisecond counted (a clock that steps back keeps counting into it). */
  let latest = Number.NEGATIVE_INFINITY
  return (nowMillis: number): Admission => {
    if (perSecond <= 0) return ADMITTED
    const now = Math.floor(nowMillis)
    if (now - latest >= WINDOW_SLOTS) {
      counts.fill(0)
      total = 0
      latest = now
    } else {
      for (; latest < now; ) {
        latest++
        const slot = latest % WINDOW_SLOTS
        total -= counts[slot]
        counts[slot] = 0
      }
    }
    if (total >= perSecond) return REFUSED
    counts[latest % WINDOW_SLOTS]++
    total++
    return ADMITTED
  }
}

export class InboundLimiter extends Effect.Service<InboundLimiter>()("insightd/InboundLimiter", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    const take = makeSlidingWindow(config.http.rateLimitPerSecond)
    return {
      enabled: config.http.rateLimitPerSecond > 0,
      admit: Effect.map(Clock.currentTimeMillis, take)
    }
  })
}) {}
