/**
 * What the stage commands share: the error that ends a command after it has reported its rejects,
 * configuration and logging set-up, JSONL input (stdin or a file) and JSONL output on stdout.
 * Data goes to stdout only; every log line goes to stderr (src/logging.ts).
 */
import { Effect, Either, Layer, Schema, Stream } from "effect"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { createReadStream, existsSync } from "node:fs"
import { type Config, loadConfig } from "../config.js"
import type { ConfigurationError } from "../domain/errors.js"
import { loggerLayer } from "../logging.js"
import { tracingLayer } from "../observability/tracing.js"
import { linesOf, stdinLines, stdinUnreadable } from "../sources/stdin.js"
import type { InputLine } from "../stages/validate.js"

/**
 * The command finished but did not do everything asked (rejected lines, a bad option, an
 * unreachable daemon). The details were already reported on stderr; program.ts exits with 1.
 */
export class CommandFailed extends Schema.TaggedError<CommandFailed>()("CommandFailed", {
  message: Schema.String
}) {}

/**
 * The command line itself is wrong (an option's value): exit status 2, as for an unknown option
 * or a missing argument, so a script can tell a mistyped flag from rejected input (1).
 */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  message: Schema.String
}) {}

/** Loads config.json + environment (as `serve` does); logs with its level and format, traces as the daemon does. */
export const withConfig = <A, E, R>(run: (config: Config) => Effect.Effect<A, E, R>): Effect.Effect<A, E | ConfigurationError, R> =>
  Effect.gen(function* () {
    const config = yield* loadConfig(process.env)
    // Tracing as in the daemon: OTLP when configured, otherwise off (spans cost CPU per batch).
    return yield* run(config).pipe(Effect.provide(Layer.merge(loggerLayer(config.log.format, config.log.level), tracingLayer())))
  })

/**
 * For commands that only read or update what is there (query, retry-failed): a database file
 * that does not exist is a mistake (a typo in INSIGHTD_DB), not an empty database to create.
 */
export const requireDatabase = (command: string, file: string): Effect.Effect<void, CommandFailed> =>
  file === ":memory:" || existsSync(file)
    ? Effect.void
    : Effect.fail(new CommandFailed({ message: `${command}: database ${file} does not exist (set INSIGHTD_DB or database.file in config.json)` }))

/**
 * JSONL lines of FILE, or of stdin when the argument is absent or `-`. A file is read through a
 * Node read stream, as stdin is: FileSystem.stream could not be interrupted while it waited for
 * demand, so a command whose downstream failed mid-file (`ingest` refused with a 401 while the
 * rest of the file was still unread) hung instead of exiting, SIGTERM included.
 */
export const inputLines = (file: string | undefined): Stream.Stream<InputLine, CommandFailed> =>
  file === undefined || file === "-"
    ? Stream.suspend(() => {
        const unreadable = stdinUnreadable()
        return unreadable === undefined ? stdinLines : Stream.fail(new CommandFailed({ message: unreadable }))
      })
    : linesOf(
        NodeStream.fromReadable(
          () => createReadStream(file, { highWaterMark: 64 * 1024 }),
          (error) => new CommandFailed({ message: `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}` })
        )
      )

// A reader that went away (`insightd query | head`) is not an error of ours: stop quietly. Any
// other write failure (a full disk, `> /dev/full`) fails the command with one line naming it.
let stdoutClosed = false
let stdoutFailure: Error | undefined
let watchingStdout = false
const watchStdout = () => {
  if (watchingStdout) return
  watchingStdout = true
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") {
      stdoutFailure ??= error
      return
    }
    stdoutClosed = true
    process.exit(0)
  })
}
const cannotWrite = (error: Error) => new CommandFailed({ message: `cannot write to stdout (${error.message})` })

/**
 * Writes lines (already serialised) on stdout, one write per call, resuming once the write is
 * done (so while the pipe is full it waits) and failing when it could not be made.
 */
export const writeLines = (lines: ReadonlyArray<string>): Effect.Effect<void, CommandFailed> =>
  Effect.suspend(() => {
    if (lines.length === 0 || stdoutClosed) return Effect.void
    if (stdoutFailure !== undefined) return Effect.fail(cannotWrite(stdoutFailure))
    return Effect.async<void, CommandFailed>((resume) => {
      watchStdout()
      process.stdout.write(`${lines.join("\n")}\n`, (error) => {
        if (error === null || error === undefined) return resume(Effect.void)
        // EPIPE: the listener above ends the process quietly.
        if ((error as NodeJS.ErrnoException).code !== "EPIPE") resume(Effect.fail(cannotWrite(error)))
      })
    })
  })

/** Writes values as JSONL on stdout. */
export const writeJsonLines = (values: ReadonlyArray<unknown>): Effect.Effect<void, CommandFailed> => writeLines(values.map((value) => JSON.stringify(value)))

/** Reports one rejected input line on stderr: its number and why, never a stack trace. */
export const reportRejected = (line: number, reason: string, fields: Record<string, unknown> = {}): Effect.Effect<void> =>
  Effect.logWarning(`line ${line} rejected: ${reason}`).pipe(Effect.annotateLogs({ line, reason, ...fields }))

/** Parses one JSONL line; blank lines are no data (undefined). */
export const parseJsonLine = (text: string): Either.Either<unknown, string> | undefined => {
  const trimmed = text.trim()
  if (trimmed === "") return undefined
  try {
    return Either.right(JSON.parse(trimmed) as unknown)
  } catch (error) {
    return Either.left(`not valid JSON (${(error as Error).message})`)
  }
}

/**
 * Runs `work` and, while it runs, logs `progress` every `everyMs` with the counts so far, so a long
 * import is visibly alive; the log stops when the work ends.
 */
export const withProgress = <A, E, R>(work: Effect.Effect<A, E, R>, command: string, counts: () => Record<string, number>, everyMs = 5000): Effect.Effect<A, E, R> =>
  Effect.raceFirst(
    work,
    Effect.forever(Effect.zipRight(Effect.sleep(everyMs), Effect.suspend(() => Effect.logInfo(`${command} progress`).pipe(Effect.annotateLogs(counts())))))
  ).pipe(summaryWhenInterrupted(command, counts))

/**
 * A command stopped by SIGINT/SIGTERM still says how far it got (the counts it would have given at
 * the end); program.ts then exits 128 + the signal's number, so `timeout 600 insightd … && next`
 * does not take a partial run for a finished one.
 */
export const summaryWhenInterrupted =
  (command: string, counts: () => Record<string, number>) =>
  <A, E, R>(work: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.onInterrupt(work, () => Effect.suspend(() => Effect.logWarning(`${command} interrupted`).pipe(Effect.annotateLogs(counts()))))

/** Exit status 1 with a one-line summary when anything was rejected. */
export const failWhenRejected = (command: string, rejected: number): Effect.Effect<void, CommandFailed> =>
  rejected > 0 ? Effect.fail(new CommandFailed({ message: `${command}: ${rejected} line${rejected === 1 ? "" : "s"} rejected` })) : Effect.void
