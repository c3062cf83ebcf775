/**
 * Support-domain lexical resources for the local analyzer.
 *
 * All weights are in AFINN-like units (roughly -5..+5 per cue) so they mix
 * directly with the AFINN-165 lexicon shipped by the `sentiment` package.
 * Phrases are written in plain English; at load time they are tokenized by
 * wink-nlp, so "hasn't", "has not" and "hasnt" style variants and inflections
 * (matched by lemma) are all covered by one entry.
 *
 * These lists were written for support conversations and short reviews and
 * tuned only on bench/data/tuning-set.jsonl (never on the benchmark files).
 */

export interface WeightedPhrase {
  readonly text: string
  readonly weight: number
  /**
   * Matched as written only, not by lemma: "fixed it" reports a fix, but its lemma form
   * "fix it" is the customer's demand ("the app keeps crashing, fix it").
   */
  readonly exact?: boolean
}

/** Multi-word cues. A phrase supersedes the lexicon values of the words it covers. */
export const SENTIMENT_PHRASES: ReadonlyArray<WeightedPhrase> = [
  // delivery / order status
  { text: "still hasn't arrived", weight: -3.5 },
  { text: "hasn't arrived", weight: -3 },
  { text: "didn't arrive", weight: -2.5 },
  { text: "never arrived", weight: -3 },
  { text: "never came", weight: -2.5 },
  { text: "never showed up", weight: -3 },
  { text: "never received", weight: -3 },
  { text: "never got", weight: -2.5 },
  { text: "haven't received", weight: -2.5 },
  { text: "didn't receive", weight: -2.5 },
  { text: "still waiting", weight: -2.5 },
  { text: "been waiting", weight: -2 },
  { text: "still no", weight: -2 },
  { text: "still not", weight: -1.5 },
  { text: "still haven't", weight: -2.5 },
  { text: "still hasn't", weight: -2.5 },
  { text: "still doesn't", weight: -2.5 },
  { text: "stuck in", weight: -1.5 },
  { text: "took forever", weight: -2.5 },
  { text: "takes forever", weight: -2.5 },
  { text: "takes so long", weight: -2 },
  { text: "takes too long", weight: -2 },
  // billing
  { text: "charged twice", weight: -3 },
  { text: "charged me twice", weight: -3 },
  { text: "double charged", weight: -3 },
  { text: "billed twice", weight: -3 },
  { text: "wrong amount", weight: -2 },
  { text: "unauthorized charge", weight: -3 },
  { text: "hidden fees", weight: -2.5 },
  { text: "took my money", weight: -3 },
  { text: "want my money back", weight: -2.5 },
  { text: "money back", weight: -1.5 },
  // Written form only: by lemma it also matched the request "can I get my money back?".
  { text: "got my money back", weight: 2, exact: true },
  { text: "want a refund", weight: -2 },
  { text: "ripped off", weight: -3 },
  { text: "rip off", weight: -3 },
  // waiting / contact
  { text: "on hold for", weight: -2.5 },
  { text: "on hold", weight: -1.5 },
  { text: "no response", weight: -2.5 },
  { text: "no reply", weight: -2.5 },
  { text: "no answer", weight: -2 },
  { text: "never replied", weight: -2.5 },
  { text: "never responded", weight: -2.5 },
  { text: "never heard back", weight: -2.5 },
  { text: "never called back", weight: -2.5 },
  { text: "hung up on", weight: -2.5 },
  { text: "call dropped", weight: -2 },
  { text: "going in circles", weight: -2 },
  { text: "waste of time", weight: -3 },
  { text: "waste of money", weight: -3 },
  { text: "waste your time", weight: -3 },
  { text: "waste your money", weight: -3 },
  { text: "don't waste", weight: -3 },
  { text: "cancel my account", weight: -2 },
  { text: "cancel my subscription", weight: -2 },
  { text: "close my account", weight: -1.5 },
  { text: "speak to a manager", weight: -2 },
  // technical
  { text: "doesn't work", weight: -2.5 },
  { text: "not working", weight: -2.5 },
  { text: "stopped working", weight: -3 },
  { text: "never works", weight: -2.5 },
  { text: "never worked", weight: -2.5 },
  { text: "keeps crashing", weight: -3 },
  { text: "keeps restarting", weight: -2.5 },
  { text: "keeps rebooting", weight: -2.5 },
  { text: "keeps dropping", weight: -2.5 },
  { text: "keeps freezing", weight: -2.5 },
  { text: "keep getting", weight: -1 },
  { text: "error message", weight: -1.5 },
  { text: "can't log in", weight: -2.5 },
  { text: "can't access", weight: -2.5 },
  { text: "locked out", weight: -2.5 },
  { text: "account is locked", weight: -2 },
  { text: "been down", weight: -2 },
  { text: "still down", weight: -2.5 },
  { text: "down again", weight: -2 },
  { text: "account was locked", weight: -2 },
  { text: "unable to", weight: -1.5 },
  { text: "fell apart", weight: -3 },
  { text: "broke down", weight: -2 },
  { text: "went downhill", weight: -2.5 },
  { text: "gone downhill", weight: -2.5 },
  // reviews, negative
  { text: "never again", weight: -3 },
  { text: "will never", weight: -1.5 },
  { text: "don't bother", weight: -2.5 },
  { text: "don't buy", weight: -2.5 },
  { text: "stay away", weight: -3 },
  { text: "save your money", weight: -2.5 },
  { text: "somewhere else", weight: -1.5 },
  { text: "go elsewhere", weight: -2 },
  { text: "sent it back", weight: -2 },
  { text: "send it back", weight: -2 },
  { text: "had to return", weight: -2.5 },
  { text: "could have been better", weight: -2 },
  { text: "could have been", weight: -1 },
  { text: "should have", weight: -1 },
  // sarcasm and idioms whose words say the opposite
  { text: "thanks for nothing", weight: -3 },
  { text: "thank you for nothing", weight: -3 },
  { text: "is a joke", weight: -2.5 },
  { text: "what a joke", weight: -3 },
  { text: "oh great", weight: -2 },
  { text: "can't thank you enough", weight: 3.5 },
  { text: "cannot thank you enough", weight: 3.5 },
  { text: "makes no sense", weight: -2 },
  { text: "made no sense", weight: -2 },
  { text: "nothing special", weight: -1.5 },
  { text: "nothing happens", weight: -2 },
  { text: "fell flat", weight: -2.5 },
  { text: "falls flat", weight: -2.5 },
  { text: "fell asleep", weight: -2 },
  { text: "walked out", weight: -2 },
  { text: "goes nowhere", weight: -2 },
  { text: "hours of my life", weight: -2.5 },
  { text: "fell short", weight: -2.5 },
  { text: "below expectations", weight: -2.5 },
  { text: "too much", weight: -1 },
  { text: "not enough", weight: -1.5 },
  { text: "one star", weight: -3 },
  { text: "1 star", weight: -3 },
  { text: "zero stars", weight: -3 },
  { text: "no stars", weight: -3 },
  { text: "thumbs down", weight: -2.5 },
  // positive
  { text: "thank you so much", weight: 3.5 },
  { text: "thanks so much", weight: 3.5 },
  { text: "thank you", weight: 2 },
  { text: "thanks a lot", weight: 2.5 },
  { text: "much appreciated", weight: 2.5 },
  { text: "works perfectly", weight: 3.5 },
  { text: "works great", weight: 3 },
  { text: "works well", weight: 2.5 },
  { text: "like a charm", weight: 3 },
  { text: "fixed it", weight: 2.5, exact: true },
  { text: "fixed the", weight: 1.5, exact: true },
  { text: "problem solved", weight: 3 },
  { text: "issue resolved", weight: 2.5 },
  { text: "sorted it out", weight: 2, exact: true },
  { text: "sorted out", weight: 2, exact: true },
  { text: "made it right", weight: 2.5, exact: true },
  { text: "above and beyond", weight: 3 },
  { text: "extra mile", weight: 3 },
  { text: "well done", weight: 2.5 },
  { text: "well made", weight: 2.5 },
  { text: "well built", weight: 2.5 },
  { text: "well worth", weight: 3 },
  { text: "worth every penny", weight: 3.5 },
  { text: "money well spent", weight: 3 },
  { text: "highly recommend", weight: 3.5 },
  { text: "would recommend", weight: 2.5 },
  { text: "buy again", weight: 2.5 },
  { text: "order again", weight: 2.5 },
  { text: "will be back", weight: 2 },
  { text: "would be back", weight: 1.5 },
  { text: "will come back", weight: 2 },
  { text: "would come back", weight: 2 },
  { text: "coming back", weight: 2 },
  { text: "will go back", weight: 1.5 },
  { text: "would go back", weight: 1.5 },
  { text: "going back", weight: 1.5 },
  { text: "must have", weight: 2 },
  { text: "must see", weight: 2.5 },
  { text: "must try", weight: 2.5 },
  { text: "five stars", weight: 3 },
  { text: "5 stars", weight: 3 },
  { text: "ten stars", weight: 3 },
  { text: "thumbs up", weight: 2.5 },
  { text: "ten out of ten", weight: 3 },
  { text: "top notch", weight: 3 },
  { text: "second to none", weight: 3 },
  { text: "to die for", weight: 3 },
  { text: "edge of my seat", weight: 2.5 },
  { text: "in a heartbeat", weight: 2 },
  { text: "game changer", weight: 3 },
  { text: "blew me away", weight: 3 },
  { text: "blown away", weight: 3 },
  { text: "exceeded my expectations", weight: 3 },
  { text: "meet my expectations", weight: 1.5 },
  { text: "no complaints", weight: 2.5 },
  { text: "no problems", weight: 1.5 },
  { text: "no issues", weight: 1.5 },
  { text: "no hassle", weight: 2 },
  { text: "without any hassle", weight: 2 },
  { text: "hassle free", weight: 2 },
  { text: "can't wait", weight: 2.5 },
  { text: "can't complain", weight: 1.5 },
  { text: "can't beat", weight: 2.5 },
  { text: "can't go wrong", weight: 2.5 },
  { text: "can't say enough", weight: 3 },
  { text: "can't recommend enough", weight: 3 },
  { text: "couldn't be happier", weight: 3.5 },
  { text: "couldn't ask for", weight: 2.5 },
  { text: "never disappoints", weight: 3 },
  { text: "not disappointed", weight: 2 },
  { text: "never had a problem", weight: 2 },
  { text: "exactly as described", weight: 2 },
  { text: "exactly what i need", weight: 2 },
  { text: "exactly what i needed", weight: 2 },
  { text: "does everything", weight: 1.5 },
  { text: "have to see", weight: 2 },
  { text: "next visit", weight: 1.5 },
  { text: "full of flavor", weight: 2.5 },
  { text: "just right", weight: 2 },
  { text: "right amount", weight: 1.5 },
  { text: "looks new", weight: 1.5 },
  { text: "really works", weight: 2 },
  { text: "without hesitation", weight: 2 },
  { text: "like new", weight: 2 },
  { text: "holds up", weight: 1.5 },
  { text: "gave me chills", weight: 2.5 },
  { text: "should be done", weight: 2 },
  { text: "out of their way", weight: 3 },
  { text: "out of his way", weight: 3 },
  { text: "out of her way", weight: 3 },
  { text: "a second one", weight: 1.5 },
  { text: "block out", weight: 1 },
  { text: "a day early", weight: 1.5 },
  { text: "something for everyone", weight: 2 },
  { text: "what i was looking for", weight: 2 },
  { text: "only regret is not", weight: 3 },
  { text: "paid for itself", weight: 3 },
  { text: "can't stop thinking about", weight: 2.5 },
  { text: "can't stop laughing", weight: 3 },
  { text: "step up", weight: 2 },
  { text: "a breeze", weight: 2 },
  { text: "big heart", weight: 2.5 },
  { text: "full of heart", weight: 2.5 },
  { text: "on repeat", weight: 2 },
  { text: "gets everything right", weight: 2.5 },
  { text: "everything right", weight: 2 },
  { text: "made sense", weight: 1.5 },
  { text: "make sense", weight: 1 },
  { text: "go-to", weight: 2 },
  { text: "made me want to", weight: 1.5 },
  { text: "steals every scene", weight: 2.5 },
  { text: "steals the show", weight: 2.5 },
  // complaints without sentiment words
  { text: "could have been much better", weight: -2.5 },
  { text: "could be better", weight: -1.5 },
  { text: "cringe-worthy", weight: -2.5 },
  { text: "back to my old", weight: -2 },
  { text: "for it to end", weight: -2 },
  { text: "had to", weight: -1 },
  { text: "i was told", weight: -1 },
  { text: "was promised", weight: -1.5 },
  { text: "were promised", weight: -1.5 },
  { text: "supposed to", weight: -1 },
  { text: "where is my", weight: -1.5 },
  { text: "timing out", weight: -2 },
  { text: "times out", weight: -2 },
  { text: "feels cheap", weight: -2 },
  { text: "only worked", weight: -1.5 },
  { text: "only lasted", weight: -2 },
  { text: "hair in my", weight: -2 },
  { text: "went black", weight: -2 },
  { text: "logged me out", weight: -1.5 },
  { text: "different answer", weight: -1.5 },
  { text: "switching to", weight: -1.5 },
  { text: "tired of", weight: -2.5 },
  { text: "repeating myself", weight: -1.5 },
  { text: "automated reply", weight: -1 },
  { text: "skip this", weight: -2 },
  { text: "skip it", weight: -2 },
  { text: "plot holes", weight: -2 },
  { text: "from a mile away", weight: -1.5 },
  { text: "hours back", weight: -2 },
  { text: "time back", weight: -2 },
  { text: "checked my watch", weight: -2 },
  { text: "rolled his eyes", weight: -2 },
  { text: "rolled her eyes", weight: -2 },
  { text: "ran out of", weight: -1.5 },
  { text: "different place", weight: -1.5 },
  { text: "sat there", weight: -1.5 },
  { text: "save yourself", weight: -2 },
  { text: "paper thin", weight: -2 },
  { text: "the only good thing", weight: -2 },
  { text: "i've had better", weight: -2.5 },
  { text: "have had better", weight: -2.5 },
  { text: "step down", weight: -2 },
  { text: "last straw", weight: -3 },
  { text: "kept hoping", weight: -2 },
  { text: "instead of", weight: -1 },
  { text: "all plastic", weight: -1 },
  { text: "same problem", weight: -2 },
  { text: "same issue", weight: -2 },
  { text: "the third time", weight: -1.5 },
  { text: "the fourth time", weight: -1.5 },
  { text: "watered down", weight: -2 },
  { text: "like a toy", weight: -1.5 },
  { text: "still shows", weight: -1 },
  { text: "auto renew", weight: -1 },
  // hyphenated evaluative compounds (wink splits most of them around "-")
  { text: "well-acted", weight: 2 },
  { text: "well acted", weight: 2 },
  { text: "well-written", weight: 2 },
  { text: "well written", weight: 2 },
  { text: "well-made", weight: 2.5 },
  { text: "well-crafted", weight: 2.5 },
  { text: "well crafted", weight: 2.5 },
  { text: "well-paced", weight: 2 },
  { text: "well paced", weight: 2 },
  { text: "well-built", weight: 2.5 },
  { text: "must-see", weight: 2.5 },
  { text: "must-have", weight: 2 },
  { text: "must-try", weight: 2.5 },
  { text: "top-notch", weight: 3 },
  { text: "five-star", weight: 3 },
  { text: "5-star", weight: 3 },
  { text: "one-star", weight: -3 },
  { text: "user-friendly", weight: 2 },
  { text: "high quality", weight: 2 },
  { text: "high-quality", weight: 2 },
  { text: "low quality", weight: -2 },
  { text: "low-quality", weight: -2 },
  { text: "poor quality", weight: -2.5 },
  { text: "slow-moving", weight: -2 },
  { text: "slow moving", weight: -2 },
  { text: "fast-paced", weight: 1.5 },
  { text: "half-baked", weight: -2 },
  { text: "second-rate", weight: -2.5 },
  { text: "third-rate", weight: -2.5 },
  { text: "run-of-the-mill", weight: -1.5 },
  { text: "mind-blowing", weight: 3 },
  { text: "heart-warming", weight: 2.5 },
  { text: "thought-provoking", weight: 2.5 },
  { text: "eye-opening", weight: 2 },
  { text: "long-lasting", weight: 1.5 },
  // neutralised: requests and idioms whose words mislead the lexicons
  { text: "like to", weight: 0 },
  { text: "do yourself a favor", weight: 0 }
]

