/**
 * `insightd validate` and `insightd analyze` as real child processes: stdout is pure JSONL that
 * decodes, bad lines are reported on stderr with their line number and field, exit codes, and the
 * shell pipeline `validate | analyze` gives the insights the daemon gives for the same input.
 */
import Database from "better-sqlite3"
import { Either, Schema } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { ConversationInput } from "../../src/domain/conversation.js"
import { InsightListItemView } from "../../src/http/api.js"
import { expectedFor, startFakeGrok } from "../support/fake-grok.mjs"
import { startDaemon } from "../support/server.js"
import { cliEnv, fixture, jsonLines, mainJs, parseLogs, rejectedLines, runCli, runShell } from "./run.js"

/** What `analyze` writes: the API's insight list item plus the analyzer's raw response and usage; nothing else. */
const InsightLine = Schema.Struct({
  ...InsightListItemView.fields,
  raw_response: Schema.String,
  prompt_tokens: Schema.NullOr(Schema.Number),
  completion_tokens: Schema.NullOr(Schema.Number),
  cost_usd: Schema.NullOr(Schema.Number)
})
const decodeInsight = Schema.decodeUnknownEither(InsightLine, { onExcessProperty: "error" })
const decodeConversation = Schema.decodeUnknownEither(ConversationInput)

const fixtureLines = (name: string) => readFileSync(fixture(name), "utf8").split("\n").filter((line) => line.trim() !== "")

const work = mkdtempSync(join(tmpdir(), "insightd-cli-stages-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe("insightd validate", () => {
  it("writes the valid lines as JSONL with ids, reports each bad line with its number and field on stderr, exits 1", async () => {
    const result = await runCli(["validate"], { input: { file: fixture("mixed.jsonl") } })
    expect(result.code).toBe(1)
    const out = jsonLines(result)
    expect(out).toHaveLength(4)
    for (const line of out) expect(Either.isRight(decodeConversation(line)), JSON.stringify(line)).toBe(true)
    // Client ids are kept; a missing one is assigned as the daemon does (conv_ + ULID).
    expect(out.map((line) => line.id)).toEqual(["conv_mx01", expect.stringMatching(/^conv_[0-9A-HJKMNP-TV-Z]{26}$/), "conv_mx07", "conv_mx11"])
    // Unknown content is kept as submitted (the messages thread, not a derived text).
    expect(out[3]).toEqual(JSON.parse(fixtureLines("mixed.jsonl")[9]))

    // Lines 3 (not JSON), 4 (author), 6 (timestamp), 8 (array), 9 (id), 10 (empty messages); line 5 is blank.
    expect(rejectedLines(result).sort((a, b) => a - b)).toEqual([3, 4, 6, 8, 9, 10])
    const reason = (line: number) => String(result.logs.find((log) => log.line === line)?.reason)
    expect(reason(3)).toContain("not valid JSON")
    expect(reason(4)).toContain("author")
    expect(reason(6)).toContain("timestamp")
    expect(reason(9)).toContain("id")
    expect(reason(10)).toContain("messages")
    expect(result.stderr).not.toMatch(/\n\s+at /) // no stack trace
  })

  it("refuses a line that is not valid UTF-8 by its number, and reads CRLF lines and a last line without a newline", async () => {
    const file = join(work, "not-utf8.jsonl")
    const line = (author: string, text: string) => `{"author":"${author}","timestamp":"2024-05-01T12:00:00Z","text":"${text}"}`
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from(`${line("@a", "café ☕ fine")}\r\n`),
        Buffer.from(`{"author":"@b","timestamp":"2024-05-01T12:00:00Z","text":"bad `),
        Buffer.from([0xff, 0xfe]),
        Buffer.from(`"}\r\n\n${line("@c", "last line, no newline")}`)
      ])
    )
    const result = await runCli(["validate"], { input: { file } })
    expect(result.code).toBe(1)
    expect(jsonLines(result).map((out) => [out.author, out.text])).toEqual([
      ["@a", "café ☕ fine"],
      ["@c", "last line, no newline"]
    ])
    expect(rejectedLines(result)).toEqual([2])
    expect(String(result.logs.find((log) => log.line === 2)?.reason)).toBe("not valid UTF-8 (JSON must be UTF-8)")
  })

  it("exits 0 when every line is valid, and its output validates again unchanged", async () => {
    const first = await runCli(["validate"], { input: { file: fixture("conversations.jsonl") } })
    expect(first.code).toBe(0)
    expect(rejectedLines(first)).toEqual([])
    expect(first.lines).toHaveLength(12)
    const second = await runCli(["validate"], { input: first.stdout })
    expect(second.code).toBe(0)
    expect(second.lines).toEqual(first.lines)
  })
})

