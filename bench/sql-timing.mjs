// Preload (node --import) that times every better-sqlite3 statement run, grouped by SQL text, and
// writes the totals at exit (SQL_TIMING_OUT, default /tmp/insightd-sql-timing.txt): total ms,
// count, slowest. Found that COMMIT, not the statements, set a backlog's pace (persist-insight).
//   PROFILE_IMPORT=./bench/sql-timing.mjs node bench/profile.mjs --scenario=backlog
import Database from "better-sqlite3"
import fs from "node:fs"

const statementPrototype = Object.getPrototypeOf(new Database(":memory:").prepare("SELECT 1"))
const totals = new Map()
for (const method of ["run", "all", "get"]) {
  const original = statementPrototype[method]
  statementPrototype[method] = function (...params) {
    const started = process.hrtime.bigint()
    try {
      return original.apply(this, params)
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      const key = this.source.replace(/\s+/g, " ").slice(0, 110)
      const total = totals.get(key) ?? { count: 0, ms: 0, maxMs: 0 }
      total.count++
      total.ms += ms
      total.maxMs = Math.max(total.maxMs, ms)
      totals.set(key, total)
    }
  }
}
process.on("exit", () => {
  const lines = [...totals]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, 30)
    .map(([sql, t]) => `${t.ms.toFixed(0).padStart(7)} ms ${String(t.count).padStart(7)}× max ${t.maxMs.toFixed(1).padStart(6)} ms  ${sql}`)
  fs.writeFileSync(process.env.SQL_TIMING_OUT ?? "/tmp/insightd-sql-timing.txt", `${lines.join("\n")}\n`)
})
