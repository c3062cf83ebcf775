/**
 * The command tree: every command's name, arguments, options and description, and nothing else.
 * Each handler imports its implementation when the command runs, so `--help` or one command never
 * loads the modules of the others (the daemon, the store, csv-parse, the analyzers): Node spends
 * most of a short command's life compiling modules.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"

/** Runs `run` from a module imported on first use. */
const lazy = <M, A, E, R>(load: () => Promise<M>, run: (module: M) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.promise(load), run)

/**
 * The main logger (format from INSIGHTD_LOG_FORMAT) for a command's own logs, loaded with the
 * command. Its level: INSIGHTD_LOG_LEVEL (which --log-level sets, see program.ts) when given, else
 * the level in force (info).
 */
export const withMainLogger = <A, E, R>(effect: Effect.Effect<A, E, R>, options: { readonly evenWhenSilenced?: boolean } = {}): Effect.Effect<A, E, R> =>
  lazy(
    () => import("../logging.js"),
    ({ loggerLayer }) =>
      Effect.flatMap(FiberRef.get(FiberRef.currentMinimumLogLevel), (level) => {
        const chosen = process.env.INSIGHTD_LOG_LEVEL?.trim() || (level._tag === "None" ? "none" : level.label.toLowerCase())
        return Effect.provide(
          effect,
          loggerLayer(
            process.env.INSIGHTD_LOG_FORMAT === "pretty" ? "pretty" : process.env.INSIGHTD_LOG_FORMAT === "json" ? "json" : "auto",
            // The one line that says why the process ended (exit 78 or 1) outranks `none`.
            options.evenWhenSilenced === true && chosen === "none" ? "fatal" : chosen
          )
        )
      })
  )

/** What program.ts needs to know for the exit status: whether the command running is the daemon. */
export const running = { daemon: false }

export const serveCommand = Command.make("serve", {}, () =>
  Effect.zipRight(
    Effect.sync(() => (running.daemon = true)),
    withMainLogger(lazy(() => import("./serve.js"), ({ runServe }) => runServe))
  )
).pipe(
  Command.withDescription(
    "Run the daemon: HTTP API + stdin JSONL → validate → persist → batch → analyze → persist-insight. " +
      "Settings come from config.json (or the file INSIGHTD_CONFIG names) and the environment, which wins: INSIGHTD_PORT, INSIGHTD_HOST, " +
      "INSIGHTD_DB, INSIGHTD_ANALYZER, XAI_API_KEY, XAI_BASE_URL, XAI_MODEL, INSIGHTD_GROK_CALLS_PER_SECOND, INSIGHTD_RATE_LIMIT, " +
      "INSIGHTD_API_KEYS, INSIGHTD_LOG_LEVEL, INSIGHTD_LOG_FORMAT, INSIGHTD_PIPELINE, INSIGHTD_GRACE_PERIOD_MS (README: Configuration). Stops gracefully on SIGTERM/SIGINT."
  )
)

export const validateCommand = Command.make("validate", {}, () => withMainLogger(lazy(() => import("./validate.js"), ({ runValidate }) => runValidate))).pipe(
  Command.withDescription(
    "Read conversations JSONL on stdin, write the valid ones on stdout (each with its id: kept, or assigned as the daemon does). " +
      "A bad line is reported on stderr with its line number and the field at fault; the exit status is 1 when any line was rejected."
  )
)

export const analyzeCommand = Command.make("analyze", {}, () => withMainLogger(lazy(() => import("./analyze.js"), ({ runAnalyze }) => runAnalyze))).pipe(
  Command.withDescription(
    "Read conversations JSONL on stdin, write insights JSONL on stdout (the API's insight fields, plus raw_response, token counts and cost_usd, which `store` keeps), without a database. " +
      "Runs the daemon's validate, batch and analyze stages with the configured analyzer: local unless XAI_API_KEY is set " +
      "(or INSIGHTD_ANALYZER chooses). Bad lines and failed analyses are reported on stderr with their line number; exit status 1 then."
  )
)

export const storeCommand = Command.make("store", {}, () => withMainLogger(lazy(() => import("./store.js"), ({ runStore }) => runStore))).pipe(
  Command.withDescription(
    "Write conversations JSONL from stdin into the database (INSIGHTD_DB or config), many lines per transaction as the daemon does; " +
      "insight lines (the output of `insightd analyze`) are recorded for conversations already stored. Stored conversations are " +
      "analysed by the daemon. Prints stored/resubmitted/conflicts/insights/rejected on stderr; a conflict (same id, different content) " +
      "or bad line is a reject and makes the exit status 1."
  )
)

export const importCsvCommand = Command.make(
  "import-csv",
  {
    file: Args.text({ name: "FILE" }).pipe(Args.withDescription("the twcs.csv file (Kaggle \"Customer Support on Twitter\"); - reads stdin")),
    store: Options.boolean("store").pipe(
      Options.withDescription("write the conversations into the database (INSIGHTD_DB or config), many per transaction, instead of JSONL on stdout")
    ),
    progressEvery: Options.integer("progress-every").pipe(
      Options.withDefault(5),
      Options.filterMap((seconds) => (seconds >= 1 ? Option.some(seconds) : Option.none()), "--progress-every must be a whole number of seconds, at least 1"),
      Options.withDescription("seconds between progress log lines when stderr is not a terminal (at least 1; default 5)")
    )
  },
  (args) => withMainLogger(lazy(() => import("./import-csv.js"), ({ runImportCsv }) => runImportCsv(args)))
).pipe(
  Command.withDescription(
    "Rebuild the threads of a twcs.csv file (tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id) into " +
      "one conversation per thread: messages in time order, the customer as author, id conv_twcs_<root tweet id> (a re-import is idempotent). " +
      "Writes conversations JSONL on stdout, or stores them with --store. Bad rows are reported on stderr with their line number and make " +
      "the exit status 1; streams within a bounded memory (threads are spilled to a temp file and emitted when complete)."
  )
)