/**
 * Word weights that override or extend AFINN and wink's lexicon. Zero silences
 * a word that the general lexicons score but which is neutral in support text
 * (e.g. "support", "please", "want"); the phrase list handles its real uses.
 */
export const DOMAIN_WORDS: Readonly<Record<string, number>> = {
  // silenced general-lexicon noise
  // (wink's lexicon, the fallback for words AFINN lacks, scores these plain words strongly:
  // "why is my order taking so long" came out +0.72; found by an audit of the local analyzer)
  taking: 0, take: 0, takes: 0, took: 0, taken: 0, noted: 0, further: 0, sold: 0, live: 0, decided: 0,
  several: 0, question: 0, questions: 0, advance: 0, accessed: 0, able: 0, plus: 0, keys: 0, used: 0,
  thought: 0, despite: 0, behind: 0, crack: -1.5,
  support: 0, work: 0, works: 0, worked: 0, right: 0, well: 0, please: 0, want: 0, wanted: 0,
  like: 0, kind: 0, color: 0, colour: 0, keeps: 0, nonexistent: -2, snapped: -1.5, faded: -1, smelled: -1, tiny: -1,
  witty: 2, sharp: 1, treat: 1.5, threw: -1.5, no: 0, reach: 0, share: 0, responsibility: 0, big: 0, alone: 0,
  romance: 0.5, block: 0, go: 0, down: 0, names: 0, paying: 0, sync: 0, must: 0, meet: 0, built: 0, enough: 0,
  disconnecting: -1.5, disconnects: -1.5, disconnected: -1.5, early: 1, chills: 2, hooked: 2,
  filler: -2, regulars: 2, homemade: 1.5, rubber: -1.5, flies: -1.5, doubled: -0.5, shrunk: -1, painless: 2,
  noise: -0.5, loud: -0.5, busy: -1, beware: -2.5, rubbery: -1.5, peeling: -1.5, grinning: 2, juvenile: -1.5,
  jumble: -1.5, chore: -2, spills: -1, spill: -1, thin: -0.5, crispy: 1.5, seasoned: 1, poisoning: -2.5,
  transferred: -1.5, renewed: -0.5, complaint: -1, long: 0, wondering: 0, feel: 0, lead: 0, human: 0, rest: 0,
  grip: 0, clearly: 0, thinking: 0, promised: -0.5, cry: -0.5, corny: -1.5, wince: -1.5, mumbles: -1.5,
  slippery: -1, spotless: 2, "copy-paste": -1.5, constantly: -0.5, "non-existent": -2, "over-the-top": -1,
  lol: 1, // AFINN +3; in support threads as often wry as amused ("lol this is a joke")
  heartwarming: 2.5, pretty: 0, super: 0, free: 0, clear: 0, top: 0, joke: -1.5, stars: 0, star: 0,
  thanks: 2, thank: 2, help: 0.3, hope: 0.5, hopefully: 0.3, sorry: -0.5, problem: -1.5,
  issue: -1, issues: -1.2, charged: -1.2, still: 0, job: 0, cancel: -1, cancelled: -1, canceled: -1,
  // support domain
  ok: 0.5, okay: 0.5, fine: 0.8, decent: 1.5, average: -0.5, mediocre: -2, meh: -1.5,
  refund: -0.5, return: -0.8, returned: -1.5, returning: -1, replacement: -0.3,
  overcharged: -3, fee: -0.5, fees: -0.7, unsubscribe: -1, unsubscribed: -1,
  waiting: -1, waited: -1.2, wait: -0.8, delay: -1.5, delayed: -1.5, late: -1, overdue: -1.5,
  forever: -1, missing: -2, damaged: -2.5, broken: -2.5, broke: -2, cracked: -2, defective: -3, faulty: -2.5,
  crash: -2, crashes: -2.5, crashed: -2.5, crashing: -2.5, freezes: -2, froze: -2, freezing: -1.5,
  buggy: -2, bug: -1, bugs: -1.5, glitch: -1.5, glitchy: -2, laggy: -2, lag: -1.5,
  slow: -1.5, slowly: -1, fast: 1, quick: 1, quickly: 1, promptly: 2, prompt: 1.5, instantly: 1,
  easy: 1.5, easily: 1, simple: 1, smooth: 2, seamless: 2.5, intuitive: 2,
  unusable: -3, useless: -2.5, unhelpful: -2.5, unresponsive: -2.5, rude: -2.5, incompetent: -3,
  friendly: 2, polite: 2, professional: 2, knowledgeable: 2, patient: 1.5, attentive: 2, responsive: 1.5,
  // "resolve"/"solve" (AFINN +2/+1) are mostly asked for here ("resolve my issue"); done is good.
  courteous: 2, resolved: 2, solved: 2, fixed: 1, resolve: 0, solve: 0, unacceptable: -3, ridiculous: -3, nightmare: -3,
  hassle: -1.5, scam: -3.5, fraud: -3.5, spam: -1.5, fake: -3, incorrect: -2, wrong: -2,
  // product reviews
  overpriced: -2.5, pricey: -1, expensive: -1, cheap: -0.5, cheaply: -2, affordable: 1.5, reasonable: 1,
  flimsy: -2.5, sturdy: 2, durable: 2, comfortable: 2, uncomfortable: -2, junk: -3, garbage: -3, trash: -3,
  scratched: -1.5, scratches: -1, leaks: -2, leaked: -2, leaking: -2, overheating: -2.5, overheats: -2.5,
  dim: -1, bulky: -1, compact: 1, lightweight: 1, letdown: -2.5, regret: -2.5, worth: 2,
  // food
  bland: -2, tasteless: -2.5, flavorless: -2.5, flavourless: -2.5, tasty: 2.5, flavorful: 2.5, yummy: 2.5,
  stale: -2, soggy: -2, greasy: -1.5, undercooked: -2, overcooked: -2, burnt: -2, raw: -1, cold: -1,
  lukewarm: -1.5, dry: -1, chewy: -1.5, mushy: -1.5, salty: -1, watery: -1.5, wilted: -1.5, filthy: -3,
  gross: -2.5, disgusting: -3, inedible: -3, fresh: 1.5, cozy: 2, crisp: 1.5, juicy: 1.5,
  // film
  forgettable: -2, predictable: -1.5, unlikable: -2, wooden: -1.5, cringe: -2, laughable: -2, sloppy: -2,
  rushed: -1.5, confusing: -1.5, unwatchable: -3, tedious: -2, drags: -1.5, overrated: -2, underrated: 1,
  gem: 2.5, masterpiece: 3.5, classic: 1.5, favorite: 2, favourite: 2, hilarious: 2.5,
  "10/10": 3, "0/10": -3, "5/5": 3, "1/10": -3
}

