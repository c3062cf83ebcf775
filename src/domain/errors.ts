/**
 * Errors are values. Each client-facing error maps to one HTTP status and body in
 * src/http/errors.ts; nothing here knows about HTTP.
 */
import { Schema } from "effect"

/** One problem with one field: `field` is a dotted path (`messages.0.text`), `index` the bulk item. */
export const FieldIssue = Schema.Struct({
  field: Schema.String,
  message: Schema.String,
  index: Schema.optional(Schema.Number),
  line: Schema.optional(Schema.Number)
})
export type FieldIssue = typeof FieldIssue.Type

/** A submitted body did not match the conversation schema. */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  message: Schema.String,
  details: Schema.Array(FieldIssue)
}) {}

/** A query-string or path parameter is malformed or out of range. */
export class InvalidParameter extends Schema.TaggedError<InvalidParameter>()("InvalidParameter", {
  message: Schema.String,
  details: Schema.Array(FieldIssue)
}) {}

export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  message: Schema.String
}) {}

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  message: Schema.String
}) {}

/** An id was resubmitted with different content, or a state change is not allowed. */
/** The path exists, but not for this method (405 with `Allow`). */
export class MethodNotAllowed extends Schema.TaggedError<MethodNotAllowed>()("MethodNotAllowed", {
  message: Schema.String,
  allowed: Schema.Array(Schema.String)
}) {}

export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", {
  message: Schema.String,
  conversation_ids: Schema.Array(Schema.String),
  /** For a bulk: each conflicting id's index in the request, as a 400 names its bad items. */
  indexes: Schema.optional(Schema.Array(Schema.Number))
}) {}

/** Too big a body (`limit_bytes`) or, for a bulk, too many conversations (`limit_items`). */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  message: Schema.String,
  limit_bytes: Schema.optional(Schema.Number),
  limit_items: Schema.optional(Schema.Number)
}) {}

export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()("UnsupportedMediaType", {
  message: Schema.String
}) {}

export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  message: Schema.String,
  retry_after: Schema.Number
}) {}

/** Draining on shutdown, or the database cannot be written. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  message: Schema.String,
  reason: Schema.String
}) {}

/** New submissions refused while the daemon drains for shutdown. */
export const drainingRefusal = (): Unavailable =>
  new Unavailable({ message: "insightd is shutting down and accepts no new conversations", reason: "draining" })

/** The database could not be read or written; the client may try again shortly. */
export const databaseUnavailable = (what: "read" | "written"): Unavailable =>
  new Unavailable({ message: `the database cannot be ${what} right now; try again shortly`, reason: "database" })

/** The database failed; surfaces as 503 to clients, and is logged with its cause. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** Analysis of one conversation failed; `retryable` decides whether the retry budget applies. */
export class AnalysisError extends Schema.TaggedError<AnalysisError>()("AnalysisError", {
  message: Schema.String,
  retryable: Schema.Boolean
}) {}

/**
 * The analyzer did not analyse this conversation and will later (paused on a bad key, or the
 * daemon draining): it goes back to `pending`. `calls`: calls already made for it in this claim.
 * With none its attempt does not count; with some it does, or every graceful restart would give a
 * conversation whose calls keep failing a fresh budget (unlimited paid calls across deploys).
 */
export class AnalysisDeferred extends Schema.TaggedError<AnalysisDeferred>()("AnalysisDeferred", {
  reason: Schema.String,
  calls: Schema.Number
}) {}

/** The HTTP server could not listen where it was told to (port in use, no such address, …). */
export class ListenFailed extends Schema.TaggedError<ListenFailed>()("ListenFailed", {
  message: Schema.String
}) {}

/** Bad config.json, pipeline file or environment variable: stops start-up with one message. */
export class ConfigurationError extends Schema.TaggedError<ConfigurationError>()("ConfigurationError", {
  message: Schema.String
}) {}
