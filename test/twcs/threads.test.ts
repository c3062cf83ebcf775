/**
 * Thread rebuild on generated twcs files, checked against the generator's ground truth: every
 * trap of the real file (quoted text with commas/quotes/newlines, comma lists, replies before
 * parents, parents far below, missing parents, cycles, several companies).
 */
import { Chunk, Effect, Schema, Stream } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { generateTwcs } from "../../bench/gen-twcs.mjs"
import { ConversationInput } from "../../src/domain/conversation.js"
import { type ImportedThread, type ImportEvent, newProgress, twcsImport } from "../../src/twcs/reader.js"

interface TruthThread {
  readonly root: string
  readonly size: number
  readonly tweet_ids: ReadonlyArray<string>
  readonly author: string
  readonly company: string
  readonly kind: string
}
interface Truth {
  readonly tweets: number
  readonly threads: ReadonlyArray<TruthThread>
  readonly cycles: number
  readonly selfReplies: number
  readonly missingParents: number
  readonly branches: number
  readonly heldBack: number
  readonly multiline: number
}

const runImport = (file: string, spillMemoryChars?: number): Promise<ReadonlyArray<ImportEvent>> =>
  Effect.runPromise(twcsImport(file, newProgress(), spillMemoryChars).pipe(Stream.mapConcat((batch) => batch), Stream.runCollect, Effect.map(Chunk.toReadonlyArray)))

