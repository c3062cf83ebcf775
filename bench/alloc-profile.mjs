// Where the daemon allocates (not just what it retains): V8's sampling heap profiler over the
// inspector protocol, counting objects the GC already collected, for SECONDS while you load it.
// --heap-prof only reports what is still alive at exit, which hides per-request garbage.
//
//   node --inspect=127.0.0.1:9229 dist/main.js serve &   (then put load on it, e.g. wrk)
//   node bench/alloc-profile.mjs 9229 5
//
// Prints MB allocated by function (self), then who allocates the Maps/generators (Effect's
// context copies and Effect.gen steps dominate: see the closing note of issue 6).
import WebSocket from "ws"
const [port, seconds] = [process.argv[2], Number(process.argv[3] ?? 5)]
const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()
const ws = new WebSocket(list[0].webSocketDebuggerUrl)
await new Promise((r) => ws.once("open", r))
let id = 0
const pending = new Map()
ws.on("message", (m) => { const msg = JSON.parse(m); if (pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id) } })
const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })) })
await send("HeapProfiler.enable")
await send("HeapProfiler.startSampling", { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
await new Promise((r) => setTimeout(r, seconds * 1000))
const { result } = await send("HeapProfiler.stopSampling")
const self = new Map()
let total = 0
const byParent = new Map()
const walk = (node, stack) => {
  const f = node.callFrame
  const key = `${f.functionName || "(anon)"} ${f.url.replace(/.*node_modules\//, "").replace(/.*\/dist\//, "dist/")}:${f.lineNumber + 1}`
  const size = node.selfSize
  total += size
  self.set(key, (self.get(key) ?? 0) + size)
  if (/^(set|next|Map) :0$/.test(key)) { const pk = key + " <= " + stack.slice(-3).join(" <= "); byParent.set(pk, (byParent.get(pk) ?? 0) + size) }
  for (const c of node.children) walk(c, [...stack, key])
}
walk(result.profile.head, [])
console.log(`total sampled ${(total / 1e6).toFixed(1)} MB`)
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log((v / 1e6).toFixed(2).padStart(8), "MB", k)
for (const [k, v] of [...byParent].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v / 1e6).toFixed(2).padStart(8), "MB", k)
process.exit(0)
