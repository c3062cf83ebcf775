/**
 * The HTTP API definition (SPEC §4). It is the single source of the routes and of the
 * OpenAPI 3.1 document served at /openapi.json; handlers live in ./handlers.ts.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { ParseResult, Schema } from "effect"
import { ConversationInput, ConversationStatus, Message, Metadata, TimeBound } from "../domain/conversation.js"
import { ClusterLabel, SentimentLabel } from "../domain/insight.js"
import {
  ConflictHttp,
  InvalidInputHttp,
  InvalidParameterHttp,
  NotFoundHttp,
  PayloadTooLargeHttp,
  RateLimitedHttp,
  UnauthorizedHttp,
  UnavailableHttp,
  UnsupportedMediaTypeHttp
} from "./errors.js"

export const Accepted = Schema.Struct({
  status: Schema.Literal("accepted"),
  conversation_id: Schema.String,
  message: Schema.String
}).annotations({ identifier: "Accepted" })

export const BulkAccepted = Schema.Struct({
  status: Schema.Literal("accepted"),
  accepted: Schema.Number,
  conversation_ids: Schema.Array(Schema.String)
}).annotations({ identifier: "BulkAccepted" })

export const InsightView = Schema.Struct({
  sentiment_score: Schema.Number,
  sentiment: SentimentLabel,
  confidence: Schema.Number,
  clusters: Schema.Array(Schema.String),
  reasoning: Schema.String,
  analyzer: Schema.String,
  raw_response: Schema.String,
  prompt_tokens: Schema.NullOr(Schema.Number),
  completion_tokens: Schema.NullOr(Schema.Number),
  cost_usd: Schema.NullOr(Schema.Number),
  analyzed_at: Schema.String
}).annotations({ identifier: "Insight" })

export const ConversationView = Schema.Struct({
  id: Schema.String,
  text: Schema.String,
  author: Schema.String,
  timestamp: Schema.String,
  messages: Schema.NullOr(Schema.Array(Message)),
  metadata: Schema.NullOr(Metadata),
  status: ConversationStatus,
  attempts: Schema.Number,
  last_error: Schema.NullOr(Schema.String),
  received_at: Schema.String,
  updated_at: Schema.String,
  insight: Schema.NullOr(InsightView)
}).annotations({ identifier: "Conversation" })

export const InsightListItemView = Schema.Struct({
  conversation_id: Schema.String,
  timestamp: Schema.String,
  author: Schema.String,
  text: Schema.String,
  sentiment_score: Schema.Number,
  sentiment: SentimentLabel,
  confidence: Schema.Number,
  clusters: Schema.Array(Schema.String),
  reasoning: Schema.String,
  analyzer: Schema.String,
  analyzed_at: Schema.String
}).annotations({ identifier: "InsightListItem" })

export const InsightsPage = Schema.Struct({
  insights: Schema.Array(InsightListItemView),
  metadata: Schema.Struct({
    total_count: Schema.Number,
    returned_count: Schema.Number,
    start_time: Schema.NullOr(Schema.String),
    end_time: Schema.NullOr(Schema.String),
    next_cursor: Schema.NullOr(Schema.String)
  })
}).annotations({ identifier: "InsightsPage" })

/**
 * Decimal numerals only: `Number()` alone also reads `0x1`, `0b1`, `0o7` and surrounding spaces,
 * which a client sending them has most likely not meant as a number.
 */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const DIGITS = /^[+-]?\d+$/

/** A number query parameter with a message that names it and its range. */
const numberParam = (name: string, min: number, max: number, integer: boolean) =>
  Schema.transformOrFail(Schema.String, Schema.Number, {
    strict: true,
    decode: (text, _, ast) => {
      const value = (integer ? DIGITS : DECIMAL).test(text) ? Number(text) : Number.NaN
      const kind = integer ? "an integer" : "a number"
      if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
        return ParseResult.fail(new ParseResult.Type(ast, text, `${name} must be ${kind} between ${min} and ${max}`))
      }
      return ParseResult.succeed(value)
    },
    encode: (value) => ParseResult.succeed(String(value))
  }).annotations({ description: `${integer ? "integer" : "number"} ${min}..${max}` })

