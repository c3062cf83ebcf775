/**
 * Deployment configuration: config.json (every field optional, embedded defaults) overlaid by
 * the environment variables of SPEC §9. A bad value stops start-up with one message naming it.
 */
import { Context, Effect, Either, Layer, ParseResult, Redacted, Schema } from "effect"
import { existsSync } from "node:fs"
import { isIP } from "node:net"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { ConfigurationError } from "./domain/errors.js"
import { describeFileIssues, readJsonObjectFile } from "./domain/fileIssues.js"

const Port = Schema.Int.pipe(Schema.between(0, 65535, { message: () => "must be an integer port 0..65535" }))
/** An empty host would listen on every interface; an empty database file is a temporary one, deleted at exit. */
const NonBlankText = Schema.String.pipe(Schema.filter((text) => text.trim() !== "" || "must not be empty"))
/**
 * Where to listen: an IP address or a host name. A value that is neither (`999.1.1.1`, `local host`)
 * is a configuration error (exit 78, nothing opened), not a listen failure after the database was
 * opened and migrated, which exited 1 and made systemd restart into the same mistake.
 */
const HOST_NAME = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$/
const ListenHost = NonBlankText.pipe(
  Schema.filter(
    (text) => isIP(text) !== 0 || (HOST_NAME.test(text) && !/^\d+$/.test(text.replace(/\.$/, "").split(".").at(-1) ?? "")) || "must be an IP address (127.0.0.1, 0.0.0.0, ::) or a host name"
  )
)
const HttpUrl = Schema.String.pipe(Schema.pattern(/^https?:\/\/\S+$/, { message: () => "must be an http(s) URL" }))
// Its value is never echoed: a key pasted here by mistake must not reach the logs.
const EnvVarName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: () => "must be the name of an environment variable (letters, digits and _), not its value" })
)
const PositiveInt = Schema.Int.pipe(Schema.positive({ message: () => "must be a positive integer" }))
const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative({ message: () => "must be a non-negative integer" }))
export const AnalyzerChoice = Schema.Literal("auto", "grok", "local")
export type AnalyzerChoice = typeof AnalyzerChoice.Type
const LogLevelName = Schema.Literal("trace", "debug", "info", "warning", "warn", "error", "fatal", "none")
const LogFormat = Schema.Literal("json", "pretty", "auto")

const withDefault = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
  Schema.optionalWith(schema, { default: () => value, exact: true })

/** A section that may be left out entirely: it then takes every default of its own fields. */
const section = <A, I>(schema: Schema.Schema<A, I>) =>
  Schema.optionalWith(schema, { default: () => Schema.decodeUnknownSync(schema)({}), exact: true })

/** The shape of config.json. Unknown keys are rejected so typos do not pass silently. */
export const ConfigFile = Schema.Struct({
  http: section(
    Schema.Struct({
      host: withDefault(ListenHost, "127.0.0.1"),
      port: withDefault(Port, 8080),
      max_body_bytes: withDefault(PositiveInt, 1024 * 1024),
      max_bulk_body_bytes: withDefault(PositiveInt, 16 * 1024 * 1024),
      max_bulk_items: withDefault(PositiveInt, 1000),
      rate_limit_per_second: withDefault(NonNegativeInt, 100),
      api_keys_env: withDefault(EnvVarName, "INSIGHTD_API_KEYS")
    })
  ),
  database: section(Schema.Struct({ file: withDefault(NonBlankText, "data/insightd.db") })),
  analyzer: section(
    Schema.Struct({
      kind: withDefault(AnalyzerChoice, "auto"),
      retry_budget: withDefault(NonNegativeInt, 3),
      grok: section(
        Schema.Struct({
          base_url: withDefault(HttpUrl, "https://api.x.ai/v1"),
          model: withDefault(NonBlankText, "grok-4-fast-non-reasoning"),
          api_key_env: withDefault(EnvVarName, "XAI_API_KEY"),
          calls_per_second: withDefault(PositiveInt, 10),
          timeout_ms: withDefault(PositiveInt, 30_000),
          max_in_flight: withDefault(PositiveInt, 64),
          /** While the key is rejected (401/403), one probe call per this interval. */
          probe_interval_ms: withDefault(PositiveInt, 30_000),
          /** Characters of conversation text per conversation in the prompt; longer threads keep their newest messages. */
          max_conversation_chars: withDefault(PositiveInt, 6_000),
          retry_base_delay_ms: withDefault(PositiveInt, 500),
          retry_max_delay_ms: withDefault(PositiveInt, 30_000),
          /** How many of the most used cluster labels the prompt offers for reuse. */
          top_clusters: withDefault(NonNegativeInt, 30)
        })
      )
    })
  ),
  sentiment: section(
    Schema.Struct({
      negative_below: withDefault(Schema.Number.pipe(Schema.between(-1, 1)), -0.1),
      positive_above: withDefault(Schema.Number.pipe(Schema.between(-1, 1)), 0.1)
    })
  ),
  shutdown: section(Schema.Struct({ grace_period_ms: withDefault(NonNegativeInt, 10_000) })),
  log: section(
    Schema.Struct({ level: withDefault(LogLevelName, "info"), format: withDefault(LogFormat, "auto") })
  ),
  pipeline: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1, { message: () => "must not be empty" })), { exact: true })
})
export type ConfigFile = typeof ConfigFile.Type

