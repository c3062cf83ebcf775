/**
 * Test helper: runs the BUILT daemon (`node dist/main.js serve`) as a real child process on a
 * free loopback port with a real SQLite file in a temp dir, and gives small fetch helpers.
 * `npm test` builds dist/ first (pretest); run `npm run build` before `npx vitest run …`.
 *
 *   const daemon = await startDaemon({ env: { INSIGHTD_RATE_LIMIT: "0" } })
 *   const res = await postJson(daemon.baseUrl, "/api/v1/conversations", conversation())
 *   expect(await daemon.stop()).toBe(0)          // SIGTERM, resolves with the exit code
 *
 * Defaults passed to the child (each can be overridden with `env`): INSIGHTD_PORT=0,
 * INSIGHTD_HOST=127.0.0.1, INSIGHTD_DB=<dbPath>, INSIGHTD_LOG_FORMAT=json, INSIGHTD_ANALYZER=local.
 * Any INSIGHTD_* / XAI_* variable of the test process itself is NOT inherited, so a developer's
 * shell cannot change what the tests run against.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"

export const repoRoot = resolve(import.meta.dirname, "../..")

export type LogLine = Record<string, unknown>

export interface StartOptions {
  /** Extra or overriding environment variables for the daemon. */
  readonly env?: Record<string, string>
  /** `pipe` to write JSONL to the daemon's stdin (`daemon.child.stdin`); default `ignore`. */
  readonly stdin?: "pipe" | "ignore"
  /** Reuse a database file (e.g. to restart on the same data); default a fresh temp file. */
  readonly dbPath?: string
  /** How long to wait for the "http listening" log line; default 15 s. */
  readonly startTimeoutMs?: number
}

export interface RunningDaemon {
  readonly port: number
  /** `http://127.0.0.1:PORT` */
  readonly baseUrl: string
  readonly dbPath: string
  readonly child: ChildProcess
  /** Every stderr line that parsed as JSON, in order (a fresh copy on each call). */
  readonly logs: () => Array<LogLine>
  /** All of stderr so far, raw (JSON lines and anything else). */
  readonly stderr: () => string
  /** Resolves with the first log line (past or future) matching `predicate`; rejects after `timeoutMs`. */
  readonly waitForLog: (predicate: (line: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  readonly exited: Promise<number | null>
  /**
   * Sends `signal` (default SIGTERM) and resolves with the exit code (null when the process died
   * of the signal, e.g. SIGKILL). If it has not exited after `timeoutMs` (default 30 s) it is
   * SIGKILLed and the promise rejects. Calling it on an exited process just returns the code.
   */
  readonly stop: (signal?: NodeJS.Signals, timeoutMs?: number) => Promise<number | null>
  /** Removes the temp dir this helper created (never a caller-supplied dbPath). Call after stop. */
  readonly cleanup: () => void
}

const childEnv = (dbPath: string, extra: Record<string, string> | undefined): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("INSIGHTD_") && !key.startsWith("XAI_") && value !== undefined) env[key] = value
  }
  return {
    ...env,
    INSIGHTD_PORT: "0",
    INSIGHTD_HOST: "127.0.0.1",
    INSIGHTD_DB: dbPath,
    INSIGHTD_LOG_FORMAT: "json",
    INSIGHTD_ANALYZER: "local",
    ...extra
  }
}

