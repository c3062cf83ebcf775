import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { makeLocal } from "../src/analyzer/local.js"
import type { Conversation } from "../src/domain/conversation.js"
import { conversation } from "./grok/support.js"
import {
  FALLBACK_TOPIC,
  LOCAL_ANALYZER_NAME,
  type LocalAnalysis,
  makeLocalAnalyzer,
  MAX_TOKEN_CHARS,
  TOPIC_LABELS
} from "../src/analyzer/local/lexicon.js"

const analyzer = makeLocalAnalyzer()
const analyze = (text: string): LocalAnalysis => analyzer.analyze(text)

const SNAKE_CASE = /^[a-z]+(_[a-z]+)*$/
const LONG_COMPLAINT =
  "This is the worst service I have ever had. My package still hasn't arrived after three weeks, " +
  "I was charged twice, I've been on hold for two hours and nobody answers my emails. " +
  "Absolutely terrible and useless, I want a refund NOW!!!"

describe("local analyzer: support cues users rely on", () => {
  it("has a stable name", () => {
    expect(LOCAL_ANALYZER_NAME).toBe("local:lexicon-v1")
  })

  it("reads a late delivery as negative delivery_delay", () => {
    const result = analyze("My package still hasn't arrived after 3 weeks")
    expect(result.sentimentScore).toBeLessThan(-0.3)
    expect(result.clusters[0]).toBe("delivery_delay")
    expect(result.evidence.some((item) => item.kind === "phrase")).toBe(true)
  })

  it("reads a double charge as negative billing_issue", () => {
    const result = analyze("I was charged twice for my order")
    expect(result.sentimentScore).toBeLessThan(-0.3)
    expect(result.clusters).toContain("billing_issue")
  })

  it("reads a long hold as negative wait_time", () => {
    const result = analyze("on hold for 2 hours")
    expect(result.sentimentScore).toBeLessThan(0)
    expect(result.clusters).toContain("wait_time")
  })

  it("reads thanks for a fix as positive", () => {
    const result = analyze("Thanks so much, you fixed it!")
    expect(result.sentimentScore).toBeGreaterThan(0.5)
    expect(result.clusters).toContain("praise")
  })

  it("handles negation in both directions", () => {
    expect(analyze("not bad at all").sentimentScore).toBeGreaterThan(0)
    expect(analyze("this is not good").sentimentScore).toBeLessThan(0)
    expect(analyze("It never works").sentimentScore).toBeLessThan(0)
    const notGood = analyze("this is not good")
    expect(notGood.evidence).toContainEqual(expect.objectContaining({ cue: "not good", kind: "negation" }))
  })

  it("scores emoji-only messages", () => {
    expect(analyze("😡😡").sentimentScore).toBeLessThan(-0.5)
    expect(analyze("😍").sentimentScore).toBeGreaterThan(0.5)
    expect(analyze("👎").sentimentScore).toBeLessThan(0)
    expect(analyze("👍 🙏").sentimentScore).toBeGreaterThan(0)
    expect(analyze("😍").evidence[0]?.kind).toBe("emoji")
  })

  it("lets the clause after 'but' decide", () => {
    expect(analyze("Great product but the delivery was terrible").sentimentScore).toBeLessThan(0)
    expect(analyze("The delivery was slow but the product is great").sentimentScore).toBeGreaterThan(0)
  })

  it("amplifies caps, exclamation marks and intensifiers", () => {
    expect(analyze("I LOVE it!!!").sentimentScore).toBeGreaterThan(analyze("I love it").sentimentScore)
    expect(analyze("very good").sentimentScore).toBeGreaterThan(analyze("good").sentimentScore)
  })

  it("reads a run of non-space characters longer than a word as its first MAX_TOKEN_CHARS (no run is analysed whole)", () => {
    // Whole runs cost wink's tokenizer time in the square of their length (20,000 "!" took 2 s).
    for (const run of ["!", "y", "ha", "x@", "great!"]) {
      const long = `I hate this ${run.repeat(Math.ceil(20_000 / run.length))} so much`
      const cut = `I hate this ${run.repeat(Math.ceil(20_000 / run.length)).slice(0, MAX_TOKEN_CHARS)} so much`
      expect(analyze(long), run).toEqual(analyze(cut))
    }
    // "great!great!…" is words to wink: only those in the first 100 characters (16) are counted.
    expect(analyze(`${"great!".repeat(3_000)}`).reasoning).toContain('"great" x16')
  })

  it("falls back to general_inquiry and neutral for unrelated text", () => {
    const result = analyze("The quarterly report covers the new office layout")
    expect(result.clusters).toEqual([FALLBACK_TOPIC])
    expect(FALLBACK_TOPIC).toBe("general_inquiry")
    expect(result.sentimentScore).toBe(0)
  })

  it("reads a demand for a fix as no praise, and a fix done as good news", () => {
    // Lemma matching made "fix it" the support phrase "fixed it" (+2.5), and AFINN scores "resolve" +2.
    for (const demand of ["the app keeps crashing, fix it", "resolve my issue", "sort it out now", "make it right"]) {
      const result = analyze(demand)
      expect(result.sentimentScore, demand).toBeLessThanOrEqual(0)
      expect(result.reasoning, demand).not.toMatch(/"(fixed it|sorted it out|made it right|resolve)"/)
    }
    expect(analyze("the app keeps crashing, fix it").sentimentScore).toBeLessThan(-0.1) // negative, as the complaint alone
    for (const done of ["you fixed it", "they sorted it out", "you made it right"]) expect(analyze(done).sentimentScore, done).toBeGreaterThan(0.1)
  })

  it("reads support idioms whose words say the opposite", () => {
    const negative = ["@AmazonHelp thanks for nothing", "Oh great, my flight got cancelled again", "lol this is a joke", "please help, my account is locked", "my internet has been down all day"]
    for (const text of negative) expect(analyze(text).sentimentScore, text).toBeLessThan(-0.1)
    expect(analyze("can't thank you enough").sentimentScore).toBeGreaterThan(0.5)
    expect(analyze("@AmazonHelp thanks for nothing").clusters).not.toContain("praise")
  })

  it("does not read a topic into a word that only names a thing", () => {
    // A mention of the app, the website, an update or connecting is no problem report on its own.
    const cases: Array<[string, ReadonlyArray<string>, ReadonlyArray<string>]> = [
      ["love the new app, thanks!", ["praise"], ["app_crash"]],
      ["Any update on my refund?", ["refund_request"], ["technical_issue"]],
      ["I ordered on your website last week", [], ["technical_issue"]],
      ["Can you connect me with an agent?", ["customer_service"], ["connectivity"]],
      ["The app won't let me log in", ["login_problem"], ["app_crash"]],
      ["my account was charged but I never got the order", ["billing_issue"], ["account_access"]],
      ["I need to reset my router", ["connectivity"], ["password_reset"]],
      ["I'm on the unlimited plan and my data is throttled", ["connectivity"], ["data_privacy"]],
      ["Please delete my data", ["data_privacy"], []],
      // ... and still counts with a problem word beside it.
      ["Your app keeps crashing when I open it", ["app_crash"], []],
      ["I can't connect to the wifi since the update", ["connectivity", "technical_issue"], []],
      ["the show keeps buffering", ["technical_issue"], []],
      ["the update broke everything", ["technical_issue"], []]
    ]
    for (const [text, present, absent] of cases) {
      const clusters = analyze(text).clusters
      for (const label of present) expect(clusters, text).toContain(label)
      for (const label of absent) expect(clusters, text).not.toContain(label)
    }
  })

  it("gives little confidence to 'ok' and much to a long consistent complaint", () => {
    const ok = analyze("ok")
    const complaint = analyze(LONG_COMPLAINT)
    expect(complaint.sentimentScore).toBeLessThan(-0.8)
    expect(ok.confidence).toBeLessThan(0.3)
    expect(complaint.confidence).toBeGreaterThan(0.7)
    expect(ok.confidence).toBeLessThan(complaint.confidence)
    expect(analyze("").confidence).toBeLessThan(ok.confidence)
  })

  it("gives mixed evidence less confidence than consistent evidence of the same size", () => {
    expect(analyze("The food was great and the staff were terrible").confidence).toBeLessThan(
      analyze("The food was great and the staff were wonderful").confidence
    )
  })
})