export interface Config {
  readonly configFile: string | null
  readonly http: {
    readonly host: string
    readonly port: number
    readonly maxBodyBytes: number
    readonly maxBulkBodyBytes: number
    readonly maxBulkItems: number
    readonly rateLimitPerSecond: number
    readonly apiKeys: ReadonlyArray<Redacted.Redacted<string>>
  }
  readonly databaseFile: string
  readonly analyzer: {
    readonly choice: AnalyzerChoice
    readonly retryBudget: number
    readonly grok: {
      readonly baseUrl: string
      readonly model: string
      readonly apiKey: Redacted.Redacted<string> | null
      readonly callsPerSecond: number
      readonly timeoutMs: number
      readonly maxInFlight: number
      readonly probeIntervalMs: number
      readonly maxConversationChars: number
      readonly retryBaseDelayMs: number
      readonly retryMaxDelayMs: number
      readonly topClusters: number
    }
  }
  readonly sentiment: { readonly negativeBelow: number; readonly positiveAbove: number }
  readonly gracePeriodMs: number
  readonly log: { readonly level: typeof LogLevelName.Type; readonly format: typeof LogFormat.Type }
  readonly pipelineFile: string
}

const DEFAULT_PIPELINE = "pipelines/default.json"

/**
 * The pipeline when none is configured: ./pipelines/default.json when the working directory has
 * one (a checkout, the Docker image), else the one shipped with the package, so `insightd serve`
 * (or `npx insightd serve`) also starts from any other directory. (This module sits one level
 * below the package root, as src/config.ts, dist/config.js and the dist/main.js bundle all do.)
 */
const defaultPipelineFile = (): string =>
  existsSync(DEFAULT_PIPELINE) ? DEFAULT_PIPELINE : fileURLToPath(new URL(`../${DEFAULT_PIPELINE}`, import.meta.url))

export class AppConfig extends Context.Tag("insightd/AppConfig")<AppConfig, Config>() {}

/** Text naming one of `values`; the message lists them all. */
const oneOfText = <const L extends ReadonlyArray<string>>(values: L) =>
  Schema.String.pipe(
    Schema.filter((text): text is L[number] => values.includes(text), { message: () => `must be one of ${values.join(", ")}` })
  )

/** An integer written as text, within bounds, with a message that says so. */
const intText = (min: number, max: number, what: string) =>
  Schema.String.pipe(
    Schema.filter((text) => /^-?\d+$/.test(text) && Number(text) >= min && Number(text) <= max, { message: () => `must be ${what}` }),
    Schema.compose(Schema.NumberFromString, { strict: false })
  )

const nonEmpty = Schema.String.pipe(Schema.minLength(1, { message: () => "must not be empty" }))

const envSchemas = {
  INSIGHTD_PORT: intText(0, 65535, "an integer port 0..65535"),
  INSIGHTD_HOST: ListenHost,
  INSIGHTD_DB: nonEmpty,
  INSIGHTD_ANALYZER: oneOfText(["auto", "grok", "local"]),
  XAI_BASE_URL: HttpUrl,
  XAI_MODEL: nonEmpty,
  INSIGHTD_GROK_CALLS_PER_SECOND: intText(1, 10_000, "a positive integer"),
  INSIGHTD_GROK_TIMEOUT_MS: intText(1, 3_600_000, "a positive integer number of milliseconds"),
  INSIGHTD_GROK_MAX_IN_FLIGHT: intText(1, 1024, "an integer between 1 and 1024"),
  INSIGHTD_GROK_PROBE_INTERVAL_MS: intText(1, 86_400_000, "a positive integer number of milliseconds"),
  INSIGHTD_GROK_RETRY_BASE_MS: intText(1, 3_600_000, "a positive integer number of milliseconds"),
  INSIGHTD_GROK_RETRY_MAX_MS: intText(1, 3_600_000, "a positive integer number of milliseconds"),
  INSIGHTD_RETRY_BUDGET: intText(0, 100, "an integer between 0 and 100"),
  INSIGHTD_RATE_LIMIT: intText(0, 10_000_000, "a non-negative integer (0 turns the limit off)"),
  INSIGHTD_LOG_LEVEL: oneOfText(["trace", "debug", "info", "warning", "warn", "error", "fatal", "none"]),
  INSIGHTD_LOG_FORMAT: oneOfText(["json", "pretty", "auto"]),
  INSIGHTD_GRACE_PERIOD_MS: intText(0, 3_600_000, "a non-negative integer number of milliseconds"),
  INSIGHTD_PIPELINE: nonEmpty
} as const

