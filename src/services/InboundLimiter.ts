/**
 * Inbound request limit (SPEC §4: 100 POSTs/s by default, 0 = off). A token bucket that refuses
 * instead of waiting, and says how long until the next token (the `Retry-After` header).
 */
import { Clock, Effect } from "effect"
import { AppConfig } from "../config.js"

export interface Admission {
  readonly admitted: boolean
  /** Whole seconds until a request would be admitted (≥ 1 when refused). */
  readonly retryAfterSeconds: number
}

export const makeTokenBucket = (perSecond: number) => {
  let tokens = perSecond
  let updatedAt = -1
  return (nowMillis: number): Admission => {
    if (perSecond <= 0) return { admitted: true, retryAfterSeconds: 0 }
    if (updatedAt < 0) updatedAt = nowMillis
    tokens = Math.min(perSecond, tokens + ((nowMillis - updatedAt) / 1000) * perSecond)
    updatedAt = nowMillis
    if (tokens >= 1) {
      tokens -= 1
      return { admitted: true, retryAfterSeconds: 0 }
    }
    return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / perSecond)) }
  }
}

export class InboundLimiter extends Effect.Service<InboundLimiter>()("insightd/InboundLimiter", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    const take = makeTokenBucket(config.http.rateLimitPerSecond)
    return {
      enabled: config.http.rateLimitPerSecond > 0,
      admit: Effect.map(Clock.currentTimeMillis, take)
    }
  })
}) {}