const decode = Schema.decodeUnknownSync(ConversationInput)
let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "insightd-twcs-test-"))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("twcs thread rebuild", () => {
  it("finds every generated thread with its size, time order, customer and id", async () => {
    const file = join(dir, "twcs.csv")
    const truth = (await generateTwcs({ tweets: 30_000, out: file, seed: 7, keepTruth: true })) as unknown as Truth
    // The file really holds the traps this test is about.
    expect(truth.cycles).toBeGreaterThan(0)
    expect(truth.selfReplies).toBeGreaterThan(0)
    expect(truth.missingParents).toBeGreaterThan(0)
    expect(truth.branches).toBeGreaterThan(0)
    expect(truth.heldBack).toBeGreaterThan(0)
    expect(truth.multiline).toBeGreaterThan(0)

    const events = await runImport(file)
    expect(events.filter((e) => e._tag === "Rejected")).toEqual([])
    const threads = events as ReadonlyArray<ImportedThread>
    expect(threads.length).toBe(truth.threads.length)
    const byRoot = new Map(threads.map((t) => [t.rootTweetId, t]))
    expect(byRoot.size).toBe(threads.length)
    let tweets = 0
    for (const expected of truth.threads) {
      const got = byRoot.get(expected.root)
      expect(got, `thread rooted at ${expected.root} (${expected.kind})`).toBeDefined()
      const conversation = decode(JSON.parse(got!.json))
      const metadata = conversation.metadata as { tweet_ids: Array<string>; root_tweet_id: string; source: string; companies: Array<string> }
      expect(conversation.id).toBe(`conv_twcs_${expected.root}`)
      expect(got!.size).toBe(expected.size)
      expect(metadata.tweet_ids).toEqual(expected.tweet_ids)
      expect(metadata.source).toBe("twcs")
      // A lone customer tweet has no company reply.
      expect(metadata.companies).toEqual(expected.size > 1 ? [expected.company] : [])
      expect(conversation.author).toBe(expected.author)
      const times = conversation.messages!.map((m) => m.timestamp)
      expect([...times].sort()).toEqual(times)
      expect(conversation.timestamp).toBe(times[0])
      expect(conversation.text).toBe(conversation.messages!.map((m) => m.text).join("\n"))
      tweets += expected.size
    }
    expect(tweets).toBe(truth.tweets)
  })

  it("keeps quoted commas, quotes and newlines of the text intact", async () => {
    const file = join(dir, "quoted.csv")
    writeFileSync(
      file,
      'tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n' +
        '2,AcmeHelp,False,Tue Oct 31 22:11:45 +0000 2017,"@115712 Sorry, ""really"" sorry\nline two\r\nline three",,1.0\n' +
        '1,115712,True,Tue Oct 31 22:10:47 +0000 2017,"@AcmeHelp help, please",2,\n'
    )
    const events = await runImport(file)
    expect(events).toHaveLength(1)
    const conversation = decode(JSON.parse((events[0] as ImportedThread).json))
    expect(conversation.id).toBe("conv_twcs_1")
    expect(conversation.author).toBe("115712")
    expect(conversation.timestamp).toBe("2017-10-31T22:10:47.000Z")
    expect(conversation.messages!.map((m) => [m.author, m.text, m.inbound])).toEqual([
      ["115712", "@AcmeHelp help, please", true],
      ["AcmeHelp", '@115712 Sorry, "really" sorry\nline two\r\nline three', false]
    ])
  })

  it("ends on cycles: a three-tweet cycle and a self-reply each become one thread rooted at the smallest id", async () => {
    const file = join(dir, "cycle.csv")
    writeFileSync(
      file,
      'tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n' +
        '30,c1,True,Tue Oct 31 10:00:00 +0000 2017,first,10,20.0\n' +
        '10,Co,False,Tue Oct 31 10:01:00 +0000 2017,second,"20,40",30.0\n' +
        '20,c1,True,Tue Oct 31 10:02:00 +0000 2017,third,30,10.0\n' +
        '40,c1,True,Tue Oct 31 10:03:00 +0000 2017,hanging off the cycle,,10.0\n' +
        '50,c2,True,Tue Oct 31 11:00:00 +0000 2017,talking to myself,50,50.0\n'
    )
    const threads = (await runImport(file)) as ReadonlyArray<ImportedThread>
    expect(threads.map((t) => [t.id, t.size]).sort()).toEqual([
      ["conv_twcs_10", 4],
      ["conv_twcs_50", 1]
    ])
    const cycle = JSON.parse(threads.find((t) => t.id === "conv_twcs_10")!.json)
    expect(cycle.metadata.tweet_ids).toEqual(["30", "10", "20", "40"])
    expect(cycle.author).toBe("c1")
  })

  it("names the customer a company reply addresses when the customer's own tweets are missing (else the company stands in)", async () => {
    const file = join(dir, "company-only.csv")
    writeFileSync(
      file,
      'tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n' +
        '60,AcmeSupport,False,Tue Oct 31 10:00:00 +0000 2017,"@115712 Sorry, we are on it",61,59\n' +
        '61,AcmeSupport,False,Tue Oct 31 10:05:00 +0000 2017,@115712 any news?,,60\n' +
        '70,AcmeSupport,False,Tue Oct 31 11:00:00 +0000 2017,We are down for maintenance,,\n' +
        '80,AcmeSupport,False,Tue Oct 31 12:00:00 +0000 2017,@555 hello,81,\n' +
        '81,555,True,Tue Oct 31 12:01:00 +0000 2017,@AcmeSupport hi,,80\n'
    )
    const threads = (await runImport(file)) as ReadonlyArray<ImportedThread>
    const byId = new Map(threads.map((t) => [t.id, JSON.parse(t.json) as { author: string; metadata: Record<string, unknown> }]))
    expect(byId.get("conv_twcs_60")).toMatchObject({ author: "115712", metadata: { author_from: "mention", companies: ["AcmeSupport"] } })
    expect(byId.get("conv_twcs_70")!.author).toBe("AcmeSupport")
    expect(byId.get("conv_twcs_70")!.metadata).not.toHaveProperty("author_from")
    // A thread with an inbound tweet keeps its author, mention or not.
    expect(byId.get("conv_twcs_80")!.author).toBe("555")
    expect(byId.get("conv_twcs_80")!.metadata).not.toHaveProperty("author_from")
  })

  it("reports malformed rows with their line number and goes on", async () => {
    const file = join(dir, "bad.csv")
    writeFileSync(
      file,
      'tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n' +
        '1,c1,True,Tue Oct 31 10:00:00 +0000 2017,"multi\nline",,\n' +
        'x1,c1,True,Tue Oct 31 10:00:00 +0000 2017,bad id,,\n' +
        '2,c1,True,yesterday,bad date,,\n' +
        '3,c1,True,Tue Oct 31 10:00:00 +0000 2017,too few\n' +
        '1,c1,True,Tue Oct 31 10:00:00 +0000 2017,duplicate,,\n' +
        '4,Co,False,Tue Oct 31 10:05:00 +0000 2017,fine,,1\n'
    )
    const events = await runImport(file)
    const rejected = events.flatMap((e) => (e._tag === "Rejected" ? [[e.line, e.reason]] : []))
    expect(rejected.map(([line]) => line)).toEqual([4, 5, 6, 7])
    expect(String(rejected[0][1])).toContain("tweet_id")
    expect(String(rejected[1][1])).toContain("created_at")
    expect(String(rejected[2][1])).toContain("fields")
    expect(String(rejected[3][1])).toContain("line 2")
    const threads = events.filter((e): e is ImportedThread => e._tag === "Thread")
    expect(threads.map((t) => [t.id, t.size])).toEqual([["conv_twcs_1", 2]])
  })

  it("gives identical output when the same file is imported twice", async () => {
    const file = join(dir, "again.csv")
    await generateTwcs({ tweets: 3_000, out: file, seed: 11 })
    const first = (await runImport(file)).map((e) => (e._tag === "Thread" ? e.json : e.reason))
    const second = (await runImport(file)).map((e) => (e._tag === "Thread" ? e.json : e.reason))
    expect(second).toEqual(first)
  })

  // The spill stays in memory up to a budget and goes to a temp file beyond (the 2.8 M-tweet file):
  // all in memory, all on disk, and a switch half-way must give the same conversations.
  it("gives the same output whether the messages are spilled in memory, to the file, or both", async () => {
    const file = join(dir, "spill.csv")
    await generateTwcs({ tweets: 30_000, out: file, seed: 13 })
    const json = (events: ReadonlyArray<ImportEvent>) => events.map((e) => (e._tag === "Thread" ? e.json : e.reason))
    const inMemory = json(await runImport(file))
    expect(inMemory.length).toBeGreaterThan(5_000)
    expect(json(await runImport(file, 0))).toEqual(inMemory)
    expect(json(await runImport(file, 1_500_000))).toEqual(inMemory)
  })
})