describe("insightd analyze", () => {
  it("writes one insight per conversation in the API's shape, without a database", async () => {
    const dbPath = join(work, "never-created.sqlite")
    const result = await runCli(["analyze"], { input: { file: fixture("conversations.jsonl") }, env: { INSIGHTD_DB: dbPath } })
    expect(result.code).toBe(0)
    const insights = jsonLines(result)
    expect(insights).toHaveLength(12)
    for (const insight of insights) {
      const decoded = decodeInsight(insight)
      expect(Either.isRight(decoded), JSON.stringify(insight)).toBe(true)
      expect(insight.analyzer).toBe("local:lexicon-v1")
    }
    expect(new Set(insights.map((insight) => insight.conversation_id))).toEqual(new Set(fixtureLines("conversations.jsonl").map((line) => JSON.parse(line).id)))
    const byId = new Map(insights.map((insight) => [insight.conversation_id, insight]))
    expect(byId.get("conv_fx01")?.sentiment).toBe("negative")
    expect(byId.get("conv_fx02")?.sentiment).toBe("positive")
    // The conversation's timestamp is normalised to UTC, as the API shows it.
    expect(byId.get("conv_fx02")?.timestamp).toBe("2024-05-01T07:30:00.000Z")
    expect(existsSync(dbPath)).toBe(false)
  })

  it("reports bad lines by number, still analyses the good ones, exits 1", async () => {
    const result = await runCli(["analyze"], { input: { file: fixture("mixed.jsonl") } })
    expect(result.code).toBe(1)
    expect(jsonLines(result).map((insight) => Either.isRight(decodeInsight(insight)))).toEqual([true, true, true, true])
    expect(rejectedLines(result).sort((a, b) => a - b)).toEqual([3, 4, 6, 8, 9, 10])
  })

  it("an id met again: the same content is not analysed twice, different content is refused by line; each insight is its own line's", async () => {
    const line = (fields: Record<string, unknown>) => JSON.stringify({ id: "conv_twice", author: "@dup", timestamp: "2024-05-01T00:00:00Z", ...fields })
    const ordinary = Array.from({ length: 300 }, (_, i) => JSON.stringify({ id: `conv_between_${i}`, author: "@o", timestamp: "2024-05-01T00:00:00Z", text: `order ${i} is late` }))
    const input = [
      line({ text: "I love it, thank you" }),
      ...ordinary,
      line({ text: "I hate it, totally broken" }),
      // The first line's content in another key order and time zone: a resubmission.
      JSON.stringify({ text: "I love it, thank you", timestamp: "2024-05-01T02:00:00+02:00", author: "@dup", id: "conv_twice" })
    ].join("\n")
    const result = await runCli(["analyze"], { input })
    expect(result.code).toBe(1)
    expect(rejectedLines(result)).toEqual([302])
    expect(result.stderr).toContain("conversation conv_twice already appeared on line 1 with different content")
    const twice = jsonLines(result).filter((insight) => insight.conversation_id === "conv_twice")
    expect(twice).toHaveLength(1)
    expect(twice[0]).toMatchObject({ text: "I love it, thank you", sentiment: "positive" })
    expect(jsonLines(result)).toHaveLength(301)
    expect(result.logs.find((log) => log.message === "analyze finished")).toMatchObject({ analyzed: 301, rejected: 1, resubmitted: 1 })
  })

  it("--log-level (listed in every command's help) sets what is logged, over INSIGHTD_LOG_LEVEL", async () => {
    const input = `${fixtureLines("conversations.jsonl")[0]}\n{"broken\n`
    const quiet = await runCli(["validate", "--log-level", "none"], { input, env: { INSIGHTD_LOG_LEVEL: "debug" } })
    expect(quiet.code).toBe(1) // still a reject
    expect(quiet.stderr).toBe("")
    expect(quiet.stdout.trim().split("\n")).toHaveLength(1)
    const errorsOnly = await runCli(["validate", "--log-level=error"], { input })
    expect(errorsOnly.logs.map((log) => log.level)).toEqual(["error"])
    const everything = await runCli(["validate"], { input })
    expect(everything.logs.map((log) => log.level)).toContain("warn") // the rejected line, by default
    // `warn`, as INSIGHTD_LOG_LEVEL spells it, is understood on the command line too.
    for (const args of [["--log-level", "warn"], ["--log-level=warn"]]) {
      const warnings = await runCli(["validate", ...args], { input, env: { INSIGHTD_LOG_LEVEL: "debug" } })
      expect(warnings.code).toBe(1)
      expect(warnings.stdout.trim().split("\n")).toHaveLength(1)
      expect(new Set(warnings.logs.map((log) => log.level))).toEqual(new Set(["warn", "error"]))
    }
  })

  it("stops with exit status 78 on a bad configuration, naming the variable", async () => {
    const result = await runCli(["analyze"], { input: fixtureLines("conversations.jsonl")[0], env: { INSIGHTD_ANALYZER: "magic" } })
    expect(result.code).toBe(78)
    expect(result.stdout).toBe("")
    expect(result.stderr).toContain("INSIGHTD_ANALYZER")
  })
})

