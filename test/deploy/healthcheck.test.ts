/**
 * The Docker HEALTHCHECK script (deploy/healthcheck.mjs) finds the daemon where the daemon itself
 * listens: INSIGHTD_HOST / INSIGHTD_PORT, else the config file's http.host / http.port.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { type ChildDaemon, repoRoot, spawnDaemon } from "../support/child.js"

const daemons: Array<ChildDaemon> = []
afterEach(async () => {
  for (const daemon of daemons.splice(0)) if (daemon.isRunning()) await daemon.stop()
})

const healthcheck = (env: Record<string, string>) =>
  new Promise<number>((resolve) => {
    const child = execFile(process.execPath, [join(repoRoot, "deploy/healthcheck.mjs")], { cwd: mkdtempSync(join(tmpdir(), "insightd-hc-")), env: { PATH: process.env.PATH ?? "", ...env } })
    child.on("exit", (code) => resolve(code ?? -1))
  })

describe("Docker healthcheck", () => {
  it("reaches a daemon bound to one address, given by INSIGHTD_HOST or by the config file", async () => {
    // 127.0.0.2 is loopback too, but not where a check of 127.0.0.1 would look.
    const daemon = await spawnDaemon({ env: { INSIGHTD_HOST: "127.0.0.2" } })
    daemons.push(daemon)
    const port = String(daemon.port)
    expect(await healthcheck({ INSIGHTD_HOST: "127.0.0.2", INSIGHTD_PORT: port })).toBe(0)
    const config = join(mkdtempSync(join(tmpdir(), "insightd-hc-config-")), "config.json")
    writeFileSync(config, JSON.stringify({ http: { host: "127.0.0.2", port: daemon.port } }))
    expect(await healthcheck({ INSIGHTD_CONFIG: config })).toBe(0)
    // Looking on 127.0.0.1 finds nothing there: unhealthy.
    expect(await healthcheck({ INSIGHTD_HOST: "127.0.0.1", INSIGHTD_PORT: port })).toBe(1)
  })
})
