/**
 * insightd command line: `insightd serve` (the daemon) and the stage commands of src/cli/.
 * Exit codes: 0 done (also after a SIGTERM/SIGINT drain), 1 runtime failure,
 * 78 bad configuration (EX_CONFIG, so systemd does not restart into the same mistake).
 */
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, Option } from "effect"
import { loadConfig } from "./config.js"
import { ConfigurationError } from "./domain/errors.js"
import { loggerLayer } from "./logging.js"
import { loadPipeline } from "./pipeline/definition.js"
import { analyzeCommand } from "./cli/analyze.js"
import { importCsvCommand } from "./cli/import-csv.js"
import { ingestCommand } from "./cli/ingest.js"
import { lintPipelineCommand } from "./cli/lint-pipeline.js"
import { migrateCommand } from "./cli/migrate.js"
import { queryCommand } from "./cli/query.js"
import { retryFailedCommand } from "./cli/retry-failed.js"
import { CommandFailed } from "./cli/shared.js"
import { storeCommand } from "./cli/store.js"
import { validateCommand } from "./cli/validate.js"

const VERSION = "0.1.0"
const EXIT_CONFIG = 78

const serveCommand = Command.make("serve", {}, () =>
  Effect.gen(function* () {
    const config = yield* loadConfig(process.env)
    const pipeline = yield* loadPipeline(config.pipelineFile)
    // Loaded only for `serve`: the HTTP server, its handlers and the metrics exporter are most of
    // the daemon's modules, and every stage command would otherwise pay for loading them.
    const { serve } = yield* Effect.promise(() => import("./daemon.js"))
    return yield* serve(config, pipeline).pipe(Effect.provide(loggerLayer(config.log.format, config.log.level)))
  })
).pipe(Command.withDescription("Run the daemon: HTTP API + stdin JSONL → validate → persist → batch → analyze → persist-insight"))

const insightd = Command.make("insightd").pipe(
  Command.withDescription("Turn customer conversations into insights: sentiment, confidence, topic clusters, reasoning."),
  Command.withSubcommands([
    serveCommand,
    validateCommand,
    analyzeCommand,
    storeCommand,
    importCsvCommand,
    ingestCommand,
    queryCommand,
    retryFailedCommand,
    migrateCommand,
    lintPipelineCommand
  ])
)

const cli = Command.run(insightd, { name: "insightd", version: VERSION })

const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return 0
  const failure = Cause.failureOption(exit.cause)
  return Option.isSome(failure) && failure.value instanceof ConfigurationError ? EXIT_CONFIG : 1
}

const program = cli(process.argv).pipe(
  // Start-up failures are reported once, as one log line naming the problem.
  Effect.tapErrorCause((cause) => {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure) && failure.value instanceof ConfigurationError) {
      return Effect.logFatal(`configuration error: ${failure.value.message}`)
    }
    // A stage command already reported each reject; one line says why the exit status is 1.
    if (Option.isSome(failure) && failure.value instanceof CommandFailed) return Effect.logError(failure.value.message)
    if (Option.isSome(failure) && typeof failure.value === "object" && failure.value !== null && "_tag" in failure.value && String(failure.value._tag).endsWith("ValidationError")) {
      return Effect.void // @effect/cli already printed the usage problem
    }
    return Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logFatal("insightd stopped on an error", cause)
  }),
  Effect.provide(loggerLayer(process.env.INSIGHTD_LOG_FORMAT === "pretty" ? "pretty" : process.env.INSIGHTD_LOG_FORMAT === "json" ? "json" : "auto", "info")),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program, {
  disablePrettyLogger: true,
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(exitCode(exit))
})
