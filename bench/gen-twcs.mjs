#!/usr/bin/env node
// Deterministic generator of twcs.csv-shaped files (Kaggle "Customer Support on Twitter"), with
// every trap of the real file: quoted text with commas, quotes and newlines (LF and CRLF),
// `response_tweet_id` comma lists (branching threads), `in_response_to_tweet_id` written as
// pandas floats (`123.0`), replies listed before their parents, threads interleaved in the file,
// parents held back far down the file, missing parents, cycles (one of three tweets and a
// self-reply) and several companies. Writes as it goes, so 2.8 M tweets need little memory.
//
// CLI:    node bench/gen-twcs.mjs --tweets=200000 --out=twcs.csv [--truth=truth.json] [--seed=42]
// Module: import { generateTwcs } from "./bench/gen-twcs.mjs"; await generateTwcs({ tweets, out, truth })
//
// Ground truth (threads): one per root the importer must find: root tweet id, size, tweet ids in
// real time order, the customer (inbound author) and the company.
import fs from "node:fs"
import { once } from "node:events"
import { fileURLToPath } from "node:url"
import { prng } from "./lib.mjs"

export const HEADER = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id"

const COMPANIES = ["AppleSupport", "AmazonHelp", "Uber_Support", "SpotifyCares", "sprintcare", "comcastcares", "Delta", "VirginTrains"]

const CUSTOMER_OPENERS = [
  "my order still hasn't arrived, it was due 3 days ago",
  "why was I charged twice for the same subscription?? this is ridiculous",
  "the app keeps crashing every time I open it, since the update",
  "thanks so much, the replacement arrived today and works great!",
  "my flight got cancelled and nobody at the desk can tell me anything",
  "I've been on hold for 45 minutes, \"your call is important to us\" my foot",
  "can't log in, it says \"password incorrect\" but I just reset it",
  "love the new playlist feature, great job 🎉",
  "internet has been down all day, again. third time this week",
  "the driver took a weird route and I was charged $38, can you check?",
  "how do I change the delivery address on an order that's already shipped?",
  "my battery drains in like 2 hours, it's a brand new phone 😡"
]

const CUSTOMER_REPLIES = [
  "I did, twice. Still nothing",
  "ok, sent you a DM",
  "that worked, thank you!",
  "no, that didn't help at all",
  "it's version 11.1, on wifi and on 4G",
  "order number is in the DM, please hurry",
  "Still waiting...\nanyone?",
  "fine, I'll try that, but this is the \"last\" time",
  "yes, the refund shows now 👍",
  "seriously? that's your answer?"
]

const COMPANY_REPLIES = [
  "We're sorry to hear that. Can you DM us your order number, and we'll look into it?",
  "Hi there, thanks for reaching out! Let's get this sorted: which version are you on?",
  "We understand how frustrating that is. Please send us a DM with your account email.\n^JK",
  "Glad to hear it! If there's anything else, we're here 24/7.",
  "Could you try restarting the device, then signing in again? Let us know how it goes.",
  "We've escalated this to our team, you'll hear back within 24 hours, promise.",
  "Sorry for the wait! Could you confirm the \"last 4 digits\" of the card used?\r\nThanks, -MA",
  "Thanks, we've got your DM and replied there."
]

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
const pad = (n) => String(n).padStart(2, "0")

