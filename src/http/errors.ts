/**
 * The one place where errors become HTTP: status code, `error` code and body
 * `{"error", "message", "details"}` (SPEC §4). HttpApi endpoints declare these schemas, and
 * middleware answers built outside HttpApi (401, 429, 503) use `errorResponse`.
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Schema } from "effect"
import {
  Conflict,
  FieldIssue,
  InvalidInput,
  InvalidParameter,
  type MethodNotAllowed,
  NotFound,
  PayloadTooLarge,
  RateLimited,
  Unauthorized,
  Unavailable,
  UnsupportedMediaType
} from "../domain/errors.js"

export type ClientError =
  | InvalidInput
  | InvalidParameter
  | Unauthorized
  | NotFound
  | MethodNotAllowed
  | Conflict
  | PayloadTooLarge
  | UnsupportedMediaType
  | RateLimited
  | Unavailable

interface Wire {
  readonly error: string
  readonly message: string
  readonly details: ReadonlyArray<unknown>
  readonly retry_after?: number
}

const wireOf = (error: ClientError): { readonly status: number; readonly body: Wire } => {
  switch (error._tag) {
    case "InvalidInput":
      return { status: 400, body: { error: "invalid_schema", message: error.message, details: error.details } }
    case "InvalidParameter":
      return { status: 400, body: { error: "invalid_parameter", message: error.message, details: error.details } }
    case "Unauthorized":
      return { status: 401, body: { error: "unauthorized", message: error.message, details: [] } }
    case "NotFound":
      return { status: 404, body: { error: "not_found", message: error.message, details: [] } }
    case "MethodNotAllowed":
      return { status: 405, body: { error: "method_not_allowed", message: error.message, details: [{ allowed: error.allowed }] } }
    case "Conflict":
      return {
        status: 409,
        body: {
          error: "conflict",
          message: error.message,
          details: error.conversation_ids.map((id, i) =>
            error.indexes === undefined ? { conversation_id: id } : { index: error.indexes[i], field: "id", conversation_id: id, message: "already exists with different content" }
          )
        }
      }
    case "PayloadTooLarge":
      return {
        status: 413,
        body: { error: "payload_too_large", message: error.message, details: [error.limit_items !== undefined ? { limit_items: error.limit_items } : { limit_bytes: error.limit_bytes }] }
      }
    case "UnsupportedMediaType":
      return { status: 415, body: { error: "unsupported_media_type", message: error.message, details: [] } }
    case "RateLimited":
      return { status: 429, body: { error: "rate_limit_exceeded", message: error.message, details: [], retry_after: error.retry_after } }
    case "Unavailable":
      return { status: 503, body: { error: "unavailable", message: error.message, details: [{ reason: error.reason }] } }
  }
}

/** Status, body and headers of an error answer: shared by HttpApi middleware and the hot ingest route. */
export const errorWire = (error: ClientError): { readonly status: number; readonly body: Wire; readonly headers: Record<string, string> } => {
  const { body, status } = wireOf(error)
  const headers: Record<string, string> = {}
  if (error._tag === "RateLimited") headers["retry-after"] = String(error.retry_after)
  if (error._tag === "Unavailable") headers["retry-after"] = "5"
  if (error._tag === "Unauthorized") headers["www-authenticate"] = 'Bearer realm="insightd"'
  if (error._tag === "MethodNotAllowed") headers.allow = error.allowed.join(", ")
  return { status, body, headers }
}

/** A ready response for middleware: same status and body as the HttpApi path, plus headers. */
export const errorResponse = (error: ClientError): HttpServerResponse.HttpServerResponse => {
  const { body, headers, status } = errorWire(error)
  return HttpServerResponse.unsafeJson(body, { status, headers })
}

const WireBody = <Code extends string>(code: Code) =>
  Schema.Struct({
    error: Schema.Literal(code),
    message: Schema.String,
    details: Schema.Array(Schema.Unknown),
    retry_after: Schema.optional(Schema.Number)
  })

/** HttpApi error schema: the domain error on the type side, the wire body on the encoded side. */
const httpError = <A extends ClientError, I, R>(
  errorClass: Schema.Schema<A, I, R>,
  code: string,
  status: number,
  fromWire: (body: Wire) => A
) =>
  Schema.transform(WireBody(code), Schema.typeSchema(errorClass), {
    strict: false,
    decode: (body) => fromWire(body as Wire),
    encode: (error) => wireOf(error as ClientError).body as never
  }).annotations(HttpApiSchema.annotations({ status, description: code }))

const issues = (details: ReadonlyArray<unknown>) => details as ReadonlyArray<typeof FieldIssue.Type>

export const InvalidInputHttp = httpError(InvalidInput, "invalid_schema", 400, (b) => new InvalidInput({ message: b.message, details: issues(b.details) }))
export const InvalidParameterHttp = httpError(InvalidParameter, "invalid_parameter", 400, (b) => new InvalidParameter({ message: b.message, details: issues(b.details) }))
export const UnauthorizedHttp = httpError(Unauthorized, "unauthorized", 401, (b) => new Unauthorized({ message: b.message }))
export const NotFoundHttp = httpError(NotFound, "not_found", 404, (b) => new NotFound({ message: b.message }))
export const ConflictHttp = httpError(Conflict, "conflict", 409, (b) => new Conflict({ message: b.message, conversation_ids: [] }))
export const PayloadTooLargeHttp = httpError(PayloadTooLarge, "payload_too_large", 413, (b) => new PayloadTooLarge({ message: b.message }))
export const UnsupportedMediaTypeHttp = httpError(UnsupportedMediaType, "unsupported_media_type", 415, (b) => new UnsupportedMediaType({ message: b.message }))
export const RateLimitedHttp = httpError(RateLimited, "rate_limit_exceeded", 429, (b) => new RateLimited({ message: b.message, retry_after: b.retry_after ?? 1 }))
export const UnavailableHttp = httpError(Unavailable, "unavailable", 503, (b) => new Unavailable({ message: b.message, reason: "unknown" }))