type EnvValues = { readonly [K in keyof typeof envSchemas]?: (typeof envSchemas)[K]["Type"] }

/** Every variable set, decoded; every bad one is named at once, as config.json's fields are. */
const readEnv = (env: NodeJS.ProcessEnv): Either.Either<EnvValues, ConfigurationError> => {
  const values: Record<string, unknown> = {}
  const problems: Array<string> = []
  for (const [name, schema] of Object.entries(envSchemas)) {
    const raw = env[name]
    if (raw === undefined || raw === "") continue
    const decoded = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, string>)(raw.trim())
    if (Either.isLeft(decoded)) {
      const why = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]?.message ?? "is invalid"
      problems.push(`environment variable ${name}: ${why} (got ${JSON.stringify(raw)})`)
    } else values[name] = decoded.right
  }
  return problems.length > 0 ? Either.left(new ConfigurationError({ message: problems.join("; ") })) : Either.right(values as EnvValues)
}

const splitKeys = (value: string | undefined): ReadonlyArray<Redacted.Redacted<string>> =>
  (value ?? "").split(",").map((key) => key.trim()).filter((key) => key.length > 0).map((key) => Redacted.make(key))

/** Loads config.json (or INSIGHTD_CONFIG) and the environment, purely from the given inputs. */
export const loadConfig = (env: NodeJS.ProcessEnv = process.env): Either.Either<Config, ConfigurationError> => {
  const explicitPath = env.INSIGHTD_CONFIG !== undefined && env.INSIGHTD_CONFIG !== ""
  const path = explicitPath ? env.INSIGHTD_CONFIG! : "config.json"
  let fileJson: unknown = {}
  if (existsSync(path)) {
    const read = readJsonObjectFile(path)
    if (Either.isLeft(read)) return Either.left(new ConfigurationError({ message: `config file ${path}: ${read.left}` }))
    fileJson = read.right
  } else if (explicitPath) {
    return Either.left(new ConfigurationError({ message: `INSIGHTD_CONFIG: config file ${path} does not exist` }))
  }
  const decodedFile = Schema.decodeUnknownEither(ConfigFile, { onExcessProperty: "error", errors: "all" })(fileJson)
  if (Either.isLeft(decodedFile)) {
    return Either.left(new ConfigurationError({ message: `config file ${path}: ${describeFileIssues(decodedFile.left).join("; ")}` }))
  }
  const file = decodedFile.right
  return Either.flatMap(readEnv(env), (over): Either.Either<Config, ConfigurationError> => {
    const sentiment = { negativeBelow: file.sentiment.negative_below, positiveAbove: file.sentiment.positive_above }
    if (sentiment.negativeBelow > sentiment.positiveAbove) {
      return Either.left(new ConfigurationError({ message: `config file ${path}: sentiment.negative_below must not exceed sentiment.positive_above` }))
    }
    // The standard variables override the file (SPEC §9) even when it names others for the
    // secrets: INSIGHTD_API_KEYS set beside a config naming MY_KEYS left the API without auth.
    const setOrUndefined = (value: string | undefined) => (value !== undefined && value.trim() !== "" ? value : undefined)
    const grokKey = setOrUndefined(env.XAI_API_KEY) ?? env[file.analyzer.grok.api_key_env]
    const apiKeysVariable = setOrUndefined(env.INSIGHTD_API_KEYS) !== undefined ? "INSIGHTD_API_KEYS" : file.http.api_keys_env
    const apiKeys = env[apiKeysVariable]
    // "," or " , " is a list that lost its keys (a template not filled in), not a wish for no
    // authentication: the API would have been open without a word.
    if (apiKeys !== undefined && apiKeys.trim() !== "" && splitKeys(apiKeys).length === 0) {
      return Either.left(
        new ConfigurationError({ message: `environment variable ${apiKeysVariable}: holds no key, only commas and spaces (leave it empty or unset for no authentication)` })
      )
    }
    return Either.right({
      configFile: existsSync(path) ? path : null,
      http: {
        host: over.INSIGHTD_HOST ?? file.http.host,
        port: over.INSIGHTD_PORT ?? file.http.port,
        maxBodyBytes: file.http.max_body_bytes,
        maxBulkBodyBytes: file.http.max_bulk_body_bytes,
        maxBulkItems: file.http.max_bulk_items,
        rateLimitPerSecond: over.INSIGHTD_RATE_LIMIT ?? file.http.rate_limit_per_second,
        apiKeys: splitKeys(apiKeys)
      },
      databaseFile: over.INSIGHTD_DB ?? file.database.file,
      analyzer: {
        choice: over.INSIGHTD_ANALYZER ?? file.analyzer.kind,
        retryBudget: over.INSIGHTD_RETRY_BUDGET ?? file.analyzer.retry_budget,
        grok: {
          baseUrl: (over.XAI_BASE_URL ?? file.analyzer.grok.base_url).replace(/\/+$/, ""),
          model: over.XAI_MODEL ?? file.analyzer.grok.model,
          apiKey: grokKey !== undefined && grokKey.trim() !== "" ? Redacted.make(grokKey.trim()) : null,
          callsPerSecond: over.INSIGHTD_GROK_CALLS_PER_SECOND ?? file.analyzer.grok.calls_per_second,
          timeoutMs: over.INSIGHTD_GROK_TIMEOUT_MS ?? file.analyzer.grok.timeout_ms,
          maxInFlight: over.INSIGHTD_GROK_MAX_IN_FLIGHT ?? file.analyzer.grok.max_in_flight,
          probeIntervalMs: over.INSIGHTD_GROK_PROBE_INTERVAL_MS ?? file.analyzer.grok.probe_interval_ms,
          maxConversationChars: file.analyzer.grok.max_conversation_chars,
          retryBaseDelayMs: over.INSIGHTD_GROK_RETRY_BASE_MS ?? file.analyzer.grok.retry_base_delay_ms,
          retryMaxDelayMs: over.INSIGHTD_GROK_RETRY_MAX_MS ?? file.analyzer.grok.retry_max_delay_ms,
          topClusters: file.analyzer.grok.top_clusters
        }
      },
      sentiment,
      gracePeriodMs: over.INSIGHTD_GRACE_PERIOD_MS ?? file.shutdown.grace_period_ms,
      log: { level: over.INSIGHTD_LOG_LEVEL ?? file.log.level, format: over.INSIGHTD_LOG_FORMAT ?? file.log.format },
      // The shipped config.json names the default pipeline by its relative path: read from another
      // directory (INSIGHTD_CONFIG=/opt/insightd/config.json) it falls back like no setting at all.
      pipelineFile: over.INSIGHTD_PIPELINE ?? (file.pipeline === undefined || file.pipeline === DEFAULT_PIPELINE ? defaultPipelineFile() : file.pipeline)
    })
  })
}