describe("validate | analyze", () => {
  it("gives the same insights as the daemon for the same input", async () => {
    const out = join(work, "insights.jsonl")
    const piped = await runShell(`insightd validate < '${fixture("conversations.jsonl")}' | insightd analyze > '${out}'`)
    expect(piped.code).toBe(0)
    const fromPipeline = readFileSync(out, "utf8").split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(fromPipeline).toHaveLength(12)

    const daemon = await startDaemon()
    try {
      const response = await fetch(`${daemon.baseUrl}/api/v1/conversations/bulk`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body: readFileSync(fixture("conversations.jsonl"), "utf8")
      })
      expect(response.status).toBe(202)
      let fromDaemon: Array<Record<string, unknown>> = []
      const deadline = Date.now() + 30_000
      while (fromDaemon.length < 12 && Date.now() < deadline) {
        const page = (await (await fetch(`${daemon.baseUrl}/api/v1/insights?limit=1000`)).json()) as { insights: Array<Record<string, unknown>> }
        fromDaemon = page.insights
        if (fromDaemon.length < 12) await new Promise((wait) => setTimeout(wait, 100))
      }
      expect(fromDaemon).toHaveLength(12)
      const essentials = (insight: Record<string, unknown>) => ({
        conversation_id: insight.conversation_id,
        timestamp: insight.timestamp,
        author: insight.author,
        text: insight.text,
        sentiment_score: insight.sentiment_score,
        sentiment: insight.sentiment,
        confidence: insight.confidence,
        clusters: insight.clusters,
        reasoning: insight.reasoning,
        analyzer: insight.analyzer
      })
      const byId = (list: Array<Record<string, unknown>>) => [...list].sort((a, b) => String(a.conversation_id).localeCompare(String(b.conversation_id))).map(essentials)
      expect(byId(fromPipeline)).toEqual(byId(fromDaemon))
    } finally {
      expect(await daemon.stop()).toBe(0)
      daemon.cleanup()
    }
  })
})

