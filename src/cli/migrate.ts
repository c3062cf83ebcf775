/**
 * `insightd migrate`: opens the database the way the daemon does (which applies any pending
 * migration) and reports the schema version. Useful before starting a new release, or to create
 * an empty database.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import type { ConfigurationError } from "../domain/errors.js"
import { migrations } from "../store/migrations.js"
import { prepareDatabase, sqliteConnection } from "../store/sqlite.js"
import { CommandFailed, withConfig, writeLines } from "./shared.js"

interface MigrationRow {
  readonly migration_id: number
  readonly name: string
  readonly created_at: string
}

/** As the migration is named in src/store/migrations.ts, e.g. `0003_cluster_sentiment`. */
const migrationName = (row: MigrationRow): string => `${String(row.migration_id).padStart(4, "0")}_${row.name}`

/** The migrations recorded in the database (none when it is new). */
const recordedMigrations = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const table = yield* sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'effect_sql_migrations'`
  if (table.length === 0) return []
  return yield* sql<MigrationRow>`SELECT migration_id, name, created_at FROM effect_sql_migrations ORDER BY migration_id`.withoutTransform
})

export const runMigrate: Effect.Effect<void, CommandFailed | ConfigurationError> = withConfig((config) =>
  Effect.gen(function* () {
    // What was recorded before and after opening it the daemon's way tells which migrations this run applied.
    const { after, before } = yield* Effect.gen(function* () {
      const before = yield* recordedMigrations
      yield* prepareDatabase(config.databaseFile)
      return { before, after: yield* recordedMigrations }
    }).pipe(
      Effect.provide(sqliteConnection(config.databaseFile)),
      Effect.mapError((error) => new CommandFailed({ message: `migrate: ${error.message}` }))
    )
    const latest = after[after.length - 1]
    if (latest === undefined) return yield* new CommandFailed({ message: `migrate: database ${config.databaseFile}: no migration recorded` })
    const known = new Set(before.map((row) => row.migration_id))
    const appliedNow = after.filter((row) => !known.has(row.migration_id)).map(migrationName)
    const knownMigrations = Object.keys(migrations).length
    yield* Effect.logInfo("database migrated").pipe(
      Effect.annotateLogs({ database: config.databaseFile, schema_version: latest.migration_id, applied: appliedNow, known_migrations: knownMigrations })
    )
    yield* writeLines([
      `database ${config.databaseFile}: schema version ${latest.migration_id} (${migrationName(latest)}); ` +
        (appliedNow.length === 0 ? "already up to date" : `applied ${appliedNow.join(", ")}`)
    ])
  })
)
