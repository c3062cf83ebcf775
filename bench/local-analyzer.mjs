// Benchmark for the embedded local analyzer (src/analyzer/local).
//
//   npm run build && node bench/local-analyzer.mjs [--quick]
//
// Accuracy: the UCI sentiment sentences shipped as fixtures of the `sentiment`
// package (amazon, imdb, yelp; 1,000 labelled sentences each, label 0/1) and our
// own hand-written sets. Prediction = sign of sentimentScore; a score of
// exactly 0 (no cue at all) counts as WRONG, for both analyzers.
// Plain AFINN = `new Sentiment().analyze(text).score`, same rule.
//
// Throughput: synthetic ~200-char support messages, one core, after warm-up.
import { spawnSync } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import Sentiment from "sentiment"
import { LOCAL_ANALYZER_NAME, makeLocalAnalyzer } from "../dist/analyzer/local/lexicon.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const fixtureDir = path.join(path.dirname(require.resolve("sentiment/package.json")), "test", "fixtures")

const loadFixture = (name) =>
  JSON.parse(fs.readFileSync(path.join(fixtureDir, `${name}.json`), "utf8")).map((item) => ({
    text: item.text,
    label: item.class
  }))
const loadOwnSet = (file) =>
  fs
    .readFileSync(path.join(here, "data", file), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line))

const polarity = (score) => (score > 0 ? 1 : score < 0 ? 0 : -1) // -1 = neutral = wrong

const t0 = performance.now()
const analyzer = makeLocalAnalyzer()
const loadMs = performance.now() - t0
const afinn = new Sentiment()

const evaluate = (name, items) => {
  let local = 0
  let plain = 0
  let localZero = 0
  let plainZero = 0
  for (const { text, label } of items) {
    const localPrediction = polarity(analyzer.analyze(text).sentimentScore)
    const plainPrediction = polarity(afinn.analyze(text).score)
    if (localPrediction === label) local++
    if (plainPrediction === label) plain++
    if (localPrediction === -1) localZero++
    if (plainPrediction === -1) plainZero++
  }
  const n = items.length
  return { file: name, n, local: local / n, afinn: plain / n, localZero: localZero / n, afinnZero: plainZero / n }
}

const rows = ["amazon", "imdb", "yelp"].map((name) => evaluate(name, loadFixture(name)))
// Own hand-written sets: tuning (rules were adjusted on it) and hold-out (never tuned on).
const tuning = evaluate("own tuning set", loadOwnSet("tuning-set.jsonl"))
const holdout = evaluate("own hold-out set", loadOwnSet("holdout-set.jsonl"))
const ownSets = [tuning, holdout]

// ~200-char support messages built deterministically from fragments.
const openers = [
  "Hi there,", "Hello,", "Hey team,", "Good morning,", "Dear support,", "Hi,", "Quick question:", "Ugh."
]
const bodies = [
  "my package still hasn't arrived after 3 weeks and the tracking page shows nothing new since Monday.",
  "I was charged twice for my order #48213 and I can't find any way to get the extra payment refunded.",
  "I've been on hold for 2 hours and nobody picked up, this is a complete waste of time honestly.",
  "the app crashes every time I open the settings page on my Android phone after the latest update.",
  "thanks so much, the agent fixed it in five minutes and was really friendly and patient with me!",
  "I can't log in to my account since yesterday, the password reset link never arrives in my inbox.",
  "the blender works perfectly and delivery was faster than expected, very happy with the purchase.",
  "could you tell me whether the premium plan includes priority support and how billing works?",
  "the wifi keeps dropping every few minutes and the router lights are blinking orange all the time.",
  "please cancel my subscription and delete my personal data, I don't want marketing emails anymore."
]
const details = [
  "I already tried restarting everything twice and logging out and in again, no luck so far.",
  "This is the second time this month it has happened to me, and last time it took days to fix.",
  "My order number is in the previous email I sent you last week, together with the receipt.",
  "The chat agent said someone would call me back today, but I haven't heard anything yet.",
  "I have been a customer for years and never had anything like this happen before, honestly.",
  "Honestly the product itself is great when it works, which makes this even more annoying.",
  "I'd appreciate a quick answer because I need it for work tomorrow morning, first thing."
]
const closers = [
  "Thanks.", "Please help!", "Regards, Sam", "This is unacceptable.", "Cheers", "Any update?", "😡", "🙏"
]
const supportTexts = []
for (let i = 0; i < 400; i++) {
  supportTexts.push(
    `${openers[i % openers.length]} ${bodies[(i * 7) % bodies.length]} ${details[(i * 5) % details.length]} ${closers[(i * 3) % closers.length]}`
  )
}
const meanChars = supportTexts.reduce((sum, text) => sum + text.length, 0) / supportTexts.length

