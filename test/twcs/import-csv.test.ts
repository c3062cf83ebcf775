/**
 * `insightd import-csv` as a real child process of the built dist/main.js: stdout is pure JSONL of
 * conversations, rejects are line-numbered on stderr with exit status 1, and `--store` writes a real
 * SQLite file where a re-import stores nothing twice.
 */
import { Schema } from "effect"
import { spawn } from "node:child_process"
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { generateTwcs } from "../../bench/gen-twcs.mjs"
import { ConversationInput } from "../../src/domain/conversation.js"
import { repoRoot, withDb } from "../support/child.js"

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const importCsv = (args: ReadonlyArray<string>, env: Record<string, string> = {}, stdinFile?: string): Promise<Run> =>
  new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [join(repoRoot, "dist/main.js"), "import-csv", ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", HOME: dir, INSIGHTD_LOG_FORMAT: "json", ...env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    proc.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    proc.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    proc.on("error", reject)
    proc.on("close", (code) => resolve({ code, stdout, stderr }))
    if (stdinFile !== undefined) proc.stdin.end(readFileSync(stdinFile))
    else proc.stdin.end()
  })

const decode = Schema.decodeUnknownSync(ConversationInput)
const logLines = (stderr: string) => stderr.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Record<string, unknown>)

let dir: string
let file: string
let threads: number
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "insightd-import-csv-"))
  file = join(dir, "twcs.csv")
  const truth = (await generateTwcs({ tweets: 5_000, out: file, seed: 3, keepTruth: true })) as { threads: ReadonlyArray<unknown> }
  threads = truth.threads.length
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("insightd import-csv", () => {
  it("writes one conversation per thread as pure JSONL and exits 0", async () => {
    const run = await importCsv([file])
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split("\n")
    expect(lines).toHaveLength(threads)
    const ids = new Set(lines.map((line) => decode(JSON.parse(line)).id))
    expect(ids.size).toBe(threads)
    // stderr is log lines only, the last one the summary.
    const logs = logLines(run.stderr)
    expect(logs.at(-1)).toMatchObject({ message: "import-csv finished", threads, rejected: 0 })
  })

  it("reads stdin when FILE is -, with the same output", async () => {
    const fromFile = await importCsv([file])
    const fromStdin = await importCsv(["-"], {}, file)
    expect(fromStdin.code).toBe(0)
    expect(fromStdin.stdout).toBe(fromFile.stdout)
  })

  it("reports a malformed row on stderr with its line number, keeps going, and exits 1", async () => {
    const bad = join(dir, "bad.csv")
    await generateTwcs({ tweets: 500, out: bad, seed: 5 })
    // The file ends with a newline: the appended row's physical line is the count of "\n" + 1.
    const appendedLine = readFileSync(bad, "utf8").split("\n").length
    appendFileSync(bad, "999999,somebody,Maybe,Tue Oct 31 22:10:47 +0000 2017,hello,,\n")
    const run = await importCsv([bad])
    expect(run.code).toBe(1)
    const rejects = logLines(run.stderr).filter((l) => String(l.message).includes("rejected:"))
    expect(rejects).toHaveLength(1)
    expect(rejects[0]).toMatchObject({ line: expect.any(Number) })
    expect(String(rejects[0].reason)).toContain("inbound")
    expect(rejects[0].line).toBe(appendedLine)
    expect(String(rejects[0].message)).toContain(`line ${rejects[0].line}`)
    // Every good row still came out.
    for (const line of run.stdout.trimEnd().split("\n")) decode(JSON.parse(line))
    expect(run.stdout.trimEnd().split("\n").length).toBeGreaterThan(50)
  })

  it("names every row it leaves out, with the right line, and skips blank lines: stray quotes, bytes that are not UTF-8, an unclosed quote", async () => {
    const header = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    const row = (id: number, text: string, inbound = "True") => `${id},cust${id},${inbound},Tue Oct 31 22:10:47 +0000 2017,${text},,\n`
    const write = (name: string, parts: ReadonlyArray<string | Buffer>) => {
      const path = join(dir, name)
      writeFileSync(path, Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part) : part))))
      return path
    }
    const odd = write("odd.csv", [
      header, // line 1
      row(1, "fine"), // 2
      "\n", // 3: blank, not a row
      row(2, 'x "a" y "b" z "c"'), // 4: stray quotes (csv-parse reports this row six times)
      row(3, "after the stray quotes"), // 5
      Buffer.concat([Buffer.from("4,cust4,True,Tue Oct 31 22:10:47 +0000 2017,bad "), Buffer.from([0xff, 0xfe]), Buffer.from(" bytes,,\n")]), // 6
      row(5, "caf\u00e9 and \u20ac and \u{1f600}"), // 7: multi-byte, valid
      row(6, "maybe", "Maybe"), // 8: a bad inbound value
      "\n\n" // 9, 10: blank
    ])
    const run = await importCsv([odd])
    expect(run.code).toBe(1)
    const rejects = logLines(run.stderr).filter((l) => String(l.message).includes("rejected:"))
    expect(rejects.map((r) => r.line)).toEqual([4, 6, 8])
    expect(String(rejects[1].reason)).toContain("not valid UTF-8")
    expect(String(rejects[2].reason)).toContain("inbound")
    const ids = run.stdout.trimEnd().split("\n").map((line) => (JSON.parse(line) as { id: string }).id)
    expect(ids.sort()).toEqual(["conv_twcs_1", "conv_twcs_3", "conv_twcs_5"])
    expect(run.stdout).toContain("caf\u00e9 and \u20ac and \u{1f600}")
    expect(logLines(run.stderr).find((l) => l.message === "import-csv finished")).toMatchObject({ rows: 6, rejected: 3 })

    // A quote that is never closed swallows the rest of the file: the reject names those lines.
    const unclosed = write("unclosed.csv", [header, row(1, "fine"), row(2, '"opened here'), row(3, "swallowed"), row(4, "swallowed too")])
    const swallowed = await importCsv([unclosed])
    expect(swallowed.code).toBe(1)
    const [reject] = logLines(swallowed.stderr).filter((l) => String(l.message).includes("rejected:"))
    expect(reject.line).toBe(3)
    expect(String(reject.reason)).toMatch(/lines 3-5 are left out/)
  })

  it("keeps multi-byte characters whole across read chunks (no false UTF-8 rejects in a multi-megabyte file)", async () => {
    const header = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    // 3- and 4-byte characters everywhere, so the 1 MiB read chunks end inside some of them.
    const text = "\u20ac\u{1f600}\u00e9".repeat(200)
    const rows = Array.from({ length: 6_000 }, (_, i) => `${i + 1},cust${i},True,Tue Oct 31 22:10:47 +0000 2017,${text},,\n`)
    const wide = join(dir, "wide.csv")
    writeFileSync(wide, header + rows.join(""))
    const run = await importCsv([wide])
    expect(run.code, run.stderr.slice(-1000)).toBe(0)
    expect(logLines(run.stderr).at(-1)).toMatchObject({ message: "import-csv finished", rows: 6_000, rejected: 0, threads: 6_000 })
  })

  it("exits 1 naming the problem when the file is not a twcs file", async () => {
    const run = await importCsv([join(dir, "missing.csv")])
    expect(run.code).toBe(1)
    expect(run.stdout).toBe("")
    expect(run.stderr).toContain("missing.csv")
  })

  it("--store with a file refused whole (not twcs, empty) exits 1 and creates no database", async () => {
    const notTwcs = join(dir, "not-twcs.csv")
    writeFileSync(notTwcs, "a,b,c\n1,2,3\n")
    const empty = join(dir, "empty.csv")
    writeFileSync(empty, "")
    for (const input of [notTwcs, empty]) {
      const db = join(dir, "never-created.db")
      const run = await importCsv([input, "--store"], { INSIGHTD_DB: db })
      expect(run.code, input).toBe(1)
      expect(existsSync(db), input).toBe(false)
    }
  })

  it("exits 78 on bad configuration", async () => {
    const run = await importCsv([file, "--store"], { INSIGHTD_LOG_LEVEL: "loud" })
    expect(run.code).toBe(78)
    expect(run.stderr).toContain("INSIGHTD_LOG_LEVEL")
  })

  it("--store writes every thread into SQLite, and a re-import stores nothing twice", async () => {
    const db = join(dir, "store.db")
    const first = await importCsv([file, "--store"], { INSIGHTD_DB: db })
    expect(first.code).toBe(0)
    expect(first.stdout).toBe("")
    const count = () => withDb(db, (sqlite) => (sqlite.prepare("SELECT COUNT(*) AS n FROM conversations WHERE id LIKE 'conv_twcs_%'").get() as { n: number }).n)
    expect(count()).toBe(threads)
    expect(logLines(first.stderr).at(-1)).toMatchObject({ stored: threads, resubmitted: 0 })
    const second = await importCsv([file, "--store"], { INSIGHTD_DB: db })
    expect(second.code).toBe(0)
    expect(count()).toBe(threads)
    expect(logLines(second.stderr).at(-1)).toMatchObject({ stored: 0, resubmitted: threads })
    const stored = withDb(db, (sqlite) => sqlite.prepare("SELECT author, messages, status FROM conversations LIMIT 1").get() as { author: string; messages: string; status: string })
    expect(stored.status).toBe("pending")
    expect(JSON.parse(stored.messages).length).toBeGreaterThan(0)
  })
})