// override: without it a union of literals reports each member's own "Expected …" issue, so a
// client read `order: Expected "asc", actual "x"; order: Expected "desc", actual "x"`.
// A parameter given twice (`?sentiment=a&sentiment=b`) arrives as an array: said as such, rather
// than as a bad value.
const GIVEN_ONCE = (name: string) => `${name} must be given once, as text`
/** A parameter's message annotation: `describe` says what is wrong with a value given once. */
const paramMessage = (name: string, describe: (actual: unknown) => string) => (issue: { readonly actual: unknown }) => ({
  message: Array.isArray(issue.actual) ? GIVEN_ONCE(name) : describe(issue.actual),
  override: true
})

const oneOf = <L extends ReadonlyArray<string>>(name: string, ...values: L) =>
  Schema.Literal(...values).annotations({
    message: paramMessage(name, (actual) => `${name} must be one of ${values.join(", ")} (got ${JSON.stringify(actual)})`)
  })

// In a query string `+` means a space, so `start_time=2024-05-01T00:00:00+02:00` sent unencoded
// arrives with ` 02:00` at its end: the message says how to send the offset.
const PLUS_SENT_UNENCODED = /\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)? \d{2}(?::?\d{2})?$/
const timeParam = (name: string) =>
  TimeBound.annotations({
    message: (issue) =>
      `${name} must be an ISO-8601 date-time, e.g. 2024-05-01T12:00:00Z` +
      (typeof issue.actual === "string" && PLUS_SENT_UNENCODED.test(issue.actual) ? " (a + in a query string must be sent as %2B, e.g. +02:00 as %2B02:00)" : ""),
    description: "ISO-8601"
  })

// An author is never blank and a cluster label is always snake_case (SPEC §3), so a filter that is
// neither could only ever match nothing: `?author=` from an empty form field, `?cluster=Billing`.
// A 400 that says so beats an empty page that looks like "no such insights".
const authorParam = Schema.String.pipe(
  Schema.filter((value) => value.trim().length > 0, { message: paramMessage("author", () => "author must not be empty or only whitespace") })
).annotations({ description: "the conversation's author, exactly as submitted" })

const isClusterLabel = Schema.is(ClusterLabel)
const clusterParam = Schema.String.pipe(
  Schema.filter((value) => isClusterLabel(value), {
    message: paramMessage("cluster", (actual) => `cluster must be a lowercase snake_case label such as delivery_delay (got ${JSON.stringify(actual)})`)
  })
).annotations({ description: "a topic label (lowercase snake_case)" })

// A misspelt filter (`?sentimnet=negative`, `?LIMIT=5`) would otherwise be ignored, and the page
// would look filtered when it is not: an unknown parameter is a 400 that names it.
const UNKNOWN_PARAMETERS_REFUSED = { onExcessProperty: "error" } as const

const optionalParam = <A, I, R>(schema: Schema.Schema<A, I, R>) => Schema.optionalWith(schema, { exact: true })

export const InsightsParams = Schema.Struct({
  start_time: optionalParam(timeParam("start_time")),
  end_time: optionalParam(timeParam("end_time")),
  min_confidence: optionalParam(numberParam("min_confidence", 0, 1, false)),
  max_confidence: optionalParam(numberParam("max_confidence", 0, 1, false)),
  min_sentiment: optionalParam(numberParam("min_sentiment", -1, 1, false)),
  max_sentiment: optionalParam(numberParam("max_sentiment", -1, 1, false)),
  sentiment: optionalParam(oneOf("sentiment", "positive", "negative", "neutral")),
  cluster: optionalParam(clusterParam),
  author: optionalParam(authorParam),
  order: optionalParam(oneOf("order", "asc", "desc")),
  limit: optionalParam(numberParam("limit", 1, 1000, true)),
  cursor: optionalParam(Schema.String)
}).annotations({ parseOptions: UNKNOWN_PARAMETERS_REFUSED })
export type InsightsParams = typeof InsightsParams.Type

