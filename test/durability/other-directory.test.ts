/**
 * `insightd serve` started outside the project directory (a systemd unit with another
 * WorkingDirectory, `npx insightd serve` elsewhere): with no pipeline configured it runs the
 * package's own pipelines/default.json instead of refusing to start.
 */
import { closeSync, openSync, writeFileSync } from "node:fs"
import { dirname, isAbsolute, join } from "node:path"
import { describe, expect, it } from "vitest"
import { type ChildDaemon, conversation, freshDbPath, repoRoot, spawnDaemon, waitUntil } from "../support/child.js"

describe("started from another directory", () => {
  it("runs the package's default pipeline (HTTP and stdin sources, analysis) and says which file it read", async () => {
    const dbPath = freshDbPath()
    const elsewhere = dirname(dbPath) // a temp dir with no pipelines/ and no config.json
    const input = join(elsewhere, "input.jsonl")
    writeFileSync(input, `${JSON.stringify(conversation({ id: "conv_elsewhere_1" }))}\n`)
    const fd = openSync(input, "r")
    let daemon: ChildDaemon | undefined
    try {
      daemon = await spawnDaemon({ dbPath, stdin: fd, cwd: elsewhere })
      const starting = daemon.logsWith("insightd starting")[0] as { config?: { pipeline_file?: string } } | undefined
      const pipelineFile = String(starting?.config?.pipeline_file)
      expect(isAbsolute(pipelineFile)).toBe(true)
      expect(pipelineFile).toBe(join(repoRoot, "pipelines", "default.json"))
      await waitUntil(
        async () => ((await (await fetch(`${daemon!.baseUrl}/api/v1/conversations/conv_elsewhere_1`)).json()) as { status?: string }).status === "completed",
        15_000,
        "the stdin conversation to be analysed"
      )
      expect((await daemon.stop("SIGTERM", 15_000)).code).toBe(0)
    } finally {
      closeSync(fd)
      if (daemon?.isRunning()) daemon.proc.kill("SIGKILL")
    }
  })

  it("with the shipped config.json named from elsewhere, finds the package's pipeline and logs the database's full path", async () => {
    const dbPath = freshDbPath()
    const elsewhere = dirname(dbPath)
    let daemon: ChildDaemon | undefined
    try {
      // config.json names "pipelines/default.json", relative; the database is given relative too.
      daemon = await spawnDaemon({ dbPath: "relative.db", cwd: elsewhere, env: { INSIGHTD_CONFIG: join(repoRoot, "config.json") } })
      const starting = daemon.logsWith("insightd starting")[0] as { config?: { pipeline_file?: string; database_file?: string } } | undefined
      expect(starting?.config?.pipeline_file).toBe(join(repoRoot, "pipelines", "default.json"))
      expect(starting?.config?.database_file).toBe(join(elsewhere, "relative.db"))
      expect((await daemon.stop("SIGTERM", 15_000)).code).toBe(0)
    } finally {
      if (daemon?.isRunning()) daemon.proc.kill("SIGKILL")
    }
  })
})
