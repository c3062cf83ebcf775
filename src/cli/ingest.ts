/**
 * `insightd ingest --url URL [FILE|-]`: sends conversations JSONL to a running daemon through
 * POST /api/v1/conversations/bulk (NDJSON), `--batch-size` lines per request, `--concurrency`
 * requests at once. A 429 waits the Retry-After the daemon asks for; network errors, timeouts and
 * 5xx/503 are retried with exponential backoff and jitter. A bulk request is all-or-nothing, so
 * when the daemon names bad items (400) or conflicting ids (409) those lines are reported and the
 * rest of the chunk is sent again. Give conversations an `id` to make a resend after a lost answer
 * idempotent; without one the daemon cannot tell a resend from new content.
 * Lines the daemon never answered for (all retries spent) are counted as not delivered, apart
 * from the ones it rejected, and the rest of the input is then not sent: the daemon is gone, and
 * retrying every remaining chunk would take minutes each to say so.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Chunk, Clock, Duration, Effect, Layer, Option, Redacted, Schedule, Stream } from "effect"
import { MAX_INGEST_BATCH } from "./commands.js"
import { CommandFailed, inputLines, reportRejected, UsageError, withProgress } from "./shared.js"

interface Item {
  readonly line: number
  readonly text: string
}

/** Why a request must be sent again: a 429 (wait as told) or a transient failure (back off). */
class RateLimitedReply {
  readonly _tag = "RateLimitedReply"
  constructor(readonly waitMs: number) {}
}
class TransientFailure {
  readonly _tag = "TransientFailure"
  constructor(readonly reason: string, readonly waitMs: number) {}
}

type Reply =
  | { readonly _tag: "Accepted"; readonly count: number }
  /** 400 naming items: index → why. Empty when the daemon named none. */
  | { readonly _tag: "BadItems"; readonly bad: ReadonlyMap<number, string>; readonly message: string }
  | { readonly _tag: "Conflict"; readonly ids: ReadonlyArray<string>; readonly message: string }
  | { readonly _tag: "TooLarge"; readonly message: string }
  | { readonly _tag: "Refused"; readonly status: number; readonly message: string }
  /** Never answered (unreachable, timeouts, 5xx) through every retry. */
  | { readonly _tag: "Undelivered"; readonly reason: string }

export interface IngestOptions {
  readonly url: string
  readonly file: Option.Option<string>
  readonly concurrency: number
  readonly batchSize: number
  readonly apiKey: Option.Option<string>
  readonly retries: number
}

const MAX_BATCH = MAX_INGEST_BATCH

const bulkUrl = (url: string): string => {
  const base = url.replace(/\/+$/, "")
  return base.endsWith("/api/v1/conversations/bulk") ? base : `${base}/api/v1/conversations/bulk`
}

/** Retry-After in whole seconds (≥ 1 when present), as milliseconds. */
const retryAfterMs = (header: string | undefined, bodyValue: unknown, fallbackMs: number): number => {
  const seconds = header !== undefined && /^\d+$/.test(header.trim()) ? Number(header.trim()) : typeof bodyValue === "number" ? bodyValue : Number.NaN
  return Number.isFinite(seconds) ? Math.max(1, seconds) * 1000 : fallbackMs
}

const field = (body: unknown, name: string): unknown => (body !== null && typeof body === "object" ? (body as Record<string, unknown>)[name] : undefined)

const idOf = (item: Item): string | undefined => {
  try {
    const id = field(JSON.parse(item.text) as unknown, "id")
    return typeof id === "string" ? id : undefined
  } catch {
    return undefined
  }
}

/** A file named `*.csv` is read as the Kaggle twcs CSV (through the import), anything else as JSONL. */
const isCsvFile = (file: string): boolean => /\.csv$/i.test(file)

const lineRange = (items: ReadonlyArray<Item>): string =>
  items.length === 1 ? `line ${items[0].line}` : `lines ${items[0].line}-${items[items.length - 1].line}`