/** Twitter's format, as in the real file: `Tue Oct 31 22:10:47 +0000 2017`. */
export const twitterDate = (millis) => {
  const d = new Date(millis)
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000 ${d.getUTCFullYear()}`
}


const csvField = (value) => (/[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value)

/**
 * Generates the file; resolves with a summary (and the ground truth when `truth` is a path or
 * `keepTruth` is set). `tweets` is a target: the last thread may overshoot it by a few tweets.
 */
export const generateTwcs = async ({ tweets = 200_000, out, truth = null, seed = 42, keepTruth = false }) => {
  const rand = prng(seed)
  const pick = (list) => list[Math.floor(rand() * list.length)]
  const stream = fs.createWriteStream(out)
  let buffered = []
  let bufferedBytes = 0
  const write = async (line) => {
    buffered.push(line)
    bufferedBytes += line.length
    if (bufferedBytes > 1 << 20) await flush()
  }
  const flush = async () => {
    if (buffered.length === 0) return
    const text = buffered.join("")
    buffered = []
    bufferedBytes = 0
    if (!stream.write(text)) await once(stream, "drain")
  }

  const wantTruth = truth !== null || keepTruth
  const threads = wantTruth ? [] : null
  let nextId = 1
  let written = 0
  let threadCount = 0
  let customers = 0
  let clock = Date.UTC(2017, 9, 1, 0, 0, 0)
  const stats = { cycles: 0, selfReplies: 0, missingParents: 0, branches: 0, heldBack: 0, multiline: 0 }

  /** Plans one thread: tweets with times, authors, parents; ids assigned in planned file order. */
  const planThread = (index) => {
    const company = pick(COMPANIES)
    const customer = String(100_000 + customers++)
    const roll = rand()
    // Sizes shaped like the real file: 2,811,774 tweets, 794,335 of them without a parent, so at
    // most 3.54 tweets per thread. Mostly an exchange of 2..3, fewer of 4..8, now and then dozens;
    // this mix averages 3.5 (sizes of 2..8 throughout averaged 5.4, a third fewer threads per row).
    const size = roll < 0.15 ? 1 : roll < 0.75 ? 2 + Math.floor(rand() * 2) : roll < 0.98 ? 4 + Math.floor(rand() * 5) : 10 + Math.floor(rand() * 30)
    const start = clock + Math.floor(rand() * 600_000)
    clock += Math.floor(rand() * 120_000)
    const nodes = []
    let time = start
    for (let k = 0; k < size; k++) {
      const inbound = k % 2 === 0
      // Branching: a company reply answered twice by the customer (a comma list upstream).
      const parent = k === 0 ? -1 : k >= 3 && rand() < 0.15 ? k - 3 : k - 1
      if (k >= 3 && parent === k - 3) stats.branches++
      let text = inbound ? (k === 0 ? pick(CUSTOMER_OPENERS) : pick(CUSTOMER_REPLIES)) : pick(COMPANY_REPLIES)
      text = inbound ? `@${company} ${text}` : `@${customer} ${text}`
      if (text.includes("\n")) stats.multiline++
      nodes.push({ k, author: inbound ? customer : company, inbound, text, time, parent, children: [] })
      time += 1_000 + Math.floor(rand() * 900_000)
    }
    // Alternation must hold for a branch reply too: a reply's author is the other side.
    for (const node of nodes) {
      if (node.parent >= 0 && nodes[node.parent].inbound === node.inbound) {
        node.inbound = !node.inbound
        node.author = node.inbound ? customer : company
        node.text = node.inbound ? `@${company} ${pick(CUSTOMER_REPLIES)}` : `@${customer} ${pick(COMPANY_REPLIES)}`
      }
      if (node.parent >= 0) nodes[node.parent].children.push(node.k)
    }
    // File order: newest first (as in the real file), with some local shuffling.
    const order = nodes.map((n) => n.k).reverse()
    for (let i = 0; i + 1 < order.length; i++) if (rand() < 0.2) [order[i], order[i + 1]] = [order[i + 1], order[i]]
    for (const k of order) nodes[k].id = nextId++
    let rootParentId = null
    let kind = "plain"
    const special = rand()
    if (index > 0 && special < 0.01) {
      // The root replies to a tweet that is not in the file (deleted, or outside the crawl).
      rootParentId = nextId++
      kind = "missing-parent"
      stats.missingParents++
    } else if (index > 0 && special < 0.012 && size >= 3) {
      // A cycle: the root "replies" to the third tweet, so 0 → 2 → 1 → 0.
      rootParentId = nodes[2].id
      kind = "cycle"
      stats.cycles++
    } else if (index > 0 && special < 0.013) {
      rootParentId = nodes[0].id
      kind = "self-reply"
      stats.selfReplies++
    }
    if (kind === "cycle") nodes[2].children.push(0)
    const rows = order.map((k) => {
      const node = nodes[k]
      const parentId = k === 0 ? rootParentId : nodes[node.parent].id
      const responses = node.children.map((c) => nodes[c].id).join(",")
      return (
        [
          String(node.id),
          node.author,
          node.inbound ? "True" : "False",
          twitterDate(node.time),
          csvField(node.text),
          csvField(responses),
          parentId === null ? "" : `${parentId}.0`
        ].join(",") + "\n"
      )
    })
    if (threads !== null) {
      // A cycle's root is its smallest tweet id; otherwise the tweet without a present parent.
      const cycleIds = kind === "cycle" ? [nodes[0].id, nodes[1].id, nodes[2].id] : []
      const root = kind === "cycle" ? Math.min(...cycleIds) : nodes[0].id
      threads.push({
        root: String(root),
        size,
        tweet_ids: [...nodes].sort((a, b) => a.time - b.time || a.id - b.id).map((n) => String(n.id)),
        author: customer,
        company,
        kind
      })
    }
    return rows
  }

  await write(`${HEADER}\n`)
  // A few threads are open at once and their rows interleave; now and then a row is held back
  // and written thousands of rows later (a parent far below its replies).
  const open = []
  const heldBack = []
  const OPEN_THREADS = 4
  while (written < tweets || open.length > 0 || heldBack.length > 0) {
    while (open.length < OPEN_THREADS && written + open.reduce((n, rows) => n + rows.length, 0) < tweets) {
      open.push(planThread(threadCount++))
    }
    if (open.length === 0) {
      const late = heldBack.shift()
      await write(late.row)
      written++
      continue
    }
    const slot = Math.floor(rand() * open.length)
    const row = open[slot].shift()
    if (open[slot].length === 0) open.splice(slot, 1)
    if (rand() < 0.002) {
      heldBack.push({ row, due: written + 2_000 + Math.floor(rand() * 5_000) })
      stats.heldBack++
    } else {
      await write(row)
      written++
    }
    while (heldBack.length > 0 && heldBack[0].due <= written) {
      await write(heldBack.shift().row)
      written++
    }
  }
  await flush()
  stream.end()
  await once(stream, "finish")

  const summary = { file: out, tweets: written, threads: threadCount, seed, companies: COMPANIES.length, ...stats }
  const groundTruth = threads === null ? null : { ...summary, threads }
  if (truth !== null) fs.writeFileSync(truth, JSON.stringify(groundTruth))
  return keepTruth ? groundTruth : summary
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = Object.fromEntries(
    process.argv.slice(2).flatMap((arg) => {
      const m = /^--([^=]+)=(.*)$/.exec(arg)
      return m ? [[m[1], m[2]]] : []
    })
  )
  if (args.out === undefined) {
    process.stderr.write("usage: node bench/gen-twcs.mjs --tweets=200000 --out=file.csv [--truth=truth.json] [--seed=42]\n")
    process.exit(2)
  }
  const summary = await generateTwcs({
    tweets: Number(args.tweets ?? 200_000),
    out: args.out,
    truth: args.truth ?? null,
    seed: Number(args.seed ?? 42)
  })
  process.stderr.write(`${JSON.stringify(summary)}\n`)
}
