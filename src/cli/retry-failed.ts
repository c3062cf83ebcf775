/**
 * `insightd retry-failed`: puts failed conversations back to `pending` so the daemon analyses them
 * again. `--error-class` narrows it to failures whose last_error starts with that text (ASCII case
 * ignored). Every last_error begins with where it failed, so useful classes are e.g.:
 *   `grok`                        every Grok failure
 *   `grok answered HTTP 5`        Grok 5xx answers          `grok did not answer`  Grok timeouts
 *   `grok could not be reached`   network failures          `grok reply malformed` unusable replies
 *   `grok rejected the API key`   401/403                   `local analyzer`       local analyzer errors
 *   `analysis did not finish`     the process died during analysis each time
 */
import { Effect, Option } from "effect"
import type { ConfigurationError } from "../domain/errors.js"
import { Store } from "../store/Store.js"
import { SqliteStoreLive } from "../store/sqlite.js"
import { CommandFailed, requireDatabase, UsageError, withConfig, writeLines } from "./shared.js"

export const runRetryFailed = ({ errorClass }: { readonly errorClass: Option.Option<string> }): Effect.Effect<void, CommandFailed | UsageError | ConfigurationError> =>
  withConfig((config) =>
    Effect.gen(function* () {
      if (Option.isSome(errorClass) && errorClass.value.trim() === "") {
        return yield* new UsageError({ message: "retry-failed: --error-class must not be empty" })
      }
      const store = yield* Store
      const retried = Option.isSome(errorClass) ? yield* store.retryFailedMatching(errorClass.value) : yield* store.retryAllFailed
      yield* Effect.logInfo("failed conversations put back to pending").pipe(
        Effect.annotateLogs({ database: config.databaseFile, retried, error_class: Option.getOrNull(errorClass) })
      )
      yield* writeLines([`${retried}`])
    }).pipe(
      Effect.provide(SqliteStoreLive(config.databaseFile)),
      Effect.catchTag("StoreError", (error) => Effect.fail(new CommandFailed({ message: `retry-failed: ${error.message}` }))),
      // Checked before the Store opens the file (which would create it).
      (run) => Effect.zipRight(requireDatabase("retry-failed", config.databaseFile), run)
    )
  )