/** The insights filters plus the bucket width; no paging (it aggregates every match). */
export const SummaryParams = Schema.Struct({
  ...InsightsParams.omit("order", "limit", "cursor").fields,
  bucket: optionalParam(oneOf("bucket", "hour", "day"))
}).annotations({ parseOptions: UNKNOWN_PARAMETERS_REFUSED })
export type SummaryParams = typeof SummaryParams.Type

const LabelCounts = Schema.Struct({ positive: Schema.Number, neutral: Schema.Number, negative: Schema.Number })

export const InsightsSummary = Schema.Struct({
  start_time: Schema.NullOr(Schema.String),
  end_time: Schema.NullOr(Schema.String),
  bucket: Schema.Literal("hour", "day"),
  total: Schema.Number,
  mean_sentiment: Schema.NullOr(Schema.Number),
  buckets: Schema.Array(Schema.Struct({ start: Schema.String, count: Schema.Number, mean_sentiment: Schema.Number, labels: LabelCounts })),
  labels: LabelCounts,
  top_clusters: Schema.Array(Schema.Struct({ cluster: Schema.String, count: Schema.Number, mean_sentiment: Schema.Number })),
  analyzers: Schema.Array(
    Schema.Struct({ analyzer: Schema.String, count: Schema.Number, prompt_tokens: Schema.Number, completion_tokens: Schema.Number, cost_usd: Schema.Number })
  ),
  status_counts: Schema.Struct({ pending: Schema.Number, processing: Schema.Number, completed: Schema.Number, failed: Schema.Number }).annotations({
    description: "All conversations by status (the backlog and its outcome), whatever the range and filters: a pending conversation has no insight to filter on"
  })
}).annotations({ identifier: "InsightsSummary" })

export const Health = Schema.Struct({ status: Schema.Literal("ok") }).annotations({ identifier: "Health" })
export const Readiness = Schema.Struct({
  status: Schema.Literal("ready", "not_ready"),
  checks: Schema.Struct({ database: Schema.String, analyzer: Schema.String, draining: Schema.Boolean }),
  reason: Schema.optional(Schema.String)
}).annotations({ identifier: "Readiness" })

const submit = HttpApiEndpoint.post("submit", "/conversations")
  .setPayload(ConversationInput)
  .addSuccess(Accepted, { status: 202 })
  .addError(InvalidInputHttp)
  .addError(ConflictHttp)
  .addError(PayloadTooLargeHttp)
  .addError(UnsupportedMediaTypeHttp)
  .addError(RateLimitedHttp)
  .addError(UnavailableHttp)
  .annotate(OpenApi.Summary, "Submit one conversation")
  .annotate(OpenApi.Description, "Stored durably before the 202 is sent; analysed in the background.")

const submitBulk = HttpApiEndpoint.post("submitBulk", "/conversations/bulk")
  .setPayload(Schema.Array(ConversationInput))
  .addSuccess(BulkAccepted, { status: 202 })
  .addError(InvalidInputHttp)
  .addError(ConflictHttp)
  .addError(PayloadTooLargeHttp)
  .addError(UnsupportedMediaTypeHttp)
  .addError(RateLimitedHttp)
  .addError(UnavailableHttp)
  .annotate(OpenApi.Summary, "Submit many conversations at once (JSON array or NDJSON)")
  .annotate(OpenApi.Transform, (operation: JsonObject) => ({
    ...operation,
    requestBody: {
      ...field(operation, "requestBody"),
      content: {
        ...field(field(operation, "requestBody"), "content"),
        "application/x-ndjson": { schema: { type: "string", description: "one ConversationInput JSON object per line (blank lines are skipped)" } }
      }
    }
  }))
  .annotate(
    OpenApi.Description,
    "A JSON array, or NDJSON with Content-Type application/x-ndjson. All items valid: every one is stored; any invalid: none is."
  )

