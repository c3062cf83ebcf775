/**
 * One daemon per database file. Two `insightd serve` on one SQLite file would each hand the
 * other's in-flight claims back at start ("left by a dead process") and analyse them twice, and
 * each would spend the whole Grok call limit. The stage commands (`store`, `query`,
 * `retry-failed`, `import-csv --store`) take no lock: they are meant to run beside the daemon.
 *
 * The lock is SQLite's own exclusive file lock (an OS record lock) held on a small side file,
 * `<database>-lock`, for as long as the daemon runs. The kernel drops it when the process ends,
 * kill -9 included, so a crashed daemon never blocks its restart. The file itself stays: its
 * presence means nothing, and deleting it on exit would let two daemons lock two different files.
 */
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import { readFileSync, statSync } from "node:fs"
import { dirname } from "node:path"
import { StoreError } from "../domain/errors.js"
import { ensureDirectory, messageOf } from "./sqlite.js"

export const lockFileOf = (databaseFile: string): string => `${databaseFile}-lock`

/** The process holding a POSIX lock on `file`, from Linux's /proc/locks; undefined elsewhere or when unknown. */
const lockHolder = (file: string): number | undefined => {
  try {
    const inode = statSync(file).ino
    for (const line of readFileSync("/proc/locks", "utf8").split("\n")) {
      // "1: POSIX  ADVISORY  WRITE 3746 fd:01:1234567 0 EOF": pid, then major:minor:inode.
      const match = /^\d+:\s+POSIX\s+\S+\s+\S+\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line)
      if (match !== null && Number(match[2]) === inode) return Number(match[1])
    }
  } catch {
    // No /proc (not Linux): the message goes without the pid.
  }
  return undefined
}

const lock = (databaseFile: string): Effect.Effect<Database.Database, StoreError> =>
  Effect.try({
    try: () => {
      const lockFile = lockFileOf(databaseFile)
      // timeout 0: a held lock is reported at once instead of after better-sqlite3's 5 s wait.
      const db = new Database(lockFile, { timeout: 0 })
      try {
        db.pragma("locking_mode = EXCLUSIVE")
        // Nothing here needs a rollback journal, and with one a -journal file would stay beside.
        db.pragma("journal_mode = MEMORY")
        // In exclusive locking mode the first write takes the lock and keeps it until close; the
        // row names the daemon that holds (or last held) it, for whoever looks at the file.
        db.exec("BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS daemon (pid INTEGER NOT NULL); DELETE FROM daemon; COMMIT")
        db.prepare("INSERT INTO daemon (pid) VALUES (?)").run(process.pid)
        return db
      } catch (error) {
        db.close()
        throw error
      }
    },
    catch: (error) => {
      const lockFile = lockFileOf(databaseFile)
      if ((error as { code?: unknown }).code === "SQLITE_BUSY") {
        const holder = lockHolder(lockFile)
        return new StoreError({
          message:
            `database ${databaseFile} is in use by another insightd serve${holder === undefined ? "" : ` (pid ${holder})`}, which holds ${lockFile}; ` +
            "stop it first, or give this daemon its own INSIGHTD_DB",
          cause: error
        })
      }
      return new StoreError({ message: `database ${databaseFile}: cannot lock ${lockFile} (${messageOf(error)})`, cause: error })
    }
  })

/** Creates the database's directory when missing (as opening it would), then locks. */
const acquire = (databaseFile: string): Effect.Effect<Database.Database, StoreError> =>
  Effect.try({
    try: () => ensureDirectory(dirname(databaseFile)),
    catch: (cause) => new StoreError({ message: `database ${databaseFile}: cannot create its directory (${messageOf(cause)})`, cause })
  }).pipe(Effect.zipRight(lock(databaseFile)))

/** Holds the database's daemon lock for the layer's lifetime (nothing for an in-memory database). */
export const DaemonLockLive = (databaseFile: string): Layer.Layer<never, StoreError> =>
  databaseFile === ":memory:"
    ? Layer.empty
    : Layer.scopedDiscard(Effect.acquireRelease(acquire(databaseFile), (db) => Effect.sync(() => db.close())))
