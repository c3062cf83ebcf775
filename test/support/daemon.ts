/**
 * Starts the built daemon (`node dist/main.js serve`) as a real child process on a free loopback
 * port with its own SQLite file, and collects its JSON log lines. `npm test` builds dist/ first.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

export interface Daemon {
  readonly port: number
  readonly baseUrl: string
  readonly dbPath: string
  readonly child: ChildProcess
  /** Parsed JSON log lines so far. */
  readonly logs: () => Array<Record<string, unknown>>
  /** Raw stderr so far. */
  readonly stderr: () => string
  /** Sends `signal` (default SIGTERM) and resolves with the exit code (null if killed by a signal). */
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>
  readonly exited: Promise<number | null>
}

export interface DaemonOptions {
  readonly env?: Record<string, string>
  readonly stdin?: "pipe" | "ignore"
  readonly dbPath?: string
}

const repoRoot = resolve(import.meta.dirname, "../..")

export const startDaemon = (options: DaemonOptions = {}): Promise<Daemon> => {
  const dbPath = options.dbPath ?? join(mkdtempSync(join(tmpdir(), "insightd-daemon-")), "insightd.db")
  const child = spawn(process.execPath, [join(repoRoot, "dist/main.js"), "serve"], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? "",
      INSIGHTD_PORT: "0",
      INSIGHTD_HOST: "127.0.0.1",
      INSIGHTD_DB: dbPath,
      INSIGHTD_LOG_FORMAT: "json",
      INSIGHTD_ANALYZER: "local",
      ...options.env
    },
    stdio: [options.stdin ?? "ignore", "ignore", "pipe"]
  })
  let stderr = ""
  const logs: Array<Record<string, unknown>> = []
  let pending = ""
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
  return new Promise<Daemon>((resolveStart, rejectStart) => {
    const timer = setTimeout(() => rejectStart(new Error(`daemon did not start within 15 s:\n${stderr}`)), 15_000)
    child.stderr!.setEncoding("utf8")
    child.stderr!.on("data", (chunk: string) => {
      stderr += chunk
      pending += chunk
      const lines = pending.split("\n")
      pending = lines.pop() ?? ""
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>
          logs.push(entry)
          if (entry.message === "http listening" && typeof entry.port === "number") {
            clearTimeout(timer)
            const port = entry.port
            resolveStart({
              port,
              baseUrl: `http://127.0.0.1:${port}`,
              dbPath,
              child,
              logs: () => logs,
              stderr: () => stderr,
              exited,
              stop: (signal = "SIGTERM") => {
                if (child.exitCode !== null || child.signalCode !== null) return exited
                child.kill(signal)
                return Promise.race([exited, new Promise<number | null>((_, no) => setTimeout(() => no(new Error("daemon did not exit within 30 s")), 30_000))])
              }
            })
          }
        } catch {
          // not a JSON line (e.g. a native crash message); kept in stderr
        }
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      rejectStart(new Error(`daemon exited with ${code} before listening:\n${stderr}`))
    })
  })
}

export const conversation = (overrides: Record<string, unknown> = {}) => ({
  author: "@customer",
  timestamp: "2024-05-01T12:00:00Z",
  text: "My package still hasn't arrived after three weeks",
  ...overrides
})

export const postJson = (baseUrl: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })

/** Polls `check` every 50 ms until it returns true, failing after `timeoutMs`. */
export const waitFor = async (check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = "condition") => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}
