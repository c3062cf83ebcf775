/** The daemon as a child process (`node dist/main.js serve`) for the Grok end-to-end tests. */
import Database from "better-sqlite3"
import { type ChildProcess, execSync, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"

const ROOT = join(import.meta.dirname, "..", "..")

const newestMtime = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((newest, entry) => {
    const path = join(dir, entry.name)
    return Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs)
  }, 0)

/** Builds dist/ when it is missing or older than src/ (so `vitest run test/grok` never runs a stale build). */
export const ensureBuilt = (): void => {
  const main = join(ROOT, "dist", "main.js")
  if (existsSync(main) && statSync(main).mtimeMs >= newestMtime(join(ROOT, "src"))) return
  execSync("npm run build", { cwd: ROOT, stdio: "ignore" })
}

export interface LogEntry {
  readonly message: string
  readonly level: string
  readonly [key: string]: unknown
}

export interface Daemon {
  readonly url: string
  readonly dbPath: string
  readonly logs: ReadonlyArray<LogEntry>
  /** Everything written to stderr. */
  readonly stderr: () => string
  readonly db: () => Database.Database
  /** SIGTERM, then the exit code; removes the database directory unless `cleanup` is false. */
  stop(cleanup?: boolean): Promise<number | null>
  /** Sends `signal` (e.g. SIGKILL, to crash it); resolves with the exit once it is gone. */
  kill(signal: NodeJS.Signals): Promise<number | null>
  readonly cleanup: () => void
}

/** Starts a daemon; `dbPath` reuses a database (a restart), else it gets a fresh one. */
export const startDaemon = async (env: Record<string, string>, reuse?: { readonly dbPath: string }): Promise<Daemon> => {
  ensureBuilt()
  const dir = reuse === undefined ? mkdtempSync(join(tmpdir(), "insightd-grok-")) : dirname(reuse.dbPath)
  const dbPath = reuse?.dbPath ?? join(dir, "insightd.db")
  const child: ChildProcess = spawn(process.execPath, ["dist/main.js", "serve"], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "pipe"],
    env: {
      PATH: process.env.PATH ?? "",
      INSIGHTD_DB: dbPath,
      INSIGHTD_PORT: "0",
      INSIGHTD_HOST: "127.0.0.1",
      INSIGHTD_RATE_LIMIT: "0",
      INSIGHTD_LOG_FORMAT: "json",
      INSIGHTD_ANALYZER: "grok",
      ...env
    }
  })
  const logs: Array<LogEntry> = []
  let text = ""
  let pending = ""
  let onLine: (() => void) | undefined
  child.stderr?.setEncoding("utf8")
  child.stderr?.on("data", (chunk: string) => {
    text += chunk
    pending += chunk
    const lines = pending.split("\n")
    pending = lines.pop() ?? ""
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogEntry)
      } catch {
        logs.push({ message: line, level: "raw" })
      }
    }
    onLine?.()
  })
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start:\n${text}`)), 20_000)
    void exited.then((code) => reject(new Error(`daemon exited with ${code}:\n${text}`)))
    onLine = () => {
      const listening = logs.find((entry) => entry.message === "http listening")
      if (listening !== undefined) {
        clearTimeout(timer)
        resolve(String(listening.url))
      }
    }
  })
  let database: Database.Database | undefined
  return {
    url,
    dbPath,
    logs,
    stderr: () => text,
    db: () => (database ??= new Database(dbPath, { readonly: true, fileMustExist: true })),
    stop: async (cleanup = true) => {
      database?.close()
      database = undefined
      child.kill("SIGTERM")
      const code = await exited
      if (cleanup) rmSync(dir, { recursive: true, force: true })
      return code
    },
    kill: (signal) => {
      database?.close()
      database = undefined
      child.kill(signal)
      return exited
    },
    cleanup: () => {
      database?.close()
      database = undefined
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Conversations per status in the daemon's database (readable after it stopped, until cleanup). */
export const statusRows = (daemon: Daemon): Array<{ status: string; n: number }> =>
  daemon.db().prepare("SELECT status, count(*) AS n FROM conversations GROUP BY status").all() as Array<{ status: string; n: number }>

export const statusCounts = (daemon: Daemon): Record<string, number> => Object.fromEntries(statusRows(daemon).map((row) => [row.status, row.n]))

export const waitFor = async (condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

export const postBulk = async (daemon: Daemon, items: ReadonlyArray<unknown>): Promise<void> => {
  const response = await fetch(`${daemon.url}/api/v1/conversations/bulk`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(items) })
  if (response.status !== 202) throw new Error(`bulk submit answered ${response.status}: ${await response.text()}`)
}