export const startDaemon = (options: StartOptions = {}): Promise<RunningDaemon> => {
  const ownDir = options.dbPath === undefined ? mkdtempSync(join(tmpdir(), "insightd-http-")) : undefined
  const dbPath = options.dbPath ?? join(ownDir!, "db.sqlite")
  const child = spawn(process.execPath, [join(repoRoot, "dist/main.js"), "serve"], {
    cwd: repoRoot,
    env: childEnv(dbPath, options.env),
    stdio: [options.stdin ?? "ignore", "ignore", "pipe"]
  })

  let stderr = ""
  let partial = ""
  const logs: Array<LogLine> = []
  const watchers = new Set<(line: LogLine) => void>()
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
  const hasExited = () => child.exitCode !== null || child.signalCode !== null

  child.stderr!.setEncoding("utf8")
  child.stderr!.on("data", (chunk: string) => {
    stderr += chunk
    partial += chunk
    const lines = partial.split("\n")
    partial = lines.pop() ?? ""
    for (const text of lines) {
      if (text.trim() === "") continue
      let line: LogLine
      try {
        const parsed: unknown = JSON.parse(text)
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) continue
        line = parsed as LogLine
      } catch {
        continue // not JSON (a native crash message, say): kept in stderr()
      }
      logs.push(line)
      for (const watcher of [...watchers]) watcher(line)
    }
  })

  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> => {
    const seen = logs.find(predicate)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise<LogLine>((resolveLine, rejectLine) => {
      const watcher = (line: LogLine) => {
        if (!predicate(line)) return
        clearTimeout(timer)
        watchers.delete(watcher)
        resolveLine(line)
      }
      const timer = setTimeout(() => {
        watchers.delete(watcher)
        rejectLine(new Error(`no matching log line within ${timeoutMs} ms; stderr tail:\n${stderr.slice(-4000)}`))
      }, timeoutMs)
      watchers.add(watcher)
    })
  }

  const stop = (signal: NodeJS.Signals = "SIGTERM", timeoutMs = 30_000): Promise<number | null> => {
    if (hasExited()) return exited
    child.kill(signal)
    return new Promise<number | null>((resolveStop, rejectStop) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL")
        rejectStop(new Error(`daemon did not exit within ${timeoutMs} ms of ${signal}; stderr tail:\n${stderr.slice(-4000)}`))
      }, timeoutMs)
      void exited.then((code) => {
        clearTimeout(timer)
        resolveStop(code)
      })
    })
  }

  const cleanup = () => {
    if (ownDir !== undefined) rmSync(ownDir, { recursive: true, force: true })
  }

  const startTimeoutMs = options.startTimeoutMs ?? 15_000
  return new Promise<RunningDaemon>((resolveStart, rejectStart) => {
    const fail = (reason: string) => {
      clearTimeout(timer)
      if (!hasExited()) child.kill("SIGKILL")
      rejectStart(new Error(`${reason}; stderr:\n${stderr.slice(-4000)}`))
    }
    const timer = setTimeout(() => fail(`daemon did not log "http listening" within ${startTimeoutMs} ms`), startTimeoutMs)
    const onExit = (code: number | null) => fail(`daemon exited (code ${code}) before listening`)
    child.once("exit", onExit)
    child.once("error", (error) => fail(`daemon could not be spawned: ${error.message}`))
    void waitForLog((line) => line.message === "http listening" && typeof line.port === "number", startTimeoutMs + 1000).then(
      (line) => {
        clearTimeout(timer)
        child.off("exit", onExit)
        const port = line.port as number
        resolveStart({
          port,
          baseUrl: `http://127.0.0.1:${port}`,
          dbPath,
          child,
          logs: () => [...logs],
          stderr: () => stderr,
          waitForLog,
          exited,
          stop,
          cleanup
        })
      },
      () => undefined // the timer above reports the failure
    )
  })
}

/** The directory holding a daemon's database (for WAL/SHM files or extra fixtures). */
export const dbDir = (daemon: Pick<RunningDaemon, "dbPath">): string => dirname(daemon.dbPath)

// ---------------------------------------------------------------------------------------------
// Fetch helpers

/** A valid conversation input; override any field. */
export const conversation = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  author: "@customer",
  timestamp: "2024-05-01T12:00:00Z",
  text: "My package still hasn't arrived after three weeks",
  ...overrides
})

/** POST a JSON value (a string body is sent verbatim) with Content-Type application/json unless overridden. */
export const postJson = (baseUrl: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })

/** GET a path. */
export const get = (baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${baseUrl}${path}`, { headers })

/** GET a path and parse the JSON body, failing with the body text unless the status is `expectStatus` (default 200). */
export const getJson = async <T = Record<string, unknown>>(baseUrl: string, path: string, expectStatus = 200, headers: Record<string, string> = {}): Promise<T> => {
  const response = await get(baseUrl, path, headers)
  const text = await response.text()
  if (response.status !== expectStatus) throw new Error(`GET ${path}: expected ${expectStatus}, got ${response.status}: ${text.slice(0, 500)}`)
  return JSON.parse(text) as T
}

/** Polls `check` every `everyMs` (default 50) until it returns true; throws after `timeoutMs` (default 20 s). */
export const waitFor = async (check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = "condition", everyMs = 50): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Waits until GET /api/v1/conversations/{id} reports `status` (default completed) and returns the body. */
export const waitForStatus = async (baseUrl: string, id: string, status = "completed", timeoutMs = 20_000, headers: Record<string, string> = {}) => {
  let body: Record<string, unknown> = {}
  await waitFor(
    async () => {
      body = await getJson(baseUrl, `/api/v1/conversations/${id}`, 200, headers)
      return body.status === status
    },
    timeoutMs,
    `${id} to be ${status}`
  )
  return body
}

/**
 * Records every status code seen, so a file can assert in afterAll that no response was a 500.
 * `recorder.fetch` is a drop-in `fetch`; `recorder.serverErrors()` lists `METHOD path → status` for 5xx other than 503.
 */
export const statusRecorder = () => {
  const seen: Array<{ method: string; path: string; status: number }> = []
  const recordedFetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const response = await fetch(input, init)
    seen.push({ method: init?.method ?? "GET", path: new URL(input).pathname, status: response.status })
    return response
  }
  return {
    fetch: recordedFetch,
    all: () => [...seen],
    serverErrors: () => seen.filter((s) => s.status >= 500 && s.status !== 503).map((s) => `${s.method} ${s.path} → ${s.status}`)
  }
}
