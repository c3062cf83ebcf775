/**
 * Runs the built daemon (`node dist/main.js serve`) as a real child process for the durability
 * tests: its own SQLite file in a temp dir, a free loopback port, JSON logs on stderr collected and
 * parsed. Every wait is bounded by a timeout and fails with the log tail, so a hang never eats the
 * whole test timeout silently. Run `npm run build` first (the tests use dist/).
 */
import Database from "better-sqlite3"
import { type ChildProcess, spawn, type StdioOptions } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

export const repoRoot = resolve(import.meta.dirname, "../..")
const mainJs = join(repoRoot, "dist/main.js")

export type LogEntry = Record<string, unknown> & { readonly message?: unknown }

export interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface StoppedInfo extends ExitInfo {
  /** Milliseconds from sending the signal to the `exit` event. */
  readonly ms: number
}

export interface ChildDaemon {
  readonly proc: ChildProcess
  readonly pid: number
  readonly port: number
  readonly baseUrl: string
  readonly dbPath: string
  /** Parsed JSON log lines so far (a live array). */
  readonly logs: () => ReadonlyArray<LogEntry>
  /** Raw stderr so far. */
  readonly stderr: () => string
  /** Log lines with this message. */
  readonly logsWith: (message: string) => ReadonlyArray<LogEntry>
  /** Resolves with the first log line (already seen or future) matching `predicate`. */
  readonly waitForLog: (predicate: (entry: LogEntry) => boolean, timeoutMs: number, what: string) => Promise<LogEntry>
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitInfo>
  readonly isRunning: () => boolean
  /**
   * Sends `signal` and waits (at most `timeoutMs`) for the exit; on timeout the child is
   * SIGKILLed and the promise rejects, so a hung shutdown fails the test instead of leaking.
   */
  readonly stop: (signal?: NodeJS.Signals, timeoutMs?: number) => Promise<StoppedInfo>
}

export interface SpawnOptions {
  /** Reuse an existing database file (restart); a fresh temp file otherwise. */
  readonly dbPath?: string
  readonly env?: Record<string, string>
  /** `pipe`: the test writes stdin; `ignore`: stdin is /dev/null; a number: an open fd (a file). */
  readonly stdin?: "pipe" | "ignore" | number
  readonly startTimeoutMs?: number
  /** Working directory of the daemon (default: the repository root). */
  readonly cwd?: string
  /**
   * A soft limit on the size of any file the daemon writes (RLIMIT_FSIZE, set by util-linux
   * `prlimit`, which then becomes the daemon: same pid). Writes past it fail as on a full disk;
   * `prlimit --pid <pid> --fsize=unlimited` lifts it, as freeing space would.
   */
  readonly maxFileBytes?: number
}

const tempDirs = new Set<string>()

/** A database path in a new temp dir (removed when the test process exits). */
export const freshDbPath = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "insightd-durability-"))
  tempDirs.add(dir)
  return join(dir, "insightd.db")
}

const running = new Set<ChildProcess>()
// A test that fails half-way must not leave daemons behind (they would hold the fork open).
process.once("exit", () => {
  for (const proc of running) proc.kill("SIGKILL")
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})

/** The environment a test daemon runs with: its own database, any free loopback port, JSON logs, the local analyzer. */
export const daemonEnv = (dbPath: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? tmpdir(),
  INSIGHTD_PORT: "0",
  INSIGHTD_HOST: "127.0.0.1",
  INSIGHTD_DB: dbPath,
  INSIGHTD_LOG_FORMAT: "json",
  INSIGHTD_ANALYZER: "local",
  ...extra
})

