/**
 * The daemon's stdin source (SPEC §1, §8, §10), against the real process: JSONL lines on a pipe
 * (or a redirected file) become conversations and get analysed; bad lines are logged with their
 * 1-based line number and a reason naming the field, and skipped; the end of stdin closes only
 * that source. With stdin on /dev/null the daemon does not read it at all.
 */
import { closeSync, openSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { type ChildDaemon, conversation, freshDbPath, spawnDaemon, waitUntil, withDb } from "../support/child.js"

interface Line {
  readonly text: string
  /** Good lines: the conversation id it must become. Bad lines: a pattern the logged reason must match. */
  readonly id?: string
  readonly reason?: RegExp
}

const ts = "2024-05-01T12:00:00Z"
const thread = [
  { author: "@thread", text: "My order #123 still hasn't arrived", timestamp: "2024-05-01T10:00:00Z", inbound: true },
  { author: "@SupportCo", text: "Sorry! Could you DM us the tracking number?", timestamp: "2024-05-01T10:05:00Z", inbound: false },
  { author: "@thread", text: "Sent it, thanks", timestamp: "2024-05-01T10:07:00Z", inbound: true }
]

const script: ReadonlyArray<Line> = [
  /* 1 */ { text: JSON.stringify({ id: "conv_in_1", author: "@a", timestamp: ts, text: "My package still hasn't arrived after three weeks" }), id: "conv_in_1" },
  /* 2 */ { text: "" },
  /* 3 */ { text: '{"author": "@b", "timestamp": "2024-05-01T12:00:00Z", "text": "unterminated', reason: /JSON/ },
  /* 4 */ { text: JSON.stringify({ id: "conv_in_thread", author: "@thread", timestamp: ts, messages: thread }), id: "conv_in_thread" },
  /* 5 */ { text: "   \t " },
  /* 6 */ { text: JSON.stringify({ id: "conv_in_noauthor", timestamp: ts, text: "no author on this one" }), reason: /author/ },
  /* 7 */ { text: JSON.stringify({ id: "conv_in_badtime", author: "@c", timestamp: "yesterday at noon", text: "bad timestamp" }), reason: /timestamp/ },
  /* 8 */ { text: JSON.stringify({ id: "conv_in_2", author: "@d", timestamp: "2024-05-02", text: "I was charged twice, please refund", metadata: { channel: "email" } }), id: "conv_in_2" },
  /* 9 */ { text: JSON.stringify({ id: "conv_in_notext", author: "@e", timestamp: ts }), reason: /text/ },
  /* 10 */ { text: JSON.stringify({ id: "conv_in_badmsg", author: "@f", timestamp: ts, messages: [{ author: "@f", timestamp: "not a date", text: "hi" }] }), reason: /messages\.0\.timestamp/ },
  /* 11 */ { text: "" },
  /* 12 */ { text: JSON.stringify({ id: "conv_in_1", author: "@a", timestamp: ts, text: "different content for an existing id" }), reason: /conv_in_1.*different content/ },
  /* 13 */ { text: JSON.stringify({ id: "conv_in_3", author: "@g", timestamp: "2024-05-03T08:30:00+02:00", text: "Thanks, the replacement works great!" }), id: "conv_in_3" },
  // The last line has no trailing newline: end of input ends it.
  /* 14 */ { text: JSON.stringify({ id: "conv_in_last", author: "@h", timestamp: ts, text: "Been on hold for two hours" }), id: "conv_in_last" }
]

/** The thread as stored and served: timestamps normalised to UTC ISO-8601 (SPEC §3). */
const storedThread = thread.map((m) => ({ ...m, timestamp: new Date(m.timestamp).toISOString() }))

const good = script.flatMap((line, i) => (line.id !== undefined ? [{ ...line, id: line.id, number: i + 1 }] : []))
const bad = script.flatMap((line, i) => (line.reason !== undefined ? [{ ...line, reason: line.reason, number: i + 1 }] : []))

const statusOf = async (daemon: ChildDaemon, id: string): Promise<string> => {
  const response = await fetch(`${daemon.baseUrl}/api/v1/conversations/${id}`)
  return response.status === 200 ? String(((await response.json()) as { status: string }).status) : `http ${response.status}`
}

const allCompleted = (daemon: ChildDaemon, ids: ReadonlyArray<string>) => async () =>
  (await Promise.all(ids.map((id) => statusOf(daemon, id)))).every((s) => s === "completed")

describe("stdin source", () => {
  it("feeds JSONL from a pipe: good lines analysed, bad lines logged with line number and field, daemon stays up after EOF", async () => {
    const daemon = await spawnDaemon({ stdin: "pipe" })
    try {
      await daemon.waitForLog((l) => l.message === "source opened" && l.source === "stdin", 10_000, "stdin source opened")
      // Written in pieces that split lines (and a JSON value) in the middle, as a real pipe may.
      const input = script.map((line) => line.text).join("\n")
      const cuts = [0, 37, 38, 200, 455, 456, 900, input.length]
      for (let i = 1; i < cuts.length; i++) {
        daemon.proc.stdin!.write(input.slice(cuts[i - 1], cuts[i]))
        await new Promise((r) => setTimeout(r, 20))
      }
      daemon.proc.stdin!.end()

      const closed = await daemon.waitForLog((l) => l.message === "source closed" && l.source === "stdin", 10_000, "stdin source closed")
      expect({ accepted: closed.accepted, rejected: closed.rejected }).toEqual({ accepted: good.length, rejected: bad.length })

      const rejected = daemon.logsWith("stdin line rejected")
      expect(rejected.map((l) => l.line).sort((a, b) => Number(a) - Number(b))).toEqual(bad.map((b) => b.number))
      for (const expected of bad) {
        const entry = rejected.find((l) => l.line === expected.number)!
        expect(entry.source).toBe("stdin")
        expect(String(entry.reason), `line ${expected.number}`).toMatch(expected.reason)
      }
      expect(daemon.logsWith("stdin line not stored")).toEqual([])

      // Every good line is a conversation, stored as given; nothing else is stored.
      withDb(daemon.dbPath, (db) => {
        const rows = db.prepare("SELECT id, text, author, timestamp, messages, metadata, raw FROM conversations ORDER BY seq").all() as Array<Record<string, string | null>>
        expect(rows.map((r) => r.id).sort()).toEqual(good.map((g) => g.id).sort())
        for (const g of good) expect(rows.find((r) => r.id === g.id)!.raw, g.id).toBe(g.text)
        const threadRow = rows.find((r) => r.id === "conv_in_thread")!
        expect(threadRow.text).toBe(thread.map((m) => m.text).join("\n"))
        expect(JSON.parse(threadRow.messages!)).toEqual(storedThread)
        expect(rows.find((r) => r.id === "conv_in_1")!.text).toBe("My package still hasn't arrived after three weeks")
        expect(rows.find((r) => r.id === "conv_in_2")!.timestamp).toBe("2024-05-02T00:00:00.000Z")
        expect(JSON.parse(rows.find((r) => r.id === "conv_in_2")!.metadata!)).toEqual({ channel: "email" })
        expect(rows.find((r) => r.id === "conv_in_3")!.timestamp).toBe("2024-05-03T06:30:00.000Z")
      })

      await waitUntil(allCompleted(daemon, good.map((g) => g.id)), 15_000, "the stdin conversations to be analysed")
      const threadView = (await (await fetch(`${daemon.baseUrl}/api/v1/conversations/conv_in_thread`)).json()) as {
        messages: unknown
        insight: { analyzer: string; clusters: Array<string> } | null
      }
      expect(threadView.messages).toEqual(storedThread)
      expect(threadView.insight?.analyzer).toMatch(/^local:/)
      expect(threadView.insight?.clusters.length).toBeGreaterThan(0)

      // stdin is over; the daemon is not: it still serves and ingests over HTTP.
      expect(daemon.isRunning()).toBe(true)
      expect((await fetch(`${daemon.baseUrl}/health`)).status).toBe(200)
      const posted = await fetch(`${daemon.baseUrl}/api/v1/conversations`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(conversation({ id: "conv_after_eof" }))
      })
      expect(posted.status).toBe(202)
      await waitUntil(allCompleted(daemon, ["conv_after_eof"]), 10_000, "the HTTP conversation after EOF to be analysed")
      expect(daemon.logsWith("source closed").filter((l) => l.source === "http")).toEqual([])

      const stopped = await daemon.stop("SIGTERM", 15_000)
      expect(stopped).toMatchObject({ code: 0, signal: null })
    } finally {
      if (daemon.isRunning()) daemon.proc.kill("SIGKILL")
    }
  })

  it("reads a regular file given as stdin (`insightd serve < file.jsonl`)", async () => {
    const dbPath = freshDbPath()
    const file = join(dbPath, "..", "input.jsonl")
    writeFileSync(file, `${script.map((line) => line.text).join("\n")}\n`)
    const fd = openSync(file, "r")
    let daemon: ChildDaemon | undefined
    try {
      daemon = await spawnDaemon({ dbPath, stdin: fd })
      const closed = await daemon.waitForLog((l) => l.message === "source closed" && l.source === "stdin", 10_000, "stdin source closed")
      expect({ accepted: closed.accepted, rejected: closed.rejected }).toEqual({ accepted: good.length, rejected: bad.length })
      expect(
        daemon
          .logsWith("stdin line rejected")
          .map((l) => l.line)
          .sort((a, b) => Number(a) - Number(b))
      ).toEqual(bad.map((b) => b.number))
      await waitUntil(allCompleted(daemon, good.map((g) => g.id)), 15_000, "the file's conversations to be analysed")
      expect((await fetch(`${daemon.baseUrl}/health`)).status).toBe(200)
      expect((await daemon.stop("SIGTERM", 15_000)).code).toBe(0)
    } finally {
      closeSync(fd)
      if (daemon?.isRunning()) daemon.proc.kill("SIGKILL")
    }
  })

  it("SIGINT while stdin is still open: lines read so far are kept, exit 0, and the stdin source is logged closed", async () => {
    const daemon = await spawnDaemon({ stdin: "pipe" })
    try {
      await daemon.waitForLog((l) => l.message === "source opened" && l.source === "stdin", 10_000, "stdin source opened")
      daemon.proc.stdin!.write(`${JSON.stringify(conversation({ id: "conv_open_1" }))}\n{ broken\n${JSON.stringify(conversation({ id: "conv_open_2", text: "Thanks for the quick fix!" }))}\n`)
      await waitUntil(allCompleted(daemon, ["conv_open_1", "conv_open_2"]), 10_000, "the lines written so far to be analysed")
      expect(daemon.logsWith("stdin line rejected").map((l) => l.line)).toEqual([2])
      // The producer keeps stdin open (e.g. `tail -f events.jsonl | insightd serve`); the operator presses ^C.
      const stopped = await daemon.stop("SIGINT", 15_000)
      expect(stopped).toMatchObject({ code: 0, signal: null })
      expect(stopped.ms).toBeLessThan(5000)
      withDb(daemon.dbPath, (db) => {
        expect(db.prepare("SELECT id, status FROM conversations ORDER BY id").all()).toEqual([
          { id: "conv_open_1", status: "completed" },
          { id: "conv_open_2", status: "completed" }
        ])
      })
      const messages = daemon.logs().map((l) => l.message)
      expect(messages).toContain("shutdown: complete")
      // SPEC §10: "source opened/closed" are log events; the HTTP source logs its closing on drain, stdin must too.
      const stdinClosed = daemon.logs().filter((l) => l.message === "source closed" && l.source === "stdin")
      expect(stdinClosed).toHaveLength(1)
      expect(stdinClosed[0]).toMatchObject({ accepted: 2, rejected: 1 })
      // Both sources open and close under the same event names.
      for (const source of ["http", "stdin"]) {
        for (const message of ["source opened", "source closed"]) expect(daemon.logs().filter((l) => l.message === message && l.source === source), `${message} ${source}`).toHaveLength(1)
      }
    } finally {
      if (daemon.isRunning()) daemon.proc.kill("SIGKILL")
    }
  })

  it("with stdin on /dev/null it does not read stdin and serves normally", async () => {
    const daemon = await spawnDaemon({ stdin: "ignore" })
    try {
      await daemon.waitForLog((l) => l.message === "insightd ready", 10_000, "insightd ready")
      expect((await fetch(`${daemon.baseUrl}/health`)).status).toBe(200)
      const posted = await fetch(`${daemon.baseUrl}/api/v1/conversations`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(conversation({ id: "conv_devnull_1" }))
      })
      expect(posted.status).toBe(202)
      await waitUntil(allCompleted(daemon, ["conv_devnull_1"]), 10_000, "the HTTP conversation to be analysed")
      // Give a (wrong) stdin reader time to show itself: /dev/null would hit EOF at once.
      await new Promise((r) => setTimeout(r, 300))
      expect(daemon.logs().filter((l) => l.source === "stdin")).toEqual([])
      expect(daemon.isRunning()).toBe(true)
      const stopped = await daemon.stop("SIGTERM", 15_000)
      expect(stopped).toMatchObject({ code: 0, signal: null })
      expect(daemon.logs().filter((l) => l.source === "stdin")).toEqual([])
    } finally {
      if (daemon.isRunning()) daemon.proc.kill("SIGKILL")
    }
  })
})
