// Summarises a V8 .cpuprofile (node --cpu-prof): self time aggregated by function + url (+ line),
// and by package (node_modules/<pkg>, src/…, node:internal, GC, idle).
//
//   node bench/cpuprofile-summary.mjs <file.cpuprofile> [--top=25] [--json=out.json] [--from=ms] [--to=ms]
// (--from/--to: only samples that many ms after the profile's start, e.g. to leave start-up out)
import fs from "node:fs"
import path from "node:path"
import { REPO, parseArgs } from "./lib.mjs"

/** `window`: { fromMs, toMs } after the profile's start: only samples inside count (e.g. the load). */
export const summariseProfile = (file, top = 25, window = undefined) => {
  const profile = JSON.parse(fs.readFileSync(file, "utf8"))
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  // Self time per node: the time delta of each sample is attributed to the node it hit.
  const selfUs = new Map()
  const { samples, timeDeltas } = profile
  const times = []
  let t = profile.startTime
  for (const delta of timeDeltas) times.push((t += delta))
  const inWindow = (i) => window === undefined || ((times[i] - profile.startTime) / 1000 >= window.fromMs && (times[i] - profile.startTime) / 1000 <= window.toMs)
  let counted = 0
  for (let i = 0; i < samples.length; i++) {
    if (!inWindow(i)) continue
    counted++
    // timeDeltas[i] is the time since the previous sample; it belongs to sample i-1's node
    // (V8 convention used by Chrome DevTools: delta of the NEXT sample closes this one).
    const delta = timeDeltas[i + 1] ?? 0
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, delta))
  }
  const shortUrl = (url) => {
    if (!url) return ""
    let p = url.replace(/^file:\/\//, "")
    if (p.startsWith(REPO)) p = path.relative(REPO, p)
    return p
  }
  const packageOf = (name, url) => {
    if (name === "(garbage collector)") return "(garbage collector)"
    if (name === "(idle)") return "(idle)"
    if (name === "(program)") return "(program)"
    if (name === "(root)") return "(root)"
    const u = shortUrl(url)
    if (u === "") return "(native / V8 builtins)"
    if (u.startsWith("node:")) return "node: internals"
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)
    if (m) return m[1]
    if (u.startsWith("dist/")) return `insightd ${u.split("/").slice(0, 2).join("/")}`
    return u
  }
  const byFunction = new Map()
  const byPackage = new Map()
  let total = 0
  let idle = 0
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    const { functionName, url, lineNumber } = node.callFrame
    const name = functionName || "(anonymous)"
    total += us
    if (name === "(idle)") idle += us
    const key = `${name}\t${shortUrl(url)}${url ? `:${lineNumber + 1}` : ""}`
    byFunction.set(key, (byFunction.get(key) ?? 0) + us)
    const pkg = packageOf(name, url)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us)
  }
  const busy = total - idle
  const rows = (map, n) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, us]) => {
        const [fn, where] = key.split("\t")
        return { function: fn, where: where ?? "", ms: Number((us / 1000).toFixed(1)), pctOfTotal: Number(((100 * us) / total).toFixed(2)), pctOfBusy: fn === "(idle)" ? null : Number(((100 * us) / busy).toFixed(2)) }
      })
  return {
    file,
    totalMs: Number((total / 1000).toFixed(1)),
    idleMs: Number((idle / 1000).toFixed(1)),
    busyMs: Number((busy / 1000).toFixed(1)),
    samples: counted,
    window: window ?? null,
    topFunctions: rows(byFunction, top),
    byPackage: rows(byPackage, 30)
  }
}

export const printSummary = (summary) => {
  const w = summary.window ? ` in the window ${(summary.window.fromMs / 1000).toFixed(1)}–${(summary.window.toMs / 1000).toFixed(1)} s after start` : ""
  console.log(`profile ${summary.file}: ${summary.samples} samples${w}, ${summary.totalMs} ms, busy ${summary.busyMs} ms (idle ${summary.idleMs} ms)`)
  console.log(`\ntop ${summary.topFunctions.length} by self time (% of busy = total − idle):`)
  console.log("   %busy  %total      ms  function  (where)")
  for (const r of summary.topFunctions) {
    console.log(`  ${r.pctOfBusy === null ? "     - " : r.pctOfBusy.toFixed(2).padStart(6)}  ${r.pctOfTotal.toFixed(2).padStart(6)}  ${String(r.ms).padStart(6)}  ${r.function}  ${r.where}`)
  }
  console.log("\nby package / area:")
  for (const r of summary.byPackage) console.log(`  ${r.pctOfBusy === null ? "     - " : r.pctOfBusy.toFixed(2).padStart(6)}  ${r.pctOfTotal.toFixed(2).padStart(6)}  ${String(r.ms).padStart(6)}  ${r.function}`)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = parseArgs()
  const file = process.argv.slice(2).find((a) => !a.startsWith("--"))
  if (!file) {
    console.error("usage: node bench/cpuprofile-summary.mjs <file.cpuprofile> [--top=25] [--json=out.json]")
    process.exit(2)
  }
  const window = args.from !== undefined || args.to !== undefined ? { fromMs: Number(args.from ?? 0), toMs: Number(args.to ?? Infinity) } : undefined
  const summary = summariseProfile(file, Number(args.top ?? 25), window)
  printSummary(summary)
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(summary, null, 2))
}