describe("local analyzer: plain support wording is not misread (audit cases)", () => {
  it("plain words carry no sentiment of their own; requests are not completions; bare contractions and hashtags are read", () => {
    const score = (text: string) => analyze(text).sentimentScore
    // Complaints that plain words ("taking", "decided") used to turn positive.
    for (const text of ["why is my order taking so long", "I decided to cancel my subscription.", "My package still hasnt arrived", "still says processing after a week #frustrated"]) {
      expect(score(text), text).toBeLessThan(-0.1)
    }
    // Neutral statements and questions: no polarity from "noted", "further", "several", "questions", "sold".
    for (const text of ["Noted. Awaiting further updates.", "I have several questions about my plan.", "The item I wanted is sold out again."]) {
      expect(score(text), text).toBeLessThanOrEqual(0.1)
    }
    expect(Math.abs(score("I have several questions about my plan."))).toBeLessThanOrEqual(0.1)
    // Asking for the money back is not having it back.
    expect(score("Can I get my money back?")).toBeLessThan(0)
    expect(score("I got my money back, thanks")).toBeGreaterThan(0.1)
    // "hasnt" reads as "hasn't": same score and the same delivery topic.
    expect(score("My package still hasnt arrived")).toBe(score("My package still hasn't arrived"))
    expect(analyze("My package still hasnt arrived").clusters).toEqual(analyze("My package still hasn't arrived").clusters)
    expect(score("#love this")).toBeGreaterThan(0.1)
  })

  it("names the topic of common complaints the taxonomy missed (audit cases)", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["You sent me a size M instead of the XL I ordered.", "wrong_item"],
      ["my order is wrong", "wrong_item"],
      ["recieved the wrong iteam smh", "wrong_item"],
      ["the app keeps freezing", "app_crash"],
      ["i didnt receive my order", "delivery_delay"],
      ["Why are you selling my data to advertisers? Delete my information.", "data_privacy"],
      ["Works perfectly, exactly as described.", "praise"]
    ]
    for (const [text, topic] of cases) expect(analyze(text).clusters, text).toContain(topic)
    // "wrong" alone is no wrong item.
    expect(analyze("What's wrong with your website, it is down again").clusters).not.toContain("wrong_item")
  })
})