// --quick (the smoke run of `npm run bench -- --quick`): one short round.
const quick = process.argv.includes("--quick")
const WARM_UP = 2_000
const MEASURED = quick ? 5_000 : 20_000
const ROUNDS = quick ? 1 : 3
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
/** Analyses per second of `analyze` over the support texts, after a warm-up. */
const timeAnalyses = (analyze) => {
  for (let i = 0; i < WARM_UP; i++) analyze(supportTexts[i % supportTexts.length])
  let checksum = 0
  const started = performance.now()
  for (let i = 0; i < MEASURED; i++) checksum += analyze(supportTexts[i % supportTexts.length])
  const elapsedMs = performance.now() - started
  return { perSecond: MEASURED / (elapsedMs / 1000), elapsedMs, checksum }
}
// The reference run alongside: bare AFINN (`sentiment`) over the same texts, rounds alternating.
const localRounds = []
const afinnRounds = []
for (let round = 0; round < ROUNDS; round++) {
  localRounds.push(timeAnalyses((text) => analyzer.analyze(text).sentimentScore))
  afinnRounds.push(timeAnalyses((text) => afinn.analyze(text).score))
}
const perSecond = median(localRounds.map((r) => r.perSecond))
const afinnPerSecond = median(afinnRounds.map((r) => r.perSecond))
const elapsedMs = MEASURED / (perSecond / 1000)
const checksum = localRounds[0].checksum

// Cold-vocabulary pass: a fresh analyzer over all fixture sentences (~3,000 mostly unseen
// review sentences), so every new word pays its one-time wink/stem look-up.
const fixtureTexts = ["amazon", "imdb", "yelp"].flatMap((name) => loadFixture(name).map((item) => item.text))
const coldAnalyzer = makeLocalAnalyzer()
const coldStarted = performance.now()
for (const text of fixtureTexts) coldAnalyzer.analyze(text)
const coldPerSecond = fixtureTexts.length / ((performance.now() - coldStarted) / 1000)

// The stage command a user runs: `insightd analyze` reading JSONL conversations on stdin and
// writing insights on stdout (validate → batch → analyze, no database), timed from spawn to exit.
const COMMAND_LINES = quick ? 10_000 : 40_000
const commandInput = path.join(os.tmpdir(), `insightd-analyze-bench-${process.pid}.jsonl`)
fs.writeFileSync(
  commandInput,
  Array.from({ length: COMMAND_LINES }, (_, i) => JSON.stringify({ author: `customer-${i % 500}`, timestamp: "2024-05-01T12:00:00Z", text: supportTexts[i % supportTexts.length] })).join("\n") + "\n"
)
const runCommand = () => {
  const started = performance.now()
  const run = spawnSync(process.execPath, [path.join(here, "..", "dist", "main.js"), "analyze"], {
    input: fs.readFileSync(commandInput),
    env: { ...process.env, INSIGHTD_ANALYZER: "local", INSIGHTD_LOG_LEVEL: "warn", XAI_API_KEY: "" },
    maxBuffer: 1 << 30
  })
  const seconds = (performance.now() - started) / 1000
  const lines = run.stdout.toString().split("\n").filter((line) => line !== "").length
  if (run.status !== 0 || lines !== COMMAND_LINES) throw new Error(`insightd analyze: exit ${run.status}, ${lines} insights: ${run.stderr.toString().slice(-500)}`)
  return { seconds, perSecond: COMMAND_LINES / seconds }
}
const commandRounds = Array.from({ length: ROUNDS }, runCommand)
fs.rmSync(commandInput, { force: true })
const commandPerSecond = median(commandRounds.map((r) => r.perSecond))