/** Word weights that apply only for a given part of speech ("like" the verb, "kind" the adjective). */
export const POS_SENSITIVE_WORDS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  like: { VERB: 2 },
  liked: { VERB: 2 },
  kind: { ADJ: 2 },
  pretty: { ADJ: 1.5 },
  super: { ADJ: 2.5 },
  works: { VERB: 1 },
  charges: { NOUN: -1 },
  worked: { VERB: 0.8 },
  moving: { ADJ: 2 },
  touching: { ADJ: 2 }
}

/**
 * "-less" words with a neutral or unknown root are usually faults ("aimless", "soulless");
 * these are the common exceptions that are neutral or praise.
 */
export const LESS_SUFFIX_EXCEPTIONS: Readonly<Record<string, number>> = {
  unless: 0, regardless: 0, nevertheless: 0, nonetheless: 0, wireless: 0, cordless: 0, countless: 0, endless: 0,
  homeless: 0, needless: 0, doubtless: 0, stainless: 0, sleeveless: 0, strapless: 0, contactless: 0,
  priceless: 2.5, timeless: 2.5, tireless: 2, effortless: 2, seamless: 2.5, spotless: 2, flawless: 3
}

/** Multiplier for the next sentiment-bearing word. */
export const INTENSIFIERS: Readonly<Record<string, number>> = {
  very: 1.3, really: 1.3, so: 1.25, extremely: 1.5, super: 1.3, absolutely: 1.4, totally: 1.3, completely: 1.3,
  incredibly: 1.5, highly: 1.3, truly: 1.3, utterly: 1.5, especially: 1.2, exceptionally: 1.5, remarkably: 1.3,
  particularly: 1.2, seriously: 1.3, insanely: 1.4, ridiculously: 1.4, way: 1.2, most: 1.2, quite: 1.1,
  such: 1.2, deeply: 1.3, too: 1.2, pretty: 1.0, much: 1.1, even: 1.1, definitely: 1.2
}