export const runIngest = (options: IngestOptions): Effect.Effect<void, CommandFailed | UsageError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    if (!/^https?:\/\/\S+$/.test(options.url)) return yield* new UsageError({ message: `ingest: --url must be an http(s) URL (got ${JSON.stringify(options.url)})` })
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1 || options.batchSize > MAX_BATCH) {
      return yield* new UsageError({ message: `ingest: --batch-size must be an integer between 1 and ${MAX_BATCH}` })
    }
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1 || options.concurrency > 256) {
      return yield* new UsageError({ message: "ingest: --concurrency must be an integer between 1 and 256" })
    }
    if (!Number.isInteger(options.retries) || options.retries < 0 || options.retries > 100) {
      return yield* new UsageError({ message: "ingest: --retries must be an integer between 0 and 100" })
    }
    const envKey = process.env.INSIGHTD_API_KEY
    const apiKey = Option.orElse(options.apiKey, () => (envKey !== undefined && envKey.trim() !== "" ? Option.some(envKey.trim()) : Option.none())).pipe(Option.map(Redacted.make))
    const url = bulkUrl(options.url)
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatus(() => true))

    const stats = { accepted: 0, rejected: 0, notDelivered: 0, rateLimited: 0, retries: 0, requests: 0 }
    /** Why a chunk could not be delivered after every retry; later chunks are then not sent. */
    let gaveUp: { readonly reason: string; readonly fromLine: number } | undefined
    const started = yield* Clock.currentTimeMillis

    /** One POST; the reply classified. Fails only with what is worth sending again. */
    const post = (items: ReadonlyArray<Item>): Effect.Effect<Reply, RateLimitedReply | TransientFailure | CommandFailed> =>
      Effect.gen(function* () {
        stats.requests++
        let request = HttpClientRequest.post(url).pipe(HttpClientRequest.bodyText(items.map((item) => item.text).join("\n"), "application/x-ndjson"))
        if (Option.isSome(apiKey)) request = HttpClientRequest.bearerToken(request, Redacted.value(apiKey.value))
        const response = yield* client.execute(request).pipe(
          Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new TransientFailure("no answer within 60 s", 0) }),
          Effect.catchTag("RequestError", (error) => Effect.fail(new TransientFailure(`daemon not reachable: ${error.message}`, 0))),
          Effect.catchTag("ResponseError", (error) => Effect.fail(new TransientFailure(`bad answer: ${error.message}`, 0)))
        )
        const body: unknown = yield* response.json.pipe(Effect.orElseSucceed(() => null))
        const message = typeof field(body, "message") === "string" ? (field(body, "message") as string) : `HTTP ${response.status}`
        const status = response.status
        if (status === 202) return { _tag: "Accepted", count: typeof field(body, "accepted") === "number" ? (field(body, "accepted") as number) : items.length } as const
        if (status === 429) return yield* Effect.fail(new RateLimitedReply(retryAfterMs(response.headers["retry-after"], field(body, "retry_after"), 1000)))
        if (status === 408 || status >= 500) {
          return yield* Effect.fail(new TransientFailure(`HTTP ${status}: ${message}`, status === 503 ? retryAfterMs(response.headers["retry-after"], undefined, 0) : 0))
        }
        if (status === 401 || status === 403) {
          return yield* new CommandFailed({ message: `ingest: the daemon refused the request (HTTP ${status}: ${message}); pass --api-key or set INSIGHTD_API_KEY` })
        }
        if (status === 400) {
          const bad = new Map<number, string>()
          const details = field(body, "details")
          if (Array.isArray(details)) {
            for (const detail of details) {
              const index = field(detail, "index")
              if (typeof index !== "number" || index < 0 || index >= items.length) continue
              // The daemon numbers the lines of the body it got; this command's reports number the
              // input's lines, so a body line number in the daemon's words would contradict them.
              const bodyLine = field(detail, "line")
              const said = String(field(detail, "message") ?? "")
              const text =
                typeof bodyLine === "number" && said.startsWith(`line ${bodyLine} is `)
                  ? said.slice(`line ${bodyLine} is `.length)
                  : `${String(field(detail, "field") ?? "")}: ${said}`
              bad.set(index, bad.has(index) ? `${bad.get(index)}; ${text}` : text)
            }
          }
          return { _tag: "BadItems", bad, message } as const
        }
        if (status === 409) {
          // The conflict body names each id in `details` (`{"conversation_id": …}`).
          const details = field(body, "details")
          const ids = Array.isArray(details) ? details.map((detail) => field(detail, "conversation_id")).filter((id): id is string => typeof id === "string") : []
          return { _tag: "Conflict", ids, message } as const
        }
        if (status === 413) return { _tag: "TooLarge", message } as const
        if (status === 404 || status === 405) {
          // Not the lines' fault: nothing at this URL takes them.
          return yield* new CommandFailed({ message: `ingest: ${url} answered HTTP ${status} (${message}); --url must be the daemon's base URL, e.g. http://127.0.0.1:8080` })
        }
        return { _tag: "Refused", status, message } as const
      })

    type SendError = RateLimitedReply | TransientFailure | CommandFailed
    // 429: wait as long as the daemon asks, as often as it asks (it is alive, just busy).
    const honourRateLimit = Schedule.identity<SendError>().pipe(
      Schedule.whileInput((error: SendError) => error._tag === "RateLimitedReply"),
      Schedule.addDelay((error: SendError) => Duration.millis(error._tag === "RateLimitedReply" ? error.waitMs : 0)),
      Schedule.tapInput((error: SendError) =>
        error._tag === "RateLimitedReply"
          ? Effect.sync(() => stats.rateLimited++).pipe(Effect.zipRight(Effect.logDebug("rate limited; waiting as asked").pipe(Effect.annotateLogs({ wait_ms: error.waitMs }))))
          : Effect.void
      )
    )
    // Transient failures: exponential backoff with jitter, capped at 30 s, at least any Retry-After.
    const backOff = Schedule.identity<SendError>().pipe(
      Schedule.whileInput((error: SendError) => error._tag === "TransientFailure"),
      Schedule.intersect(Schedule.exponential("250 millis", 2).pipe(Schedule.jittered, Schedule.union(Schedule.spaced("30 seconds")), Schedule.intersect(Schedule.recurs(options.retries)))),
      // Only for a retry that will happen (not for the attempt it gives up after), with its delay.
      Schedule.modifyDelayEffect(([error]: readonly [SendError, unknown], delay: Duration.Duration) => {
        const wait = Duration.max(delay, Duration.millis(error._tag === "TransientFailure" ? error.waitMs : 0))
        return Effect.sync(() => stats.retries++).pipe(
          Effect.zipRight(Effect.logWarning("request failed; retrying with backoff")),
          Effect.annotateLogs({ reason: error._tag === "TransientFailure" ? error.reason : error._tag, delay_ms: Math.round(Duration.toMillis(wait)) }),
          Effect.as(wait)
        )
      })
    )
    const postPolitely = (items: ReadonlyArray<Item>) => post(items).pipe(Effect.retry(honourRateLimit), Effect.retry(backOff))

    const rejectAll = (items: ReadonlyArray<Item>, reason: string) =>
      Effect.gen(function* () {
        stats.rejected += items.length
        yield* Effect.logWarning(`${lineRange(items)} rejected: ${reason}`).pipe(Effect.annotateLogs({ lines: items.map((item) => item.line), reason }))
      })

    const reject = (item: Item, reason: string) =>
      Effect.gen(function* () {
        stats.rejected++
        yield* reportRejected(item.line, reason)
      })

    const notDeliver = (items: ReadonlyArray<Item>, reason: string) =>
      Effect.gen(function* () {
        stats.notDelivered += items.length
        const fromLine = items[0].line // a chunk's items are in line order
        if (gaveUp === undefined) {
          yield* Effect.logError("the daemon did not answer; the rest of the input is not sent").pipe(Effect.annotateLogs({ url, reason }))
        }
        gaveUp = { reason: gaveUp?.reason ?? reason, fromLine: Math.min(gaveUp?.fromLine ?? fromLine, fromLine) }
        yield* Effect.logWarning(`${lineRange(items)} not delivered: ${reason}`).pipe(Effect.annotateLogs({ lines: items.map((item) => item.line) }))
      })

    /** Sends a chunk until every line is accepted, rejected for a reason of its own, or not delivered. */
    const sendChunk = (initial: ReadonlyArray<Item>): Effect.Effect<void, CommandFailed> =>
      Effect.gen(function* () {
        let items = initial
        if (gaveUp !== undefined) {
          stats.notDelivered += items.length
          gaveUp = { ...gaveUp, fromLine: Math.min(gaveUp.fromLine, items[0].line) }
          return
        }
        while (items.length > 0) {
          const reply = yield* postPolitely(items).pipe(
            Effect.catchIf(
              (error): error is RateLimitedReply | TransientFailure => error._tag !== "CommandFailed",
              (error) => Effect.succeed({ _tag: "Undelivered", reason: `${error._tag === "TransientFailure" ? error.reason : "rate limited"} (gave up after ${options.retries + 1} attempts)` } as const)
            )
          )
          switch (reply._tag) {
            case "Accepted":
              stats.accepted += reply.count
              return
            case "BadItems": {
              if (reply.bad.size === 0) return yield* rejectAll(items, reply.message)
              for (const [index, reason] of reply.bad) yield* reject(items[index], reason)
              items = items.filter((_, index) => !reply.bad.has(index))
              break
            }
            case "Conflict": {
              const conflicting = new Set(reply.ids)
              const matched = items.filter((item) => {
                const id = idOf(item)
                return id !== undefined && conflicting.has(id)
              })
              if (matched.length === 0) return yield* rejectAll(items, reply.message)
              for (const item of matched) yield* reject(item, `conversation ${idOf(item)} already exists with different content`)
              items = items.filter((item) => !matched.includes(item))
              break
            }
            case "TooLarge": {
              if (items.length === 1) return yield* reject(items[0], reply.message)
              const half = Math.ceil(items.length / 2)
              yield* sendChunk(items.slice(0, half))
              items = items.slice(half)
              break
            }
            case "Refused":
              return yield* rejectAll(items, `HTTP ${reply.status}: ${reply.message}`)
            case "Undelivered":
              return yield* notDeliver(items, reply.reason)
          }
        }
      })

    yield* Effect.logInfo("ingest started").pipe(Effect.annotateLogs({ url, batch_size: options.batchSize, concurrency: options.concurrency, api_key: Option.isSome(apiKey) }))
    const file = Option.getOrUndefined(options.file)
    const items: Stream.Stream<Item, CommandFailed, FileSystem.FileSystem> =
      file !== undefined && isCsvFile(file)
        ? // A twcs CSV goes through the same import as `insightd import-csv`: one item per rebuilt
          // thread, numbered by its root tweet's line; rows the import refuses are rejects here.
          Stream.unwrap(
            Effect.map(Effect.promise(() => import("../twcs/reader.js")), ({ twcsImport }) =>
              twcsImport(file).pipe(
                Stream.mapError((error) => new CommandFailed({ message: `ingest: ${error.message}` })),
                Stream.mapEffect((batch) =>
                  Effect.gen(function* () {
                    const threads: Array<Item> = []
                    for (const event of batch) {
                      if (event._tag === "Thread") threads.push({ line: event.line, text: event.json })
                      else yield* reject({ line: event.line, text: "" }, event.reason)
                    }
                    return threads
                  })
                ),
                Stream.flattenIterables
              )
            )
          )
        : inputLines(file).pipe(
            // Not sent: the daemon would refuse the request, and the line's own number says more.
            Stream.filterEffect((line) => (line.unreadable !== undefined ? Effect.as(reject({ line: line.line, text: "" }, line.unreadable), false) : Effect.succeed(true))),
            Stream.filter((line) => line.text.trim() !== ""),
            Stream.map((line): Item => ({ line: line.line, text: line.text.trim() }))
          )
    yield* items.pipe(
      Stream.groupedWithin(options.batchSize, "1 second"),
      Stream.mapEffect((chunk) => sendChunk(Chunk.toReadonlyArray(chunk)), { concurrency: options.concurrency, unordered: true }),
      Stream.runDrain,
      (work) => withProgress(work, "ingest", () => ({ accepted: stats.accepted, rejected: stats.rejected, not_delivered: stats.notDelivered, rate_limited: stats.rateLimited, retries: stats.retries }))
    )
    const durationMs = (yield* Clock.currentTimeMillis) - started
    yield* Effect.logInfo("ingest finished").pipe(
      Effect.annotateLogs({
        accepted: stats.accepted,
        rejected: stats.rejected,
        not_delivered: stats.notDelivered,
        rate_limited: stats.rateLimited,
        retries: stats.retries,
        requests: stats.requests,
        duration_ms: durationMs,
        per_second: durationMs > 0 ? Math.round((stats.accepted * 1000) / durationMs) : stats.accepted
      })
    )
    const lines = (n: number) => `${n} line${n === 1 ? "" : "s"}`
    if (gaveUp !== undefined) {
      return yield* new CommandFailed({
        message: `ingest: ${lines(stats.notDelivered)} not delivered, the first of them line ${gaveUp.fromLine} (${gaveUp.reason}); ${stats.accepted} accepted, ${stats.rejected} rejected`
      })
    }
    if (stats.rejected > 0) return yield* new CommandFailed({ message: `ingest: ${lines(stats.rejected)} rejected, ${stats.accepted} accepted` })
  }).pipe(
    // Loaded when `ingest` runs: undici is a large share of every other command's start-up.
    Effect.provide(Layer.unwrapEffect(Effect.promise(() => import("@effect/platform-node/NodeHttpClient")).pipe(Effect.map((client) => client.layer))))
  )