const getConversation = HttpApiEndpoint.get("getConversation", "/conversations/:id")
  .setPath(Schema.Struct({ id: Schema.String }))
  .addSuccess(ConversationView)
  .addError(InvalidParameterHttp) // a path that is not valid percent-encoding
  .addError(NotFoundHttp)
  .annotate(OpenApi.Summary, "A conversation with its status and insight")

const retryConversation = HttpApiEndpoint.post("retryConversation", "/conversations/:id/retry")
  .setPath(Schema.Struct({ id: Schema.String }))
  .addSuccess(Accepted, { status: 202 })
  .addError(InvalidParameterHttp) // a path that is not valid percent-encoding
  .addError(NotFoundHttp)
  .addError(ConflictHttp)
  .addError(RateLimitedHttp) // a POST like the submissions: under the inbound limit
  .addError(UnavailableHttp)
  .annotate(OpenApi.Summary, "Put a failed conversation back in the queue")

const listInsights = HttpApiEndpoint.get("listInsights", "/insights")
  .setUrlParams(InsightsParams)
  .addSuccess(InsightsPage)
  .addError(InvalidParameterHttp)
  .annotate(OpenApi.Summary, "Insights, filtered and paged by cursor")

export class ConversationsGroup extends HttpApiGroup.make("conversations")
  .add(submit)
  .add(submitBulk)
  .add(getConversation)
  .add(retryConversation)
  .addError(UnauthorizedHttp)
  .addError(UnavailableHttp)
  .prefix("/api/v1") {}

const summarizeInsights = HttpApiEndpoint.get("summarizeInsights", "/insights/summary")
  .setUrlParams(SummaryParams)
  .addSuccess(InsightsSummary)
  .addError(InvalidParameterHttp)
  .annotate(OpenApi.Summary, "Aggregates over the filtered insights: per time bucket, per label, top clusters, per analyzer; status counts")

export class InsightsGroup extends HttpApiGroup.make("insights")
  .add(summarizeInsights)
  .add(listInsights)
  .addError(UnauthorizedHttp)
  .addError(UnavailableHttp)
  .prefix("/api/v1") {}

export class OpsGroup extends HttpApiGroup.make("ops")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(Health).annotate(OpenApi.Summary, "Liveness"))
  .add(
    HttpApiEndpoint.get("ready", "/ready")
      .addSuccess(Readiness)
      .annotate(OpenApi.Summary, "Readiness: database answers and the analyzer can work")
      .annotate(OpenApi.Description, "200 when ready; 503 with the same body and a `reason` (e.g. grok_unauthorized, draining) when not.")
      .annotate(OpenApi.Transform, (operation: JsonObject) => ({
        ...operation,
        responses: {
          ...field(operation, "responses"),
          "503": { description: "Not ready: `reason` says why", content: { "application/json": { schema: { $ref: "#/components/schemas/Readiness" } } } }
        }
      }))
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4" }))
      .annotate(OpenApi.Summary, "Prometheus metrics (text exposition format); open without an API key")
  ) {}

/** A JSON object of the OpenAPI document, read without trusting its shape. */
type JsonObject = Record<string, unknown>
const isJsonObject = (value: unknown): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value)
const field = (value: unknown, key: string): JsonObject => (isJsonObject(value) && isJsonObject(value[key]) ? value[key] : {})

/**
 * HttpApi documents its own HttpApiDecodeError as a possible 400 body; the error middleware
 * answers every decode failure with our invalid_schema / invalid_parameter body instead
 * (./middleware.ts), so the document lists only what is sent.
 */
/**
 * The generator writes `Schema.Unknown` as `{"$id": "/schemas/unknown"}` wherever it appears (ten
 * places): JSON Schema 2020-12 wants an `$id` once per document, and validators such as ajv refuse
 * the whole document. Without the id it is `{}`, which means the same: any value.
 */
const withoutUnknownIds = (value: unknown): void => {
  if (Array.isArray(value)) for (const item of value) withoutUnknownIds(item)
  else if (isJsonObject(value)) {
    if (value.$id === "/schemas/unknown") delete value.$id
    for (const child of Object.values(value)) withoutUnknownIds(child)
  }
}

