import Database from "better-sqlite3"
import { mkdtempSync, rmSync } from "node:fs"
import { type AddressInfo, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { startDaemon, waitFor } from "../support/server.js"

describe("stdin source", () => {
  it("feeds JSONL lines into the pipeline; bad lines are logged with their number and skipped; EOF keeps the daemon up", async () => {
    const daemon = await startDaemon({ stdin: "pipe" })
    const lines = [
      JSON.stringify({ id: "conv_stdin_1", author: "@a", timestamp: "2024-05-01T12:00:00Z", text: "My order still hasn't arrived" }),
      "{ this is not json",
      "",
      JSON.stringify({ id: "conv_stdin_2", timestamp: "2024-05-01T12:00:00Z", text: "no author here" }),
      JSON.stringify({
        id: "conv_stdin_3",
        author: "@b",
        timestamp: "2024-05-01T12:00:00Z",
        messages: [{ author: "@b", text: "Thanks, you fixed it!", timestamp: "2024-05-01T12:00:00Z" }]
      }),
      JSON.stringify({ id: "conv_stdin_4", author: "@c", timestamp: "someday", text: "hello" }),
      JSON.stringify({ id: "conv_stdin_5", author: "@d", timestamp: "2024-05-02", text: "on hold for two hours" })
    ]
    daemon.child.stdin!.end(lines.join("\n") + "\n")
    try {
      await waitFor(() => daemon.logs().some((l) => l.message === "source closed" && l.source === "stdin"), 10_000, "stdin to close")
      const rejected = daemon.logs().filter((l) => l.message === "stdin line rejected")
      expect(rejected.map((l) => l.line)).toEqual([2, 4, 6])
      expect(String(rejected[0].reason)).toMatch(/JSON/)
      expect(String(rejected[1].reason)).toMatch(/author/)
      expect(String(rejected[2].reason)).toMatch(/timestamp/)
      await waitFor(async () => {
        const statuses = await Promise.all(
          ["conv_stdin_1", "conv_stdin_3", "conv_stdin_5"].map(async (id) => ((await (await fetch(`${daemon.baseUrl}/api/v1/conversations/${id}`)).json()) as { status?: string }).status)
        )
        return statuses.every((s) => s === "completed")
      }, 15_000, "stdin conversations to be analysed")
      const db = new Database(daemon.dbPath, { readonly: true })
      expect(db.prepare("SELECT COUNT(*) AS n FROM conversations").get()).toEqual({ n: 3 })
      db.close()
      expect((await fetch(`${daemon.baseUrl}/health`)).status).toBe(200)
      expect(daemon.child.exitCode).toBeNull()
    } finally {
      expect(await daemon.stop()).toBe(0)
    }
  })

  it("does not read stdin when it is not a pipe or file", async () => {
    const daemon = await startDaemon({ stdin: "ignore" })
    try {
      expect((await fetch(`${daemon.baseUrl}/health`)).status).toBe(200)
      expect(daemon.logs().some((l) => l.source === "stdin")).toBe(false)
    } finally {
      expect(await daemon.stop()).toBe(0)
    }
  })

  it("a bad configuration value stops start-up with one message naming it", async () => {
    await expect(startDaemon({ env: { INSIGHTD_PORT: "eighty" } })).rejects.toThrow(/INSIGHTD_PORT/)
  })

  it("a database whose directory cannot be created stops start-up at once, saying why", async () => {
    // The kernel refuses any new directory under /proc with ENOENT; Node's recursive mkdir spun on it forever.
    await expect(startDaemon({ dbPath: "/proc/insightd-test/db.sqlite" })).rejects.toThrow(
      /database \/proc\/insightd-test\/db.sqlite: cannot create its directory \(ENOENT/
    )
    // A path SQLite cannot open (here a directory) is named too, not only "unable to open database file".
    const directory = mkdtempSync(join(tmpdir(), "insightd-dbdir-"))
    await expect(startDaemon({ dbPath: directory })).rejects.toThrow(`StoreError: database ${directory}: cannot open it (unable to open database file)`)
    rmSync(directory, { recursive: true, force: true })
  })

  it("the chosen port is logged even when only warnings are (INSIGHTD_PORT=0, INSIGHTD_LOG_LEVEL=warn)", async () => {
    // startDaemon learns the port from the "http listening" line, so starting at all shows it.
    const daemon = await startDaemon({ env: { INSIGHTD_LOG_LEVEL: "warn" } })
    try {
      expect(daemon.logs().filter((line) => line.message === "http listening")).toHaveLength(1)
      expect(daemon.logs().filter((line) => line.level === "info" && line.message !== "http listening")).toEqual([])
    } finally {
      expect(await daemon.stop()).toBe(0)
      daemon.cleanup()
    }
  })

  it("a port already in use stops start-up with a message naming the address and the setting", async () => {
    const taken = createServer()
    await new Promise<void>((listening) => taken.listen(0, "127.0.0.1", listening))
    const port = (taken.address() as AddressInfo).port
    try {
      await expect(startDaemon({ env: { INSIGHTD_PORT: String(port) } })).rejects.toThrow(
        `cannot listen on 127.0.0.1:${port}: the port is already in use by another process (EADDRINUSE); see INSIGHTD_HOST / INSIGHTD_PORT`
      )
    } finally {
      taken.close()
    }
  })
})
