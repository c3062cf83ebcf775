/**
 * `insightd lint-pipeline` (the daemon's own start-up check, field path in the message) and the
 * `--help` of every command, through real child processes.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { startDaemon } from "../support/server.js"
import { fixture, repoRoot, runCli } from "./run.js"

const work = mkdtempSync(join(tmpdir(), "insightd-cli-lint-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe("insightd lint-pipeline", () => {
  it.each([join(repoRoot, "pipelines/default.json"), fixture("pipeline-good.json")])("accepts %s with exit status 0", async (file) => {
    const result = await runCli(["lint-pipeline", file])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(": ok (")
  })

  it.each([
    ["pipeline-bad-size.json", "stages.2.size", "between 1 and 100"],
    ["pipeline-bad-analyzer.json", "stages.3.analyzer", "gpt"]
  ])("refuses %s naming the field path %s, exit status 1", async (name, path, why) => {
    const result = await runCli(["lint-pipeline", fixture(name)])
    expect(result.code).toBe(1)
    expect(result.stdout).toContain(`${path}: `)
    expect(result.stdout).toContain(why)
  })

  it("refuses an unknown field, an out-of-order stage list, invalid JSON and a missing file", async () => {
    const cases: Array<[string, string, string]> = [
      ["extra.json", JSON.stringify({ name: "x", sources: [], stages: [{ stage: "batch", sise: 3 }, { stage: "analyze" }, { stage: "persist-insight" }] }), "stages.0"],
      ["order.json", JSON.stringify({ name: "x", sources: [{ type: "http" }], stages: [{ stage: "persist" }, { stage: "validate" }] }), "stages: stages must follow the order"],
      ["broken.json", "{ name: ", "not valid JSON"]
    ]
    for (const [name, content, expected] of cases) {
      const file = join(work, name)
      writeFileSync(file, content)
      const result = await runCli(["lint-pipeline", file])
      expect(result.code, name).toBe(1)
      expect(result.stdout, name).toContain(expected)
    }
    const missing = await runCli(["lint-pipeline", join(work, "absent.json")])
    expect(missing.code).toBe(1)
    expect(missing.stdout).toContain("does not exist")
  })

  it("names every bad field of a file at once, in the file's terms", async () => {
    const file = join(work, "many.json")
    writeFileSync(
      file,
      JSON.stringify({
        name: "many",
        sources: ["http"],
        stages: [{ name: "validate" }, { stage: "batch", size: 0, extra: 1 }, { stage: "analyze", analyzer: "magic" }]
      })
    )
    const result = await runCli(["lint-pipeline", file])
    expect(result.code).toBe(1)
    const problems = result.stdout.trim().replace(`pipeline file ${file}: `, "").split("; ")
    expect(problems).toEqual([
      'sources.0: must be {"type": "http"} or {"type": "stdin"}',
      'stages.0.stage: is required (one of "validate", "persist", "batch", "analyze", "persist-insight")',
      'stages.1.extra: is not a field here (known: "stage", "size", "wait_ms")',
      "stages.1.size: must be an integer between 1 and 100",
      'stages.2.analyzer: must be one of "auto", "grok", "local" (got "magic")'
    ])
  })

  it("says what the daemon says when it refuses to start with the same file", async () => {
    const lint = await runCli(["lint-pipeline", fixture("pipeline-bad-size.json")])
    const serve = await runCli(["serve"], { env: { INSIGHTD_PIPELINE: fixture("pipeline-bad-size.json"), INSIGHTD_DB: join(work, "db.sqlite"), INSIGHTD_PORT: "0" } })
    expect(serve.code).toBe(78)
    expect(serve.stderr).toContain(lint.stdout.trim())
  })
})

describe("serve refuses a configuration it cannot run", () => {
  it("Grok chosen without a key: exit 78 with one message, before any database is created", async () => {
    const db = join(work, "grok-without-key.sqlite")
    const serve = await runCli(["serve"], { env: { INSIGHTD_ANALYZER: "grok", INSIGHTD_DB: db, INSIGHTD_PORT: "0" } })
    expect(serve.code).toBe(78)
    const lines = serve.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("analyzer grok: no API key")
    expect(existsSync(db)).toBe(false)
  })

  it("warns when the pipeline's analyzer overrides INSIGHTD_ANALYZER", async () => {
    const pipeline = join(work, "local-pipeline.json")
    writeFileSync(pipeline, JSON.stringify({ name: "pinned-local", sources: [{ type: "http" }], stages: [{ stage: "validate" }, { stage: "persist" }, { stage: "batch", size: 10 }, { stage: "analyze", analyzer: "local" }, { stage: "persist-insight" }] }))
    const daemon = await startDaemon({ env: { INSIGHTD_PIPELINE: pipeline, INSIGHTD_ANALYZER: "grok", XAI_API_KEY: "xai-unused", XAI_BASE_URL: "http://127.0.0.1:9/v1" } })
    try {
      const warning = await daemon.waitForLog((line) => line.message === "the pipeline's analyzer overrides the configured one")
      expect(warning).toMatchObject({ level: "warn", pipeline: "pinned-local", pipeline_analyzer: "local", configured_analyzer: "grok" })
    } finally {
      expect(await daemon.stop()).toBe(0)
      daemon.cleanup()
    }
  })

  it("says why even with INSIGHTD_LOG_LEVEL=none, and names every bad variable at once", async () => {
    const serve = await runCli(["serve"], { env: { INSIGHTD_LOG_LEVEL: "none", INSIGHTD_PORT: "abc", INSIGHTD_RATE_LIMIT: "-5", INSIGHTD_DB: join(work, "silent.sqlite") } })
    expect(serve.code).toBe(78)
    const lines = serve.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("INSIGHTD_PORT")
    expect(lines[0]).toContain("INSIGHTD_RATE_LIMIT")
  })
})

describe("--help", () => {
  it.each([
    ["serve", "INSIGHTD_CONFIG"],
    ["validate", "line number"],
    ["analyze", "without a database"],
    ["store", "transaction"],
    ["ingest", "Retry-After"],
    ["query", "GET /api/v1/insights"],
    ["retry-failed", "--error-class"],
    ["migrate", "schema version"],
    ["lint-pipeline", "field path"]
  ])("insightd %s --help describes the command", async (command, phrase) => {
    const result = await runCli([command, "--help"])
    expect(result.code).toBe(0)
    expect(result.stdout.replace(/\s+/g, " ")).toContain(phrase)
  })

  // Commands are defined in src/cli/commands.ts and their implementations imported when they run:
  // the help must still list every command and every option and argument of each.
  it("insightd --help lists every command", async () => {
    const result = await runCli(["--help"])
    expect(result.code).toBe(0)
    // Written to a pipe, not a terminal: plain text (`insightd --help | less` shows no escape codes).
    expect(result.stdout).not.toContain("\u001b")
    expect(result.stdout.startsWith("insightd\n")).toBe(true)
    for (const command of ["serve", "validate", "analyze", "store", "import-csv", "ingest", "query", "retry-failed", "migrate", "lint-pipeline"]) {
      expect(result.stdout).toContain(command)
    }
  })

  it.each([
    ["import-csv", ["FILE", "--store", "--progress-every"]],
    ["ingest", ["FILE", "--url", "--concurrency", "--batch-size", "--api-key", "--retries"]],
    [
      "query",
      ["--start-time", "--end-time", "--min-confidence", "--max-confidence", "--min-sentiment", "--max-sentiment", "--sentiment", "--cluster", "--author", "--order", "--limit"]
    ],
    ["retry-failed", ["--error-class"]],
    ["lint-pipeline", ["FILE"]]
  ])("insightd %s --help lists its options", async (command, options) => {
    const result = await runCli([command, "--help"])
    expect(result.code).toBe(0)
    for (const option of options) expect(result.stdout).toContain(option)
  })

  it.each([
    [["store", "--db", "x.db"], "Received unknown argument: '--db'"],
    [["import-csv"], "Missing argument <FILE>"],
    [["query", "--limit", "many"], "many"]
  ])("insightd %j: says what is wrong with the command line, exit status 2, no crash report", async (args, message) => {
    const result = await runCli(args)
    // 2, not 1: a script can tell a mistyped flag from input that was rejected.
    expect(result.code).toBe(2)
    expect(result.stdout + result.stderr).toContain(message)
    expect(result.stderr).not.toContain("stopped on an error")
    expect(result.stderr).not.toContain("_tag")
  })
})