describe("validate | store, then analyze | store", () => {
  it("leaves each conversation as the daemon does after one analysis: completed, attempts 1, with its insight", async () => {
    const dbPath = join(work, "piped-store.db")
    const result = await runShell(
      `insightd validate < '${fixture("conversations.jsonl")}' | tee '${work}/valid.jsonl' | insightd analyze > '${work}/analyzed.jsonl' && ` +
        `INSIGHTD_DB='${dbPath}' insightd store < '${work}/valid.jsonl' && INSIGHTD_DB='${dbPath}' insightd store < '${work}/analyzed.jsonl'`
    )
    expect(result.code, result.stderr).toBe(0)
    const db = new Database(dbPath, { readonly: true, fileMustExist: true })
    try {
      const rows = db.prepare("SELECT c.status, c.attempts, i.conversation_id IS NOT NULL AS has_insight FROM conversations c LEFT JOIN insights i ON i.conversation_id = c.id").all()
      expect(rows).toHaveLength(12)
      expect(new Set(rows.map((row) => JSON.stringify(row)))).toEqual(new Set([JSON.stringify({ status: "completed", attempts: 1, has_insight: 1 })]))
    } finally {
      db.close()
    }
  })
})

describe("insightd analyze with Grok", () => {
  it("uses Grok when XAI_API_KEY is set, and stops with exit 78 (configuration) instead of waiting when the key is rejected", async () => {
    const fake = await startFakeGrok({ apiKey: "right-key" })
    try {
      const env = { XAI_BASE_URL: fake.baseUrl, INSIGHTD_GROK_PROBE_INTERVAL_MS: "60000" }
      const good = await runCli(["analyze"], { input: { file: fixture("conversations.jsonl") }, env: { ...env, XAI_API_KEY: "right-key" } })
      expect(good.code).toBe(0)
      const insights = jsonLines(good)
      expect(insights).toHaveLength(12)
      for (const insight of insights) {
        expect(Either.isRight(decodeInsight(insight)), JSON.stringify(insight)).toBe(true)
        expect(String(insight.analyzer)).toMatch(/^grok:/)
        expect(insight.sentiment_score).toBe(expectedFor(String(insight.conversation_id)).sentiment_score)
      }
      expect(good.stderr).not.toContain("right-key")

      const refused = await runCli(["analyze"], { input: { file: fixture("conversations.jsonl") }, env: { ...env, XAI_API_KEY: "wrong-key" } })
      expect(refused.code).toBe(78)
      expect(refused.stdout).toBe("")
      expect(refused.stderr).toContain("grok_unauthorized: grok rejected the API key")
      expect(refused.stderr).not.toContain("wrong-key")
      // One reason for the run, not a misleading one per line, and no daemon wording.
      expect(rejectedLines(refused)).toEqual([])
      expect(refused.stderr).not.toContain("did not finish")
      expect(refused.stderr).not.toContain("stay pending")
    } finally {
      await fake.close()
    }
  })
})

describe("stage commands whose stdout cannot be written", () => {
  it("a full disk (/dev/full) fails the command with one line naming it, not a stack trace", async () => {
    for (const command of ["validate", "analyze"]) {
      const result = await runShell(`insightd ${command} < "${fixture("conversations.jsonl")}" > /dev/full`)
      expect(result.code, command).toBe(1)
      expect(result.stderr, command).not.toMatch(/\n\s+at |node:internal|throw /)
      expect(result.logs.find((log) => log.level === "error")?.message, command).toBe("cannot write to stdout (ENOSPC: no space left on device, write)")
    }
  })
})

describe("stage commands whose stdin cannot be read", () => {
  it("a directory as stdin fails the command naming it, instead of reading as empty input", async () => {
    for (const command of ["validate", "analyze", "import-csv -", "ingest --url http://127.0.0.1:9"]) {
      const result = await runShell(`insightd ${command} < /`)
      expect(result.code, command).toBe(1)
      expect(result.stdout, command).toBe("")
      expect(result.logs.some((log) => log.level === "error" && String(log.message).includes("cannot read stdin: it is a directory (EISDIR)")), command).toBe(true)
    }
  })
})

