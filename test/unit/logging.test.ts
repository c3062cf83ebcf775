/** The JSON log line (SPEC §10): what an operator's filters match on keeps its meaning. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, Redacted } from "effect"
import { StoreError } from "../../src/domain/errors.js"
import { jsonLineLogger } from "../../src/logging.js"

const linesOf = (effect: Effect.Effect<void>) =>
  Effect.gen(function* () {
    const lines: Array<Record<string, unknown>> = []
    const logger = jsonLineLogger((line) => lines.push(JSON.parse(line) as Record<string, unknown>))
    yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return lines
  })

describe("jsonLineLogger", () => {
  it.effect("an error logged with an event is its `error` field; the event's name stays the message", () =>
    Effect.gen(function* () {
      const [line] = yield* linesOf(Effect.logError("storing conversations failed", new StoreError({ message: "database: database is locked" })))
      expect(line).toMatchObject({ level: "error", message: "storing conversations failed", error: "database: database is locked" })
    })
  )

  it.effect("fields logged with an event are added, but never replace timestamp, level or message; secrets are redacted", () =>
    Effect.gen(function* () {
      const [line] = yield* linesOf(
        Effect.logInfo("batch analyzed", { message: "spoofed", level: "fatal", timestamp: "never", conversation_id: "conv_1", api_key: "xai-secret", key: Redacted.make("k") })
      )
      expect(line.message).toBe("batch analyzed")
      expect(line.level).toBe("info")
      expect(Number.isNaN(Date.parse(String(line.timestamp)))).toBe(false)
      expect(line).toMatchObject({ conversation_id: "conv_1", api_key: "<redacted>", key: "<redacted>" })
    })
  )
})