/** Conversations per request at most (the daemon's bulk limit); ingest.ts checks --batch-size against it. */
export const MAX_INGEST_BATCH = 1000

export const ingestCommand = Command.make(
  "ingest",
  {
    url: Options.text("url").pipe(Options.withDescription("the daemon's base URL, e.g. http://127.0.0.1:8080")),
    concurrency: Options.integer("concurrency").pipe(Options.withDefault(4), Options.withDescription("requests in flight at once (1..256; default 4)")),
    batchSize: Options.integer("batch-size").pipe(Options.withDefault(500), Options.withDescription(`conversations per request (1..${MAX_INGEST_BATCH}; default 500)`)),
    apiKey: Options.text("api-key").pipe(Options.optional, Options.withDescription("bearer key when the daemon requires one (default: INSIGHTD_API_KEY)")),
    retries: Options.integer("retries").pipe(Options.withDefault(8), Options.withDescription("retries of a request after network errors, timeouts or 5xx (429 waits do not count; default 8)")),
    file: Args.text({ name: "FILE" }).pipe(
      Args.optional,
      Args.withDescription("JSONL file to send, or a twcs CSV (*.csv) sent as import-csv rebuilds it; JSONL on stdin when absent or -")
    )
  },
  (options) => withMainLogger(lazy(() => import("./ingest.js"), ({ runIngest }) => runIngest(options)))
).pipe(
  Command.withDescription(
    "Send conversations JSONL to a running daemon through POST /api/v1/conversations/bulk, in chunks with bounded concurrency. " +
      "Honours 429 Retry-After, retries transient failures with backoff, resends a chunk without the lines the daemon rejected. " +
      "Prints accepted/rejected counts on stderr at the end; exit status 1 when any line was rejected."
  )
)

const filter = (name: string, description: string) => Options.text(name).pipe(Options.optional, Options.withDescription(description))

export const queryOptions = {
  startTime: filter("start-time", "only conversations at or after this ISO-8601 time"),
  endTime: filter("end-time", "only conversations before this ISO-8601 time"),
  minConfidence: filter("min-confidence", "confidence at least (0..1)"),
  maxConfidence: filter("max-confidence", "confidence at most (0..1)"),
  minSentiment: filter("min-sentiment", "sentiment score at least (-1..1)"),
  maxSentiment: filter("max-sentiment", "sentiment score at most (-1..1)"),
  sentiment: filter("sentiment", "positive, negative or neutral"),
  cluster: filter("cluster", "only insights with this topic cluster"),
  author: filter("author", "only conversations of this author"),
  order: filter("order", "desc (newest first, the default) or asc"),
  limit: filter("limit", "at most this many insights in total (default: all)")
}

export type QueryOptions = { readonly [K in keyof typeof queryOptions]: Option.Option<string> }

export const queryCommand = Command.make("query", queryOptions, (options) => withMainLogger(lazy(() => import("./query.js"), ({ runQuery }) => runQuery(options)))).pipe(
  Command.withDescription(
    "Write insights from the database (INSIGHTD_DB or config) as JSONL on stdout, newest first, with the filters of " +
      "GET /api/v1/insights. Time bounds filter the conversation timestamp (start ≤ t < end); min/max bounds are inclusive."
  )
)

const errorClass = Options.text("error-class").pipe(
  Options.optional,
  Options.withDescription(
    "only conversations whose last_error starts with this text, case ignored (e.g. `grok`, `grok answered HTTP 5`, `grok did not answer`, `local analyzer`)"
  )
)

export const retryFailedCommand = Command.make("retry-failed", { errorClass }, (options) =>
  withMainLogger(lazy(() => import("./retry-failed.js"), ({ runRetryFailed }) => runRetryFailed(options)))
).pipe(
  Command.withDescription(
    "Put failed conversations back to pending (the daemon analyses them again) and print how many on stdout. " +
      "--error-class narrows it to those whose last_error starts with the given text (case ignored)."
  )
)

export const migrateCommand = Command.make("migrate", {}, () => withMainLogger(lazy(() => import("./migrate.js"), ({ runMigrate }) => runMigrate))).pipe(
  Command.withDescription("Apply pending database migrations to the database (INSIGHTD_DB or config) and print the schema version.")
)

export const lintPipelineCommand = Command.make(
  "lint-pipeline",
  { file: Args.text({ name: "FILE" }).pipe(Args.withDescription("the pipeline file (JSON)")) },
  (args) => withMainLogger(lazy(() => import("./lint-pipeline.js"), ({ runLintPipeline }) => runLintPipeline(args)))
).pipe(
  Command.withDescription(
    "Check a pipeline file with the same check the daemon runs at start. Prints `ok` or what is wrong with its field path " +
      "(e.g. stages.2.size); exit status 0 when valid, 1 otherwise."
  )
)

export const insightd = Command.make("insightd").pipe(
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
