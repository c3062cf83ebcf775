/**
 * Runs the BUILT command line (`node dist/main.js …`) as a real child process, feeding stdin from
 * a string or a file, and collects stdout, stderr and the exit code. Any INSIGHTD_* / XAI_*
 * variable of the test process is dropped, so a developer's shell cannot change the result.
 * Run `npm run build` first.
 */
import { spawn } from "node:child_process"
import { closeSync, openSync } from "node:fs"
import { join, resolve } from "node:path"

export const repoRoot = resolve(import.meta.dirname, "../..")
export const mainJs = join(repoRoot, "dist/main.js")
export const fixture = (name: string): string => join(import.meta.dirname, "fixtures", name)

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** stderr lines that parsed as JSON objects (the log lines). */
  readonly logs: ReadonlyArray<Record<string, unknown>>
  /** stdout split into non-empty lines. */
  readonly lines: ReadonlyArray<string>
}

export interface RunOptions {
  /** Text written to stdin, or `{ file }` to give the file as stdin; default: empty stdin. */
  readonly input?: string | { readonly file: string }
  readonly env?: Record<string, string>
  readonly cwd?: string
  readonly timeoutMs?: number
}

export const cliEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("INSIGHTD_") && !key.startsWith("XAI_") && value !== undefined) env[key] = value
  }
  return { ...env, INSIGHTD_LOG_FORMAT: "json", ...extra }
}

export const parseLogs = (stderr: string): Array<Record<string, unknown>> =>
  stderr.split("\n").flatMap((line) => {
    try {
      const value: unknown = JSON.parse(line)
      return value !== null && typeof value === "object" && !Array.isArray(value) ? [value as Record<string, unknown>] : []
    } catch {
      return []
    }
  })

/** Runs `node dist/main.js ...args` (or, with `shell`, a bash command line) to completion. */
const runChild = (command: string, args: ReadonlyArray<string>, options: RunOptions): Promise<CliResult> =>
  new Promise((done, fail) => {
    const input = options.input
    const fd = typeof input === "object" ? openSync(input.file, "r") : undefined
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: cliEnv(options.env),
      stdio: [fd ?? "pipe", "pipe", "pipe"]
    })
    if (fd !== undefined) closeSync(fd)
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    if (child.stdin !== null) {
      child.stdin.on("error", () => undefined) // a command that exits early closes its stdin
      child.stdin.end(typeof input === "string" ? input : "")
    }
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      fail(new Error(`${command} ${args.join(" ")} did not finish within ${options.timeoutMs ?? 50_000} ms; stderr:\n${stderr.slice(-3000)}`))
    }, options.timeoutMs ?? 50_000)
    child.once("error", (error) => {
      clearTimeout(timer)
      fail(error)
    })
    child.once("close", (code) => {
      clearTimeout(timer)
      done({ code, stdout, stderr, logs: parseLogs(stderr), lines: stdout.split("\n").filter((line) => line.trim() !== "") })
    })
  })

export const runCli = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<CliResult> => runChild(process.execPath, [mainJs, ...args], options)

/** Runs a bash command line in which `insightd` is the built command. */
export const runShell = (script: string, options: RunOptions = {}): Promise<CliResult> =>
  runChild("bash", ["-c", `set -o pipefail; insightd() { "${process.execPath}" "${mainJs}" "$@"; }; ${script}`], options)

/** Log lines reporting a rejected input line, by line number. */
export const rejectedLines = (result: CliResult): Array<number> =>
  result.logs.filter((log) => typeof log.line === "number" && String(log.message).includes("rejected")).map((log) => log.line as number)

/** Every stdout line parses as JSON (stdout carries nothing else). */
export const jsonLines = (result: CliResult): Array<Record<string, unknown>> => result.lines.map((line) => JSON.parse(line) as Record<string, unknown>)
