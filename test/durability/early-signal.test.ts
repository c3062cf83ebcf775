/**
 * SPEC §5 "Graceful shutdown" from the very start: systemd or Docker may stop the daemon while it
 * is still loading (~0.5 s of a 4 MB bundle), before the program's own signal handlers exist.
 * The launcher (dist/main.js) takes SIGTERM and SIGINT first and hands them on, so the daemon
 * still drains and exits 0, and a stage command exits 128 + the signal's number with its log
 * line, instead of node's default action killing the process silently. A module hook
 * (test/support/slow-native-load.mjs) holds the program's loading open, so the signal lands
 * inside that window every time.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { daemonEnv, repoRoot, waitUntil, withDb } from "../support/child.js"

const dirs: Array<string> = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly logs: ReadonlyArray<Record<string, unknown>>
  readonly dbPath: string
}

/** Starts `insightd …args` with its loading held open, sends `signal` inside that window, waits for the exit. */
const signalWhileLoading = async (args: ReadonlyArray<string>, signal: NodeJS.Signals): Promise<Run> => {
  const dir = mkdtempSync(join(tmpdir(), "insightd-early-signal-"))
  dirs.push(dir)
  const marker = join(dir, "loading")
  const dbPath = join(dir, "insightd.db")
  const child = spawn(process.execPath, ["--import", join(repoRoot, "test/support/slow-native-load.mjs"), join(repoRoot, "dist/main.js"), ...args], {
    cwd: repoRoot,
    env: daemonEnv(dbPath, { SLOW_LOAD_MARKER: marker, SLOW_LOAD_MS: "1500" }),
    stdio: ["pipe", "ignore", "pipe"]
  })
  let stderr = ""
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once("exit", (code, signal) => done({ code, signal })))
  try {
    await waitUntil(() => existsSync(marker), 10_000, "the program to start loading", 5)
    expect(stderr).toBe("") // nothing of the program has run yet
    child.kill(signal)
    const exit = await Promise.race([exited, new Promise<never>((_, no) => setTimeout(() => no(new Error(`no exit after ${signal}:\n${stderr}`)), 20_000))])
    const logs = stderr
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    return { ...exit, logs, dbPath }
  } finally {
    child.kill("SIGKILL")
  }
}

describe("a signal while the program is still loading", () => {
  it.each(["SIGTERM", "SIGINT"] as const)("%s: the daemon starts, drains, logs its shutdown and exits 0, leaving nothing processing", async (signal) => {
    const run = await signalWhileLoading(["serve"], signal)
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null })
    const messages = run.logs.map((entry) => entry.message)
    expect(messages).toContain("shutdown: signal received, draining")
    expect(messages.at(-1)).toBe("shutdown: complete")
    expect(withDb(run.dbPath, (db) => db.prepare("SELECT count(*) AS n FROM conversations WHERE status = 'processing'").get())).toEqual({ n: 0 })
  }, 30_000)

  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130]
  ] as const)("%s: a stage command reports the interruption and exits %i", async (signal, code) => {
    const run = await signalWhileLoading(["validate"], signal)
    expect({ code: run.code, signal: run.signal }).toEqual({ code, signal: null })
    expect(run.logs.map((entry) => entry.message)).toContain("validate interrupted")
  }, 30_000)
})