/**
 * The API's bearer keys (./middleware.ts), declared so clients and the docs page can send one.
 * Optional (`{}` is the alternative with no key): they are required only when keys are configured.
 * The probes, metrics and pages outside /api stay open.
 */
const withBearerAuth = (spec: JsonObject): void => {
  const components = field(spec, "components")
  components.securitySchemes = {
    ...field(components, "securitySchemes"),
    bearerAuth: { type: "http", scheme: "bearer", description: "One of the keys in INSIGHTD_API_KEYS, when that is set." }
  }
  for (const [path, operations] of Object.entries(field(spec, "paths"))) {
    if (!path.startsWith("/api/") || !isJsonObject(operations)) continue
    for (const operation of Object.values(operations)) if (isJsonObject(operation)) operation.security = [{ bearerAuth: [] }, {}]
  }
}

/**
 * The headers the answers carry (./errors.ts, ./handlers.ts): `Location` on a submission's 202,
 * `Retry-After` on every 429 and 503 of the API.
 */
const RESPONSE_HEADERS: Record<string, JsonObject> = {
  "429": { "Retry-After": { description: "Whole seconds (at least 1) to wait before sending again", schema: { type: "integer", minimum: 1 } } },
  "503": { "Retry-After": { description: "Whole seconds to wait before trying again (draining, or the database cannot be written)", schema: { type: "integer", minimum: 1 } } }
}
const withResponseHeaders = (spec: JsonObject): void => {
  for (const [path, operations] of Object.entries(field(spec, "paths"))) {
    for (const [method, operation] of Object.entries(isJsonObject(operations) ? operations : {})) {
      const responses = field(operation, "responses")
      if (!path.startsWith("/api/")) continue // /ready's 503 is a readiness answer, with no Retry-After
      for (const [status, headers] of Object.entries(RESPONSE_HEADERS)) {
        if (isJsonObject(responses[status])) responses[status] = { ...responses[status], headers: { ...field(responses[status], "headers"), ...headers } }
      }
      if (method === "post" && path === "/api/v1/conversations" && isJsonObject(responses["202"])) {
        responses["202"] = {
          ...responses["202"],
          headers: { Location: { description: "/api/v1/conversations/{id} of the conversation accepted", schema: { type: "string" } } }
        }
      }
    }
  }
}

const documentAsServed = (spec: JsonObject): JsonObject => {
  const decodeError = "#/components/schemas/HttpApiDecodeError"
  for (const operations of Object.values(field(spec, "paths"))) {
    for (const operation of Object.values(isJsonObject(operations) ? operations : {})) {
      const responses = field(operation, "responses")
      const content = field(field(responses, "400"), "content")["application/json"]
      const schema = field(content, "schema")
      // Only the platform's body: the route has nothing a client can get wrong (no body or query).
      if (schema.$ref === decodeError) delete responses["400"]
      const choices = schema.anyOf
      if (!isJsonObject(content) || !Array.isArray(choices)) continue
      const kept = choices.filter((choice: unknown) => !(isJsonObject(choice) && choice.$ref === decodeError))
      content.schema = kept.length === 1 ? kept[0] : { anyOf: kept }
    }
  }
  const schemas = field(field(spec, "components"), "schemas")
  withoutUnknownIds(spec)
  withBearerAuth(spec)
  withResponseHeaders(spec)
  for (const name of ["HttpApiDecodeError", "Issue", "PropertyKey"]) {
    const { [name]: _unused, ...others } = schemas
    const stillUsed = JSON.stringify({ ...spec, components: { ...field(spec, "components"), schemas: others } }).includes(`"#/components/schemas/${name}"`)
    if (!stillUsed) delete schemas[name]
  }
  return spec
}

export class InsightdApi extends HttpApi.make("insightd")
  .add(ConversationsGroup)
  .add(InsightsGroup)
  .add(OpsGroup)
  .annotate(OpenApi.Title, "insightd")
  .annotate(OpenApi.Description, "Customer conversations in, insights out: sentiment, confidence, topic clusters, reasoning.")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(OpenApi.Transform, documentAsServed) {}