const pct = (value) => `${(value * 100).toFixed(1)} %`
console.log(`${LOCAL_ANALYZER_NAME} — sign of sentimentScore, exactly 0 counted as wrong\n`)
console.log("| file | insightd local | plain AFINN | n |")
console.log("| --- | ---: | ---: | ---: |")
for (const row of [...rows, ...ownSets]) console.log(`| ${row.file} | ${pct(row.local)} | ${pct(row.afinn)} | ${row.n} |`)
console.log("\nshare scored exactly 0 (counted wrong):")
for (const row of [...rows, ...ownSets]) console.log(`  ${row.file}: local ${pct(row.localZero)}, AFINN ${pct(row.afinnZero)}`)
console.log(
  `\nthroughput: ${Math.round(perSecond).toLocaleString("en-US")} conversations/s on one core ` +
    `(${MEASURED.toLocaleString("en-US")} analyses of ~${Math.round(meanChars)}-char support texts after ${WARM_UP.toLocaleString("en-US")} warm-up; ` +
    `${((elapsedMs * 1000) / MEASURED).toFixed(1)} µs each; model load ${Math.round(loadMs)} ms; checksum ${checksum.toFixed(1)}; median of ${ROUNDS} rounds)`
)
console.log(
  `reference, bare AFINN (sentiment) on the same texts: ${Math.round(afinnPerSecond).toLocaleString("en-US")} conversations/s ` +
    `(ratio ${(perSecond / afinnPerSecond).toFixed(2)}; rounds local ${localRounds.map((r) => Math.round(r.perSecond)).join(", ")}, AFINN ${afinnRounds.map((r) => Math.round(r.perSecond)).join(", ")})`
)
console.log(
  `stage command: insightd analyze < ${COMMAND_LINES.toLocaleString("en-US")} lines > insights, spawn to exit: ` +
    `${Math.round(commandPerSecond).toLocaleString("en-US")} conversations/s (rounds ${commandRounds.map((r) => `${r.seconds.toFixed(2)} s`).join(", ")})`
)
console.log(
  `cold vocabulary: ${Math.round(coldPerSecond).toLocaleString("en-US")} sentences/s on the first pass over ` +
    `${fixtureTexts.length.toLocaleString("en-US")} fixture sentences with a fresh analyzer`
)

const result = {
  analyzer: LOCAL_ANALYZER_NAME,
  rule: "prediction = sign(sentimentScore); 0 counts as wrong (same for plain AFINN score)",
  accuracy: rows,
  tuningSet: tuning,
  holdoutSet: holdout,
  throughput: {
    conversationsPerSecond: Math.round(perSecond),
    afinnConversationsPerSecond: Math.round(afinnPerSecond),
    rounds: localRounds.map((r, i) => ({ local: Math.round(r.perSecond), afinn: Math.round(afinnRounds[i].perSecond) })),
    analyses: MEASURED,
    warmUp: WARM_UP,
    meanChars: Math.round(meanChars),
    microsecondsPerAnalysis: Number(((elapsedMs * 1000) / MEASURED).toFixed(2)),
    modelLoadMs: Math.round(loadMs),
    coldVocabularySentencesPerSecond: Math.round(coldPerSecond)
  },
  command: {
    measure: "insightd analyze (stage command: stdin JSONL → stdout insights, local analyzer), spawn to exit",
    lines: COMMAND_LINES,
    conversationsPerSecond: Math.round(commandPerSecond),
    rounds: commandRounds.map((r) => ({ seconds: Number(r.seconds.toFixed(2)), perSecond: Math.round(r.perSecond) }))
  },
  node: process.version,
  measuredAt: new Date().toISOString()
}
const resultsDir = path.join(here, "results")
fs.mkdirSync(resultsDir, { recursive: true })
fs.writeFileSync(path.join(resultsDir, "local-analyzer.json"), `${JSON.stringify(result, null, 2)}\n`)
console.log(`\nwrote ${path.relative(process.cwd(), path.join(resultsDir, "local-analyzer.json"))}`)