/** Multiplier (< 1) for the next sentiment-bearing word. */
export const DOWNTONERS: Readonly<Record<string, number>> = {
  slightly: 0.6, somewhat: 0.6, bit: 0.7, fairly: 0.8, rather: 0.8, kinda: 0.7, sorta: 0.7, little: 0.7,
  mildly: 0.6, moderately: 0.7, partly: 0.6, almost: 0.7
}

/** Tokens (wink normal form) that open a negation scope. wink splits "don't" into "do" + "not". */
export const NEGATORS: ReadonlySet<string> = new Set([
  "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "nowhere", "without", "hardly",
  "barely", "scarcely", "cannot", "lack", "lacks", "lacking", "lacked", "nt", "hasnt", "havent", "hadnt",
  "didnt", "doesnt", "dont", "isnt", "wasnt", "arent", "werent", "cant", "wont", "wouldnt", "couldnt",
  "shouldnt", "aint"
])

/** Clause openers that end a negation scope ("can't believe how bad"). */
export const NEGATION_SCOPE_STOPS: ReadonlySet<string> = new Set([
  "how", "what", "why", "when", "where", "which", "who", "that", "if", "because", "since", "so", "and", "or"
])

/**
 * Verbs that pass negation on to their complement ("I don't think it's good").
 * Any other verb ends the negation scope: in "never answered my question" the
 * negation belongs to "answered", not to "question".
 */