export const spawnDaemon = (options: SpawnOptions = {}): Promise<ChildDaemon> => {
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run \`npm run build\` first`)
  const dbPath = options.dbPath ?? freshDbPath()
  const stdio: StdioOptions = [options.stdin ?? "ignore", "ignore", "pipe"]
  const command = options.maxFileBytes === undefined ? [process.execPath, mainJs, "serve"] : ["prlimit", `--fsize=${options.maxFileBytes}:`, "--", process.execPath, mainJs, "serve"]
  const proc = spawn(command[0], command.slice(1), {
    cwd: options.cwd ?? repoRoot,
    env: daemonEnv(dbPath, options.env),
    stdio
  })
  running.add(proc)

  const logs: Array<LogEntry> = []
  const watchers = new Set<(entry: LogEntry) => void>()
  let stderr = ""
  let partial = ""
  let exitInfo: ExitInfo | null = null
  const exited = new Promise<ExitInfo>((done) =>
    proc.once("exit", (code, signal) => {
      running.delete(proc)
      exitInfo = { code, signal }
      done(exitInfo)
    })
  )
  const tail = () => stderr.split("\n").slice(-40).join("\n")

  proc.stderr!.setEncoding("utf8")
  proc.stderr!.on("data", (chunk: string) => {
    stderr += chunk
    partial += chunk
    const lines = partial.split("\n")
    partial = lines.pop() ?? ""
    for (const line of lines) {
      if (line.trim() === "") continue
      let entry: LogEntry
      try {
        entry = JSON.parse(line) as LogEntry
      } catch {
        continue // not a JSON line (a native crash message): kept in stderr only
      }
      logs.push(entry)
      for (const watcher of [...watchers]) watcher(entry)
    }
  })

  const waitForLog = (predicate: (entry: LogEntry) => boolean, timeoutMs: number, what: string): Promise<LogEntry> => {
    const seen = logs.find(predicate)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise<LogEntry>((resolveLog, rejectLog) => {
      const finish = (error: Error | null, entry?: LogEntry) => {
        clearTimeout(timer)
        watchers.delete(watcher)
        if (error) rejectLog(error)
        else resolveLog(entry!)
      }
      const watcher = (entry: LogEntry) => {
        if (predicate(entry)) finish(null, entry)
      }
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for log: ${what}\n--- stderr tail ---\n${tail()}`)), timeoutMs)
      watchers.add(watcher)
      void exited.then((info) => {
        // Let the last stderr chunk arrive before giving up.
        setTimeout(() => {
          const late = logs.find(predicate)
          if (late !== undefined) finish(null, late)
          else finish(new Error(`daemon exited (${JSON.stringify(info)}) before logging: ${what}\n--- stderr tail ---\n${tail()}`))
        }, 100)
      })
    })
  }

  const stop = async (signal: NodeJS.Signals = "SIGTERM", timeoutMs = 20_000): Promise<StoppedInfo> => {
    const started = Date.now()
    if (exitInfo !== null) return { ...exitInfo, ms: 0 }
    proc.kill(signal)
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<never>((_, no) => {
      timer = setTimeout(() => {
        proc.kill("SIGKILL")
        no(new Error(`daemon did not exit within ${timeoutMs} ms of ${signal}\n--- stderr tail ---\n${tail()}`))
      }, timeoutMs)
    })
    try {
      const info = await Promise.race([exited, timedOut])
      return { ...info, ms: Date.now() - started }
    } finally {
      clearTimeout(timer)
    }
  }

  const startTimeoutMs = options.startTimeoutMs ?? 20_000
  return waitForLog((entry) => entry.message === "http listening" && typeof entry.port === "number", startTimeoutMs, "http listening").then(
    (entry) => {
      const port = entry.port as number
      return {
        proc,
        pid: proc.pid!,
        port,
        baseUrl: `http://127.0.0.1:${port}`,
        dbPath,
        logs: () => logs,
        stderr: () => stderr,
        logsWith: (message: string) => logs.filter((l) => l.message === message),
        waitForLog,
        exited,
        isRunning: () => exitInfo === null,
        stop
      }
    },
    (error: unknown) => {
      proc.kill("SIGKILL")
      throw error
    }
  )
}

/** Polls `check` every `everyMs` until it returns true; fails after `timeoutMs` naming `what`. */
export const waitUntil = async (check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 50): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Opens the database read-only (works while the daemon runs: WAL), runs `f`, closes it. */
export const withDb = <A>(dbPath: string, f: (db: Database.Database) => A): A => {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    return f(db)
  } finally {
    db.close()
  }
}

export const statusCounts = (dbPath: string): Record<"pending" | "processing" | "completed" | "failed", number> =>
  withDb(dbPath, (db) => {
    const counts = { pending: 0, processing: 0, completed: 0, failed: 0 }
    for (const row of db.prepare("SELECT status, COUNT(*) AS n FROM conversations GROUP BY status").all() as Array<{ status: string; n: number }>) {
      if (row.status in counts) counts[row.status as keyof typeof counts] = row.n
      else throw new Error(`unexpected status ${row.status} (${row.n} rows)`)
    }
    return counts
  })

/** Runs `f` over `items` with at most `concurrency` at a time. */
export const mapLimit = async <A, B>(items: ReadonlyArray<A>, concurrency: number, f: (item: A) => Promise<B>): Promise<Array<B>> => {
  const out = new Array<B>(items.length)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++
        out[i] = await f(items[i])
      }
    })
  )
  return out
}

export const conversation = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  author: "@customer",
  timestamp: "2024-05-01T12:00:00Z",
  text: "My package still hasn't arrived after three weeks",
  ...overrides
})
