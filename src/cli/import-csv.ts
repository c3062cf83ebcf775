/**
 * `insightd import-csv FILE`: the Kaggle "Customer Support on Twitter" file (twcs.csv) rebuilt
 * into one conversation per thread (src/twcs/reader.ts). Writes conversations JSONL on stdout, or
 * with `--store` straight into the database through Store.submit, many conversations per
 * transaction (the daemon's group commit). Ids come from the root tweet, so importing the same
 * file again stores nothing twice. Rejected rows are reported on stderr with their line number and
 * make the exit status 1; progress goes to stderr (a bar on a terminal, log lines otherwise).
 */
import { Effect, Option, Sink, Stream } from "effect"
import type { ConfigurationError } from "../domain/errors.js"
import { type ImportedThread, type ImportEvent, type ImportProgress, newProgress, progressEta, progressFraction, twcsImport } from "../twcs/reader.js"
import { CommandFailed, reportRejected, summaryWhenInterrupted, withConfig, writeLines } from "./shared.js"

/** Conversations per store transaction. */
const STORE_GROUP = 2000

export interface Counts {
  threads: number
  stored: number
  resubmitted: number
  conflicts: number
  rejected: number
}

const formatDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "?"
  const s = Math.max(0, Math.round(seconds))
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`
}

/**
 * How long emitting takes against reading the file, measured on 1 M generated tweets (messages
 * spilled to disk, as for the real file): writing JSONL to stdout about as long as reading,
 * storing each thread about twice as long. Only the estimate before emitting starts uses it.
 */
const EMIT_PER_READ = { stdout: 1, store: 2 } as const

/** rows, threads, rate and ETA so far. */
const progressFigures = (progress: ImportProgress, startedAt: number, emitPerRead: number) => {
  const now = Date.now()
  const elapsed = (now - startedAt) / 1000
  const fraction = progressFraction(progress, emitPerRead / (1 + emitPerRead))
  const eta = progressEta(progress, startedAt, now, emitPerRead)
  return {
    phase: progress.phase,
    rows: progress.rows,
    rejected: progress.rejected,
    threads: progress.threadsEmitted,
    threads_total: progress.threadsTotal,
    rows_per_second: elapsed > 0 ? Math.round(progress.rows / elapsed) : 0,
    percent: fraction === null ? null : Math.round(fraction * 1000) / 10,
    eta_seconds: eta === null ? null : Math.round(eta)
  }
}

/** A bar redrawn in place on a terminal; periodic log lines when stderr is a file or a pipe. */
const reportProgress = (progress: ImportProgress, startedAt: number, everyMs: number, emitPerRead: number): Effect.Effect<never> => {
  if (process.stderr.isTTY === true) {
    const draw = Effect.sync(() => {
      const f = progressFigures(progress, startedAt, emitPerRead)
      const width = 30
      const filled = f.percent === null ? 0 : Math.round((f.percent / 100) * width)
      const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`
      process.stderr.write(
        `\r${bar} ${f.percent ?? "?"}% ${f.phase} rows ${f.rows} threads ${f.threads}${f.threads_total === null ? "" : `/${f.threads_total}`} ` +
          `${f.rows_per_second} rows/s ETA ${f.eta_seconds === null ? "?" : formatDuration(f.eta_seconds)}   `
      )
    })
    return Effect.forever(Effect.zipRight(Effect.sleep(200), draw)).pipe(Effect.ensuring(Effect.sync(() => process.stderr.write("\n"))))
  }
  return Effect.forever(
    Effect.zipRight(
      Effect.sleep(everyMs),
      Effect.suspend(() => Effect.logInfo("import-csv progress").pipe(Effect.annotateLogs(progressFigures(progress, startedAt, emitPerRead))))
    )
  )
}

const reportRejects = (events: ReadonlyArray<ImportEvent>, counts: Counts): Effect.Effect<ReadonlyArray<ImportedThread>> =>
  Effect.gen(function* () {
    const threads: Array<ImportedThread> = []
    for (const event of events) {
      if (event._tag === "Thread") threads.push(event)
      else {
        counts.rejected++
        yield* reportRejected(event.line, event.reason)
      }
    }
    counts.threads += threads.length
    return threads
  })

export const runImportCsv = (args: {
  readonly file: string
  readonly store: boolean
  readonly progressEvery: number
}): Effect.Effect<void, CommandFailed | ConfigurationError> =>
  withConfig((config) =>
    Effect.gen(function* () {
      const counts: Counts = { threads: 0, stored: 0, resubmitted: 0, conflicts: 0, rejected: 0 }
      const progress = newProgress()
      const startedAt = Date.now()
      const events = twcsImport(args.file, progress).pipe(
        Stream.mapError((error) => new CommandFailed({ message: `import-csv: ${error.message}` }))
      )
      const work = args.store
        ? // The store, its SQL client and the validate stage are loaded only for --store.
          Effect.flatMap(Effect.promise(() => import("./import-csv-store.js")), ({ storeThreads, withStore }) =>
            Effect.scoped(
              Effect.gen(function* () {
                // The first batch comes once the whole file has been read: only then is the database
                // opened (created), so a file refused whole (no twcs header, empty, a directory)
                // leaves no database behind.
                const [first, rest] = yield* Stream.peel(events, Sink.head())
                yield* Option.match(first, { onNone: () => rest, onSome: (batch) => Stream.concat(Stream.make(batch), rest) }).pipe(
                  Stream.mapEffect((batch) => reportRejects(batch, counts)),
                  Stream.flattenIterables,
                  Stream.rechunk(STORE_GROUP),
                  Stream.mapChunksEffect((chunk) => Effect.as(storeThreads([...chunk], counts), chunk)),
                  Stream.runDrain,
                  withStore(config.databaseFile)
                )
              })
            )
          )
        : events.pipe(
            Stream.runForEach((batch) =>
              Effect.flatMap(reportRejects(batch, counts), (threads) => writeLines(threads.map((thread) => thread.json)))
            )
          )
      yield* Effect.raceFirst(work, reportProgress(progress, startedAt, args.progressEvery * 1000, args.store ? EMIT_PER_READ.store : EMIT_PER_READ.stdout)).pipe(
        summaryWhenInterrupted("import-csv", () => ({
          rows: progress.rows,
          threads: counts.threads,
          rejected: counts.rejected,
          ...(args.store ? { stored: counts.stored, resubmitted: counts.resubmitted, conflicts: counts.conflicts } : {})
        }))
      )
      const seconds = (Date.now() - startedAt) / 1000
      yield* Effect.logInfo("import-csv finished").pipe(
        Effect.annotateLogs({
          file: args.file,
          rows: progress.rows,
          threads: counts.threads,
          rejected: counts.rejected,
          ...(args.store ? { database: config.databaseFile, stored: counts.stored, resubmitted: counts.resubmitted, conflicts: counts.conflicts } : {}),
          seconds: Math.round(seconds * 10) / 10,
          rows_per_second: seconds > 0 ? Math.round(progress.rows / seconds) : 0
        })
      )
      if (counts.rejected > 0) {
        return yield* Effect.fail(new CommandFailed({ message: `import-csv: ${counts.rejected} row${counts.rejected === 1 ? "" : "s"} rejected` }))
      }
    })
  )