describe("local analyzer: output contract", () => {
  const samples = [
    "My package still hasn't arrived after 3 weeks",
    "I forgot my password and the reset link does not work, I can't log in to my account",
    "The app keeps crashing and the wifi keeps dropping, please cancel my subscription and delete my data",
    LONG_COMPLAINT,
    "Thanks so much, you fixed it!",
    "ok",
    "",
    "   ",
    "!!!",
    "???",
    "\u0000\u0001",
    "🙂",
    "no.",
    "not",
    "a".repeat(5000),
    `${LONG_COMPLAINT} `.repeat(60)
  ]

  it("returns bounded, rounded scores, 1..5 snake_case clusters and short reasoning", () => {
    for (const text of samples) {
      const result = analyze(text)
      expect(result.sentimentScore).toBeGreaterThanOrEqual(-1)
      expect(result.sentimentScore).toBeLessThanOrEqual(1)
      expect(Math.round(result.sentimentScore * 1000) / 1000).toBe(result.sentimentScore)
      expect(result.confidence).toBeGreaterThanOrEqual(0)
      expect(result.confidence).toBeLessThanOrEqual(1)
      expect(Math.round(result.confidence * 1000) / 1000).toBe(result.confidence)
      expect(result.clusters.length).toBeGreaterThanOrEqual(1)
      expect(result.clusters.length).toBeLessThanOrEqual(5)
      for (const label of result.clusters) {
        expect(label).toMatch(SNAKE_CASE)
        expect(TOPIC_LABELS).toContain(label)
      }
      expect(new Set(result.clusters).size).toBe(result.clusters.length)
      expect(result.reasoning.length).toBeGreaterThan(0)
      expect(result.reasoning.length).toBeLessThanOrEqual(500)
      for (const item of result.evidence) expect(["lexicon", "phrase", "emoji", "negation"]).toContain(item.kind)
    }
  })

  it("ranks several topics, strongest first, at most five", () => {
    const result = analyze(samples[2])
    expect(result.clusters.length).toBeGreaterThan(1)
    expect(result.clusters.length).toBeLessThanOrEqual(5)
    expect(result.clusters).toEqual(expect.arrayContaining(["app_crash", "connectivity"]))
  })

  it("explains what drove the score", () => {
    const result = analyze("My package still hasn't arrived after 3 weeks")
    expect(result.reasoning).toMatch(/^negative: /)
    expect(result.reasoning).toContain("still hasn't arrived")
    expect(result.reasoning).toContain("delivery_delay")
  })

  it("is deterministic, also across analyzer instances", () => {
    const other = makeLocalAnalyzer()
    for (const text of samples) {
      const first = analyze(text)
      expect(analyze(text)).toEqual(first)
      expect(other.analyze(text)).toEqual(first)
    }
  })

  it("gives the same results when its wink instances are renewed (bounded memory) every few texts", () => {
    // wink never forgets a word it has seen, so the analyzer replaces its instances now and
    // then; what it learnt must not change any result.
    const renewing = makeLocalAnalyzer({ renewWinkAfterDocs: 3 })
    const texts = [...samples, "order #A1X7 for @user1 still hasn't arrived", "zxqv blorptastic service, unhelpfulish agent 😡", ...samples]
    for (const text of texts) expect(renewing.analyze(text)).toEqual(analyze(text))
  })

  it("does not crash on empty-ish or non-string input", () => {
    for (const text of ["", " ", "\n\t", "...", "🤷"]) {
      const result = analyze(text)
      expect(result.clusters).toEqual([FALLBACK_TOPIC])
    }
    expect(() => analyzer.analyze(undefined as unknown as string)).not.toThrow()
  })
})

