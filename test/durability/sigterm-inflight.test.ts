/**
 * SPEC §5 "Graceful shutdown" for HTTP requests that are in flight when SIGTERM arrives: a
 * submission whose body is still arriving was admitted before draining started, so it must be
 * finished (committed, 202) or refused (503, nothing stored), and the daemon must still exit 0
 * within the grace period. A client that stalls mid-upload must not keep the daemon alive either.
 * Raw sockets make the timing deterministic: the headers (and so the admission check) go out
 * well before the signal, the rest of the body after draining has started.
 */
import net from "node:net"
import { describe, expect, it } from "vitest"
import { conversation, spawnDaemon, withDb } from "../support/child.js"

const GRACE_MS = 1500

interface RawClient {
  readonly socket: net.Socket
  /** Everything received so far. */
  readonly received: () => string
  readonly closed: Promise<void>
}

const connect = async (port: number): Promise<RawClient> => {
  const socket = net.connect(port, "127.0.0.1")
  await new Promise<void>((resolveConnect, rejectConnect) => {
    socket.once("connect", resolveConnect)
    socket.once("error", rejectConnect)
  })
  let received = ""
  socket.on("data", (chunk) => (received += chunk.toString("utf8")))
  socket.on("error", () => undefined) // a reset shows as `closed` with nothing received
  const closed = new Promise<void>((done) => socket.once("close", () => done()))
  return { socket, received: () => received, closed }
}

const statusLine = (raw: string): number | null => {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(raw)
  return match === null ? null : Number(match[1])
}

const rowCount = (dbPath: string, id: string) =>
  withDb(dbPath, (db) => (db.prepare("SELECT COUNT(*) AS n FROM conversations WHERE id = ?").get(id) as { n: number }).n)

describe("SIGTERM with HTTP submissions in flight", () => {
  it("a POST whose body is still arriving at SIGTERM is answered (202 and stored, or 503 and not stored) and the daemon exits 0 in time", async () => {
    const daemon = await spawnDaemon({ env: { INSIGHTD_RATE_LIMIT: "0", INSIGHTD_GRACE_PERIOD_MS: String(GRACE_MS) } })
    const client = await connect(daemon.port)
    try {
      const body = JSON.stringify(conversation({ id: "conv_inflight_upload" }))
      client.socket.write(
        `POST /api/v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`
      )
      await new Promise((r) => setTimeout(r, 300)) // admitted (not draining), now reading the body
      expect(client.received()).toBe("")

      const stopping = daemon.stop("SIGTERM", GRACE_MS + 3500).then(
        (stopped) => stopped,
        (error: Error) => error
      )
      await daemon.waitForLog((l) => l.message === "shutdown: sources stopped, draining", 5000, "draining to start")
      client.socket.write(body.slice(10)) // the upload completes during the drain
      const stopped = await stopping
      await Promise.race([client.closed, new Promise((r) => setTimeout(r, 1000))])

      const status = statusLine(client.received())
      const stored = rowCount(daemon.dbPath, "conv_inflight_upload")
      // Report everything at once: how the daemon ended, what the client heard, what was stored.
      expect({
        exit: stopped instanceof Error ? stopped.message.split("\n")[0] : { code: stopped.code, signal: stopped.signal, inTime: stopped.ms < GRACE_MS + 3000 },
        answered: status === 202 || status === 503,
        storedIffAccepted: stored === (status === 202 ? 1 : 0)
      }).toEqual({ exit: { code: 0, signal: null, inTime: true }, answered: true, storedIffAccepted: true })
    } finally {
      client.socket.destroy()
      if (daemon.isRunning()) daemon.proc.kill("SIGKILL")
    }
  }, 20_000)

  it("a client stalled mid-upload does not keep the daemon alive past the grace period", async () => {
    const daemon = await spawnDaemon({ env: { INSIGHTD_RATE_LIMIT: "0", INSIGHTD_GRACE_PERIOD_MS: String(GRACE_MS) } })
    const client = await connect(daemon.port)
    try {
      const body = JSON.stringify(conversation({ id: "conv_stalled_upload" }))
      client.socket.write(
        `POST /api/v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`
      )
      await new Promise((r) => setTimeout(r, 300))
      // The rest of the body never comes.
      const stopped = await daemon.stop("SIGTERM", GRACE_MS + 3500).then(
        (s) => ({ code: s.code, signal: s.signal, inTime: s.ms < GRACE_MS + 3000 }),
        (error: Error) => error.message.split("\n")[0]
      )
      expect(stopped).toEqual({ code: 0, signal: null, inTime: true })
      expect(rowCount(daemon.dbPath, "conv_stalled_upload")).toBe(0)
      const status = statusLine(client.received())
      expect(status === null || status === 503).toBe(true)
    } finally {
      client.socket.destroy()
      if (daemon.isRunning()) daemon.proc.kill("SIGKILL")
    }
  }, 20_000)
})
