/**
 * The `--store` half of `insightd import-csv`: threads validated as any submitted conversation and
 * written through Store.submit, one group per transaction. A module of its own so that the plain
 * import (JSONL on stdout) does not load the store, its SQL client and the validate stage.
 */
import { Effect, Either } from "effect"
import type { NewConversation } from "../domain/conversation.js"
import type { StoreError } from "../domain/errors.js"
import { describeIssues, validateConversation } from "../stages/validate.js"
import { Store } from "../store/Store.js"
import { SqliteStoreLive } from "../store/sqlite.js"
import type { ImportedThread } from "../twcs/reader.js"
import type { Counts } from "./import-csv.js"
import { CommandFailed, reportRejected } from "./shared.js"

/** Stores one group of threads in one transaction; conflicts (same id, other content) are rejects. */
export const storeThreads = (threads: ReadonlyArray<ImportedThread>, counts: Counts): Effect.Effect<void, StoreError, Store> =>
  Effect.gen(function* () {
    if (threads.length === 0) return
    const store = yield* Store
    const conversations: Array<{ readonly thread: ImportedThread; readonly conversation: NewConversation }> = []
    for (const thread of threads) {
      const valid = validateConversation({ json: JSON.parse(thread.json) as unknown, raw: thread.json })
      if (Either.isLeft(valid)) {
        counts.rejected++
        yield* reportRejected(thread.line, `thread ${thread.id}: ${describeIssues(valid.left)}`)
      } else conversations.push({ thread, conversation: valid.right })
    }
    // One submission per conversation: a conflict refuses only that one.
    const outcomes = yield* store.submit(conversations.map((item) => ({ conversations: [item.conversation] })))
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i]
      if (outcome._tag === "Conflict") {
        counts.conflicts++
        counts.rejected++
        yield* reportRejected(conversations[i].thread.line, `conversation ${conversations[i].thread.id} already exists with different content`)
      } else if (outcome.resubmitted > 0) counts.resubmitted++
      else counts.stored++
    }
  })

/** Runs `work` with the store of `databaseFile`; a store failure ends the command. */
export const withStore =
  (databaseFile: string) =>
  <A>(work: Effect.Effect<A, StoreError | CommandFailed, Store>): Effect.Effect<A, CommandFailed> =>
    work.pipe(
      Effect.provide(SqliteStoreLive(databaseFile)),
      Effect.catchTag("StoreError", (error) => Effect.fail(new CommandFailed({ message: `import-csv: ${error.message}` })))
    )
