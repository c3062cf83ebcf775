/**
 * `insightd migrate`: opens the database the way the daemon does (which applies any pending
 * migration) and reports the schema version. Useful before starting a new release, or to create
 * an empty database.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import type { ConfigurationError } from "../domain/errors.js"
import { migrations } from "../store/migrations.js"
import { sqliteClientLayer } from "../store/sqlite.js"
import { CommandFailed, withConfig, writeLines } from "./shared.js"

interface MigrationRow {
  readonly migration_id: number
  readonly name: string
  readonly created_at: string
}

/** As the migration is named in src/store/migrations.ts, e.g. `0003_cluster_sentiment`. */
const migrationName = (row: MigrationRow): string => `${String(row.migration_id).padStart(4, "0")}_${row.name}`

export const runMigrate: Effect.Effect<void, CommandFailed | ConfigurationError> = withConfig((config) =>
  Effect.gen(function* () {
    // SQLite's CURRENT_TIMESTAMP has whole seconds: a migration stamped at or after this second was applied by us.
    const startedSecond = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().slice(0, 19).replace("T", " ")
    const rows = yield* Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      return yield* sql<MigrationRow>`SELECT migration_id, name, created_at FROM effect_sql_migrations ORDER BY migration_id`.withoutTransform
    }).pipe(
      Effect.provide(sqliteClientLayer(config.databaseFile)),
      Effect.mapError((error) => new CommandFailed({ message: `migrate: ${error.message}` }))
    )
    const latest = rows[rows.length - 1]
    if (latest === undefined) return yield* new CommandFailed({ message: `migrate: database ${config.databaseFile}: no migration recorded` })
    const appliedNow = rows.filter((row) => String(row.created_at) >= startedSecond).map(migrationName)
    const known = Object.keys(migrations).length
    yield* Effect.logInfo("database migrated").pipe(
      Effect.annotateLogs({ database: config.databaseFile, schema_version: latest.migration_id, applied: appliedNow, known_migrations: known })
    )
    yield* writeLines([
      `database ${config.databaseFile}: schema version ${latest.migration_id} (${migrationName(latest)}); ` +
        (appliedNow.length === 0 ? "already up to date" : `applied ${appliedNow.join(", ")}`) +
        (latest.migration_id > known ? `; this insightd knows only ${known} migrations (the database is newer)` : "")
    ])
  })
)