export const NEGATION_RAISING_VERBS: ReadonlySet<string> = new Set([
  "think", "believe", "feel", "expect", "seem", "suppose", "imagine", "guess", "find", "look", "sound", "get"
])

/** Word after a negator that means it is not negating ("not only", "no doubt"). */
export const NEGATION_BREAKERS: ReadonlySet<string> = new Set([
  "only", "just", "doubt", "wonder", "matter", "mention", "but", "more"
])

/** Clause contrast: the part after these words carries more weight than the part before. */
export const CONTRAST_WORDS: ReadonlySet<string> = new Set(["but", "however"])

/** Concession openers: the clause they introduce carries less weight. */
export const CONCESSION_WORDS: ReadonlySet<string> = new Set(["although", "though", "while", "whilst", "despite"])

/**
 * Emoji and emoticons. These override the Emoji Sentiment Ranking values shipped
 * with the `sentiment` package (which rates e.g. 😡 only -1).
 */
export const EMOJI_WEIGHTS: Readonly<Record<string, number>> = {
  "😡": -3, "😠": -3, "🤬": -3.5, "👎": -2.5, "😢": -2, "😭": -2, "🙁": -2, "☹": -2, "😞": -2, "😟": -1.5,
  "😤": -2, "😒": -1.5, "😩": -2, "😫": -2, "🤮": -3, "💩": -2, "😔": -1.5, "😑": -1, "🙄": -1.5,
  "😍": 3, "❤": 3, "💕": 3, "💖": 3, "🥰": 3, "👍": 2, "🙏": 1.5, "😊": 2.5, "🙂": 1.5, "😀": 2, "😃": 2,
  "😄": 2, "😁": 2, "🎉": 2, "👏": 2, "💯": 2, "⭐": 1.5, "🌟": 1.5, "🤩": 3, "😎": 1.5, "👌": 2,
  ":)": 2, ":-)": 2, ":D": 2.5, ":-D": 2.5, ";)": 1.5, ";-)": 1.5, "<3": 3, ":(": -2, ":-(": -2,
  ":'(": -2.5, ":/": -1, ":-/": -1, ">:(": -3, ":|": -0.5
}