describe("local analyzer: accuracy on the UCI sentences shipped with `sentiment`", () => {
  // Labelled review sentences (amazon, imdb, yelp). A score of exactly 0 counts as wrong.
  // The analyzer was NOT tuned on these files (see bench/LOCAL_ANALYZER.md).
  const require = createRequire(import.meta.url)
  const fixtureDir = join(dirname(require.resolve("sentiment/package.json")), "test", "fixtures")

  for (const file of ["amazon", "imdb", "yelp"]) {
    it(`reaches at least 80 % on ${file}`, () => {
      const items = JSON.parse(readFileSync(join(fixtureDir, `${file}.json`), "utf8")) as ReadonlyArray<{
        readonly text: string
        readonly class: number
      }>
      expect(items.length).toBeGreaterThan(900)
      let correct = 0
      for (const item of items) {
        const score = analyze(item.text).sentimentScore
        if ((score > 0 && item.class === 1) || (score < 0 && item.class === 0)) correct++
      }
      expect(correct / items.length).toBeGreaterThanOrEqual(0.8)
    })
  }
})

describe("local analyzer service: whose sentiment", () => {
  const thread = (messages: ReadonlyArray<readonly [boolean | undefined, string]>): Conversation => {
    const stamped = messages.map(([inbound, text], i) => ({
      author: inbound === false ? "@AppleSupport" : "@customer",
      text,
      timestamp: `2024-05-01T12:0${i}:00.000Z`,
      ...(inbound === undefined ? {} : { inbound })
    }))
    return { ...conversation(stamped.map((message) => message.text).join("\n")), messages: stamped }
  }
  const analyseOne = (subject: Conversation) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const service = yield* makeLocal
        const results = yield* service.analyzeBatch([subject])
        return Either.getOrThrow(results.get(subject.id)!)
      })
    )

  it("reads the customer's messages of a thread, not the agent's courtesy", async () => {
    const complaint = thread([
      [true, "@AppleSupport my iphone keeps restarting since the update"],
      [false, "Thanks for reaching out! We'd love to help. Which iOS version are you on?"],
      [true, "the latest one"]
    ])
    const result = await analyseOne(complaint)
    // The whole thread reads as praise (the agent's thanks and love); the customer is unhappy.
    expect(makeLocalAnalyzer().analyze(complaint.text).sentimentScore).toBeGreaterThan(0.1)
    expect(result.sentiment_score).toBeLessThan(-0.1)
    expect(result.clusters).not.toContain("praise")
    expect(result.reasoning).toMatch(/^customer's messages, negative: /)
    expect(JSON.parse(result.raw_response)).toMatchObject({ read: "customer messages" })
  })

  it("without inbound flags, tells the customer by the conversation's author (or an inbound message's): the agent's cheer is not read", async () => {
    const message = (author: string, text: string, minute: number, inbound?: boolean) => ({
      author,
      text,
      timestamp: `2024-05-01T12:0${minute}:00.000Z`,
      ...(inbound === undefined ? {} : { inbound })
    })
    const cheer = "Thanks so much for reaching out, we'd love to help! Have a great day :)"
    const subjects: Array<Conversation> = [
      // Only the customer's message is flagged (the README's own example shape).
      { ...conversation(""), author: "@ana", messages: [message("@ana", "I was charged twice for my order", 0, true), message("@shop", cheer, 1)] },
      // No flags at all: the conversation's author says who the customer is ("@Dee" and "dee" alike).
      {
        ...conversation(""),
        author: "dee",
        messages: [message("@Dee", "The app crashes on login every single time.", 0), message("@AppSupport", cheer, 1), message("@Dee", "Reinstalled. Still crashes.", 2)]
      }
    ]
    for (const subject of subjects) {
      const full = { ...subject, text: (subject.messages ?? []).map((m) => m.text).join("\n") }
      const result = await analyseOne(full)
      expect(makeLocalAnalyzer().analyze(full.text).sentimentScore).toBeGreaterThan(0.1)
      expect(result.sentiment_score).toBeLessThan(-0.1)
      expect(result.clusters).not.toContain("praise")
      expect(JSON.parse(result.raw_response)).toMatchObject({ read: "customer messages" })
    }
  })

  it("reads the whole text when the messages do not say who wrote them, or only one side wrote", async () => {
    for (const subject of [
      thread([[undefined, "thanks, the refund came through"], [undefined, "glad we could help"]]),
      thread([[true, "thanks, the refund came through"], [true, "great service"]])
    ]) {
      const result = await analyseOne(subject)
      expect(result.sentiment_score).toBe(makeLocalAnalyzer().analyze(subject.text).sentimentScore)
      expect(JSON.parse(result.raw_response)).toMatchObject({ read: "text" })
    }
  })
})
