/**
 * `insightd validate`: conversations JSONL on stdin → valid conversations JSONL on stdout, through
 * the same `validate` stage the daemon runs. Each valid line is echoed as received, with the id the
 * daemon would assign (`conv_` + ULID) added when it had none, so later stages agree on ids.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import { Effect, Stream } from "effect"
import { type NewConversation } from "../domain/conversation.js"
import { validate } from "../stages/validate.js"
import type { ConfigurationError } from "../domain/errors.js"
import { type CommandFailed, failWhenRejected, inputLines, reportRejected, summaryWhenInterrupted, withConfig, writeLines } from "./shared.js"

/** The line as submitted, with the assigned id first when the client gave none. */
export const validatedLine = (conversation: NewConversation): string =>
  conversation.clientId ? conversation.raw : `{"id":${JSON.stringify(conversation.id)},${conversation.raw.slice(1)}`

export const runValidate: Effect.Effect<void, CommandFailed | ConfigurationError, FileSystem.FileSystem> = withConfig(() => Effect.gen(function* () {
  let valid = 0
  let rejected = 0
  yield* inputLines(undefined).pipe(
    validate,
    Stream.mapChunksEffect((chunk) =>
      Effect.gen(function* () {
        const out: Array<string> = []
        for (const line of chunk) {
          if (line._tag === "Valid") {
            valid++
            out.push(validatedLine(line.conversation))
          } else {
            rejected++
            yield* reportRejected(line.line, line.reason, { fields: line.details.map((issue) => issue.field) })
          }
        }
        yield* writeLines(out)
        return chunk
      })
    ),
    Stream.runDrain,
    summaryWhenInterrupted("validate", () => ({ valid, rejected }))
  )
  yield* Effect.logInfo("validate finished").pipe(Effect.annotateLogs({ valid, rejected }))
  yield* failWhenRejected("validate", rejected)
}))