/**
 * A URL with any user name and password replaced by `***`, and every query value too (a gateway
 * may take its key as `?api_key=…`): any of them may hold a credential.
 */
const withoutCredentials = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.username === "" && parsed.password === "" && parsed.search === "") return url
    if (parsed.username !== "" || parsed.password !== "") {
      parsed.username = "***"
      parsed.password = ""
    }
    for (const key of [...new Set(parsed.searchParams.keys())]) parsed.searchParams.set(key, "***")
    return parsed.toString()
  } catch {
    return url
  }
}

/** The effective configuration as logged at start: secrets shown only as a count or a yes/no. */
export const describeConfig = (config: Config) => {
  const { apiKeys, ...http } = config.http
  const { apiKey, ...grok } = config.analyzer.grok
  return {
    config_file: config.configFile,
    http: { ...http, api_keys: apiKeys.length },
    // Resolved: a relative path is read from the working directory, which the log line may not show.
    database_file: config.databaseFile === ":memory:" ? config.databaseFile : resolve(config.databaseFile),
    analyzer: { ...config.analyzer, grok: { ...grok, baseUrl: withoutCredentials(grok.baseUrl), xai_key_present: apiKey !== null } },
    sentiment: config.sentiment,
    grace_period_ms: config.gracePeriodMs,
    log: config.log,
    pipeline_file: config.pipelineFile
  }
}

export const AppConfigLive = (env: NodeJS.ProcessEnv = process.env): Layer.Layer<AppConfig, ConfigurationError> =>
  Layer.effect(AppConfig, Effect.suspend(() => loadConfig(env)))

/** Whether Grok is the effective analyzer for this configuration. */
export const usesGrok = (config: Config): boolean =>
  config.analyzer.choice === "grok" || (config.analyzer.choice === "auto" && config.analyzer.grok.apiKey !== null)
