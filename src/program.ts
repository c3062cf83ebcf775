/**
 * insightd command line, loaded by the launcher src/main.ts: `insightd serve` (the daemon) and the stage commands of src/cli/.
 * Exit codes: 0 done (for the daemon, also after a SIGTERM/SIGINT drain), 1 runtime failure
 * or rejected input, 2 a wrong command line (unknown option, missing argument, bad option value),
 * 78 bad configuration (EX_CONFIG, so systemd does not restart into the same mistake),
 * 130/143 a stage command stopped by SIGINT/SIGTERM.
 *
 * Only the command tree is loaded here (src/cli/commands.ts); a command's implementation, the
 * logger included, is imported when it runs, so `--help` and each command load what they use.
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { constants as osConstants } from "node:os"
import { insightd, running, withMainLogger } from "./cli/commands.js"
import { surviveStderrLoss } from "./logging.js"

const VERSION = "0.1.0"

surviveStderrLoss()
const EXIT_CONFIG = 78
const EXIT_USAGE = 2

const cli = Command.run(insightd, { name: "insightd", version: VERSION })

/**
 * @effect/cli's built-in `--log-level` (listed in every command's help) only sets the fiber's
 * minimum level, which the logger layer built from the configuration then replaces. Given on the
 * command line it should win over INSIGHTD_LOG_LEVEL and config.json, so it is handed on as the
 * variable before anything reads the configuration (`all` is the CLI's name for `trace`).
 */
const logLevelArgument = (argv: ReadonlyArray<string>): string | undefined => {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--") return undefined
    if (argv[i].startsWith("--log-level=")) return argv[i].slice("--log-level=".length)
    if (argv[i] === "--log-level") return argv[i + 1]
  }
  return undefined
}
const requestedLogLevel = logLevelArgument(process.argv.slice(2))
if (requestedLogLevel !== undefined) process.env.INSIGHTD_LOG_LEVEL = requestedLogLevel === "all" ? "trace" : requestedLogLevel

/**
 * `warn` is accepted by INSIGHTD_LOG_LEVEL and config.json (README), but @effect/cli knows only
 * `warning` and answered `--log-level warn` with "Received unknown argument: '--log-level'". The
 * command line gets the CLI's spelling (before `--`, where options end).
 */
const withCliLogLevelNames = (argv: ReadonlyArray<string>): Array<string> => {
  const end = argv.indexOf("--")
  return argv.map((arg, i) => {
    if (end >= 0 && i > end) return arg
    if (arg === "--log-level=warn") return "--log-level=warning"
    return arg === "warn" && argv[i - 1] === "--log-level" ? "warning" : arg
  })
}

// @effect/cli colours its help whatever it is written to; `insightd --help | less` or a log file
// would get raw escape codes. Colour only reaches a terminal (and never with NO_COLOR set,
// https://no-color.org).
const ANSI_ESCAPE = /\u001b\[[0-9;]*m/g
const colourTo = (stream: NodeJS.WriteStream): boolean => stream.isTTY === true && (process.env.NO_COLOR ?? "") === ""
const plain = (args: ReadonlyArray<unknown>): Array<unknown> => args.map((arg) => (typeof arg === "string" ? arg.replace(ANSI_ESCAPE, "") : arg))
const withColourOnlyOnTerminals = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  colourTo(process.stdout) && colourTo(process.stderr)
    ? effect
    : Effect.flatMap(Effect.console, (current) => {
        const out = colourTo(process.stdout) ? (args: ReadonlyArray<unknown>) => [...args] : plain
        const err = colourTo(process.stderr) ? (args: ReadonlyArray<unknown>) => [...args] : plain
        const console: Console.Console = {
          ...current,
          log: (...args) => current.log(...out(args)),
          info: (...args) => current.info(...out(args)),
          error: (...args) => current.error(...err(args)),
          warn: (...args) => current.warn(...err(args)),
          unsafe: {
            ...current.unsafe,
            log: (...args) => current.unsafe.log(...out(args)),
            info: (...args) => current.unsafe.info(...out(args)),
            error: (...args) => current.unsafe.error(...err(args)),
            warn: (...args) => current.unsafe.warn(...err(args))
          }
        }
        return Console.withConsole(effect, console)
      })

/** The failure's tag, when it is one of our tagged errors (matched by tag: their classes are loaded lazily). */
const failureTag = (cause: Cause.Cause<unknown>): string | undefined => {
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure) || typeof failure.value !== "object" || failure.value === null || !("_tag" in failure.value)) return undefined
  return String(failure.value._tag)
}

const failureMessage = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  return Option.isSome(failure) && typeof failure.value === "object" && failure.value !== null && "message" in failure.value ? String(failure.value.message) : ""
}

/**
 * The signal that stopped the program (runMain turns SIGINT and SIGTERM into an interruption).
 * The daemon drains and exits 0 on it, as SPEC §5 says; a stage command stopped half-way exits
 * 128 + the signal's number (130, 143), as shells report it, so a partial run never reads as done.
 */
let stoppedBy: "SIGINT" | "SIGTERM" | undefined
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => (stoppedBy ??= signal))

const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return 0
  if (Cause.isInterruptedOnly(exit.cause)) return running.daemon || stoppedBy === undefined ? 0 : 128 + osConstants.signals[stoppedBy]
  const tag = failureTag(exit.cause)
  if (tag === "ConfigurationError") return EXIT_CONFIG
  return tag === "UsageError" || Option.exists(Cause.failureOption(exit.cause), ValidationError.isValidationError) ? EXIT_USAGE : 1
}

// Only help is coloured (usage errors and the commands' own output are plain), so only a help run
// gets the replaced Console; the daemon and the stage commands run with Effect's own.
const args = process.argv.slice(2)
const printsHelp = args.length === 0 || args.some((arg) => arg === "--help" || arg === "-h" || arg === "--wizard")

const argv = withCliLogLevelNames(process.argv)
const program = (printsHelp ? withColourOnlyOnTerminals(cli(argv)) : cli(argv)).pipe(
  // Start-up failures are reported once, as one log line naming the problem.
  Effect.tapErrorCause((cause) => {
    const tag = failureTag(cause)
    if (tag === "ConfigurationError") return withMainLogger(Effect.logFatal(`configuration error: ${failureMessage(cause)}`), { evenWhenSilenced: true })
    // A stage command already reported each reject; one line says why the exit status is 1.
    if (tag === "CommandFailed" || tag === "UsageError") return withMainLogger(Effect.logError(failureMessage(cause)))
    // @effect/cli already printed the usage problem (unknown option, missing argument, bad value).
    if (Option.exists(Cause.failureOption(cause), ValidationError.isValidationError)) return Effect.void
    return Cause.isInterruptedOnly(cause) ? Effect.void : withMainLogger(Effect.logFatal("insightd stopped on an error", cause), { evenWhenSilenced: true })
  }),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program, {
  disablePrettyLogger: true,
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(exitCode(exit))
})
