/**
 * Logs: one JSON object per line on stderr (SPEC §10), or Effect's pretty logger when stderr is
 * a terminal. stdout is left to data, so stage commands can be piped.
 */
import { Cause, FiberRef, HashMap, HashSet, Layer, List, Logger, LogLevel, Redacted } from "effect"

const SECRET_KEY = /(api[_-]?keys?|authorization|secret|token|password|bearer)/i

/** Replaces secrets anywhere in a log value: Redacted values and fields whose name says secret. */
export const redact = (value: unknown, depth = 0): unknown => {
  if (Redacted.isRedacted(value)) return "<redacted>"
  if (value === null || typeof value !== "object" || depth > 6) return value
  if (value instanceof Error) return { name: value.name, message: value.message }
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && (typeof item === "string" || Redacted.isRedacted(item)) ? "<redacted>" : redact(item, depth + 1)
  }
  return out
}

/** What every line's own fields mean; a value logged with an event never replaces them. */
const RESERVED_FIELDS = { timestamp: true, level: true, message: true }

const levelName = (level: LogLevel.LogLevel): string => level.label.toLowerCase()

/**
 * A log reader that goes away (a log shipper restarting, `insightd serve 2>&1 | head`) must not
 * take the process with it: Node reports a write to the closed pipe as an 'error' event on
 * process.stderr, fatal when nobody listens, and the daemon died with its claims `processing`.
 * From then on log lines are dropped: there is nowhere left to write them, or to say so.
 */
let stderrGone = false
export const surviveStderrLoss = (): void => {
  process.stderr.on("error", () => {
    stderrGone = true
  })
}

const writeStderr = (line: string): void => {
  if (!stderrGone) process.stderr.write(line)
}

export const jsonLineLogger = (write: (line: string) => void = writeStderr) =>
  Logger.make(({ annotations, cause, date, logLevel, message, spans }) => {
    const parts = Array.isArray(message) ? message : [message]
    const entry: Record<string, unknown> = {
      timestamp: date.toISOString(),
      level: levelName(logLevel),
      message: typeof parts[0] === "string" ? parts[0] : JSON.stringify(redact(parts[0]))
    }
    for (const extra of parts.slice(1)) {
      // An error given with the event (`Effect.logError("storing conversations failed", error)`)
      // is its `error` field: merged as fields, its own `message` replaced the event's name.
      if (extra instanceof Error) {
        entry.error = extra.message
        continue
      }
      if (extra === null || typeof extra !== "object" || Array.isArray(extra)) continue
      for (const [key, value] of Object.entries(redact(extra) as Record<string, unknown>)) {
        if (!(key in RESERVED_FIELDS)) entry[key] = value
      }
    }
    for (const [key, value] of HashMap.toEntries(annotations)) {
      entry[key] = SECRET_KEY.test(key) && typeof value === "string" ? "<redacted>" : redact(value)
    }
    if (!List.isNil(spans)) {
      const now = date.getTime()
      for (const span of spans) entry[`${span.label}_ms`] = now - span.startTime
    }
    if (!Cause.isEmpty(cause)) entry.error = Cause.pretty(cause, { renderErrorCause: false }).split("\n")[0]
    write(`${JSON.stringify(entry)}\n`)
  })

export type LogFormatChoice = "json" | "pretty" | "auto"

/** Replaces the default logger; `auto` is pretty on a terminal and JSON otherwise. */
export const loggerLayer = (format: LogFormatChoice, level: string): Layer.Layer<never> => {
  const pretty = format === "pretty" || (format === "auto" && process.stderr.isTTY === true)
  const logger = pretty ? Logger.prettyLogger({ stderr: true }) : jsonLineLogger()
  // Replaces the whole logger set (not just the default one), so nesting never logs twice.
  const only = Layer.locallyScoped(FiberRef.currentLoggers, HashSet.make<[Logger.Logger<unknown, void>]>(logger))
  return Layer.merge(only, Logger.minimumLogLevel(parseLevel(level)))
}

export const parseLevel = (level: string): LogLevel.LogLevel => {
  switch (level) {
    case "trace":
      return LogLevel.Trace
    case "debug":
      return LogLevel.Debug
    case "warning":
    case "warn":
      return LogLevel.Warning
    case "error":
      return LogLevel.Error
    case "fatal":
      return LogLevel.Fatal
    case "none":
      return LogLevel.None
    default:
      return LogLevel.Info
  }
}