describe("stage commands stopped by a signal", () => {
  /**
   * Starts `args` with stdin left open (the command is mid-input), feeds it `lines`, and once
   * `ready(stdout)` holds (polled), sends `signal`; resolves with the exit code and the logs.
   */
  const stopHalfWay = (
    args: ReadonlyArray<string>,
    lines: ReadonlyArray<string>,
    ready: (stdout: string, stderr: string) => boolean,
    signal: NodeJS.Signals,
    env: Record<string, string> = {}
  ) =>
    new Promise<{ code: number | null; logs: Array<Record<string, unknown>> }>((resolve, reject) => {
      const child = spawn(process.execPath, [mainJs, ...args], { env: cliEnv(env), stdio: ["pipe", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8")
      child.stdout.on("data", (chunk: string) => (stdout += chunk))
      child.stderr.setEncoding("utf8")
      child.stderr.on("data", (chunk: string) => (stderr += chunk))
      child.stdin.write(`${lines.join("\n")}\n`)
      const poll = setInterval(() => {
        if (ready(stdout, stderr)) {
          clearInterval(poll)
          child.kill(signal)
        }
      }, 100)
      const timer = setTimeout(() => {
        clearInterval(poll)
        child.kill("SIGKILL")
        reject(new Error(`no exit within 30 s:\n${stderr.slice(-2000)}`))
      }, 30_000)
      child.on("exit", (code) => {
        clearInterval(poll)
        clearTimeout(timer)
        resolve({ code, logs: parseLogs(stderr) })
      })
    })
  const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: `conv_sig_${i}`, author: "@s", timestamp: "2024-05-01T00:00:00Z", text: `refund ${i} missing` }))
  const outputLines = (stdout: string) => stdout.split("\n").filter((line) => line !== "").length

  it("store: SIGTERM mid-input exits 143 and says how many it stored", async () => {
    const dir = mkdtempSync(join(tmpdir(), "insightd-signal-"))
    const dbPath = join(dir, "s.db")
    const storedRows = () => {
      if (!existsSync(dbPath)) return 0
      const db = new Database(dbPath, { readonly: true, fileMustExist: true })
      try {
        return Number((db.prepare("SELECT COUNT(*) AS n FROM conversations").get() as { n: number }).n)
      } catch {
        return 0 // not migrated yet
      } finally {
        db.close()
      }
    }
    try {
      const result = await stopHalfWay(["store"], lines, () => storedRows() === 50, "SIGTERM", { INSIGHTD_DB: dbPath })
      expect(result.code).toBe(143)
      expect(result.logs.find((log) => log.message === "store interrupted")).toMatchObject({ stored: 50, rejected: 0 })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  // import-csv must read the whole file before it can emit a thread (replies come before their
  // parents): stopped while reading, it must not wait for the input to end (stdin left open here).
  it("import-csv: SIGINT while it reads an open stdin exits 130 at once with its counts", async () => {
    const csv = [
      "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id",
      "1,alice,True,Tue Oct 31 22:10:47 +0000 2017,my parcel is late,2,",
      "2,AcmeSupport,False,Tue Oct 31 22:12:00 +0000 2017,sorry to hear that,,1"
    ]
    const started = Date.now()
    const result = await stopHalfWay(["import-csv", "--progress-every", "1", "-"], csv, (_, stderr) => parseLogs(stderr).some((log) => log.message === "import-csv progress" && log.phase === "reading"), "SIGINT")
    expect(result.code).toBe(130)
    expect(result.logs.find((log) => log.message === "import-csv interrupted")).toMatchObject({ threads: 0, rejected: 0 })
    expect(Date.now() - started).toBeLessThan(15_000)
  })

  it("validate and analyze: SIGINT mid-input exits 130 with their counts", async () => {
    const validated = await stopHalfWay(["validate"], lines, (stdout) => outputLines(stdout) === 50, "SIGINT")
    expect(validated.code).toBe(130)
    expect(validated.logs.find((log) => log.message === "validate interrupted")).toMatchObject({ valid: 50, rejected: 0 })
    const analyzed = await stopHalfWay(["analyze"], lines, (stdout) => outputLines(stdout) === 50, "SIGINT")
    expect(analyzed.code).toBe(130)
    expect(analyzed.logs.find((log) => log.message === "analyze interrupted")).toMatchObject({ analyzed: 50, rejected: 0 })
  })
})
