/**
 * The embedded offline "local analyzer": lexicon + rules sentiment, evidence
 * based confidence and keyword/phrase topic clusters for support conversations.
 *
 * Layers (all deterministic, no network, no learned weights):
 *  - wink-nlp (eng-lite-web-model): tokenization, sentence boundaries, lemmas,
 *    part of speech, and its sentiment lexicon for words AFINN does not know;
 *  - AFINN-165 and the Emoji Sentiment Ranking shipped with `sentiment`;
 *  - the support-domain layer in phrases.ts: multi-word phrases, domain word
 *    weights, intensifiers, negation scope, "but" contrast, caps and "!".
 */
import { createRequire } from "node:module"
import type { Document, ItsFunction, Model, WinkMethods } from "wink-nlp"
import type WinkNLP from "wink-nlp"
import { type CompiledTerm, TermIndex, type TokenForms } from "./matcher.js"
import {
  CONCESSION_WORDS,
  CONTRAST_WORDS,
  DOMAIN_WORDS,
  DOWNTONERS,
  EMOJI_WEIGHTS,
  INTENSIFIERS,
  LESS_SUFFIX_EXCEPTIONS,
  NEGATION_BREAKERS,
  NEGATION_RAISING_VERBS,
  NEGATION_SCOPE_STOPS,
  NEGATORS,
  POS_SENSITIVE_WORDS,
  SENTIMENT_PHRASES
} from "./phrases.js"
import { FALLBACK_TOPIC, MAX_TOPICS, MIN_TOPIC_SCORE, POSITIVE_ONLY_TOPICS, TOPIC_TAXONOMY } from "./taxonomy.js"

export const LOCAL_ANALYZER_NAME = "local:lexicon-v1"

export type EvidenceKind = "lexicon" | "phrase" | "emoji" | "negation"

export interface Evidence {
  readonly cue: string
  /** Signed contribution to the raw score, in AFINN-like units, after all modifiers. */
  readonly weight: number
  readonly kind: EvidenceKind
}

export interface LocalAnalysis {
  /** -1..1, rounded to 3 decimals; 0 when no cue was found. */
  readonly sentimentScore: number
  /** 0..1, rounded to 3 decimals; grows with the amount and agreement of the evidence. */
  readonly confidence: number
  /** 1..5 snake_case topic labels, strongest first; FALLBACK_TOPIC when nothing matched. */
  readonly clusters: ReadonlyArray<string>
  /** <= 500 chars: polarity, strongest cues, topics. */
  readonly reasoning: string
  readonly evidence: ReadonlyArray<Evidence>
}

export interface Analyzer {
  analyze(text: string): LocalAnalysis
}

export { FALLBACK_TOPIC, TOPIC_LABELS } from "./taxonomy.js"

// Tuned on bench/data/tuning-set.jsonl only.
const MAX_INPUT_CHARS = 20_000

/**
 * Longest run of non-space characters read. wink's tokenizer tries its e-mail pattern from every
 * position of a run, so its time grows with the square of the run's length: five conversations of
 * 20,000 "!" took 12 s and held the daemon's event loop for 7 s. Nothing longer than this is a
 * word; a longer run (a row of "!", a pasted token, a long link) is read as its first
 * MAX_TOKEN_CHARS characters.
 */
export const MAX_TOKEN_CHARS = 100
const LONG_RUN = new RegExp(`\\S{${MAX_TOKEN_CHARS + 1},}`, "g")
const withinTokenLength = (text: string): string => (text.length <= MAX_TOKEN_CHARS ? text : text.replace(LONG_RUN, (run) => run.slice(0, MAX_TOKEN_CHARS)))
const MAX_EVIDENCE = 40
const MAX_REASONING_CHARS = 500
/** Squashes the raw AFINN-unit sum into -1..1 (VADER-style x / sqrt(x² + alpha)). */
const SCORE_ALPHA = 15
/** wink's lexicon is in -1..1; this maps it onto AFINN's scale. */
const WINK_TO_AFINN = 4
const NEGATION_WINDOW = 4
/** "not good" is clearly negative, "not bad" only mildly positive. */
const NEGATED_POSITIVE_FACTOR = -0.75
const NEGATED_NEGATIVE_FACTOR = -0.5
/** A negator with nothing to negate ("the food never came") is itself a weak negative cue. */
const BARE_NEGATION_WEIGHT = -0.6
/** Value of an unknown "-less"/"-ful" word, by suffix alone. */
const MORPHOLOGY_WEIGHT = 1.5
/** "too" before an unscored adjective ("too salty", "too long"). */
const EXCESS_WEIGHT = -0.7
const BEFORE_CONTRAST_FACTOR = 0.5
const AFTER_CONTRAST_FACTOR = 1.5
const CONCESSION_FACTOR = 0.5
const EXCLAMATION_STEP = 0.15
/** Weak punctuation cues, used only when a text has no other cue. */
const QUESTION_WEIGHT = -0.15
const EXCLAMATION_WEIGHT = 0.15
const MAX_EXCLAMATIONS = 3
const CAPS_FACTOR = 1.5
const SHOUTED_TEXT_FACTOR = 1.2
const FALLBACK_MEMO_LIMIT = 100_000
const HAS_LETTER = /[a-z]/
const POLARITY_THRESHOLD = 0.05
const EXACT_TIE = 1e-9
/** Raw-score nudge on an exact tie; squashes to about ±0.003. */
const TIE_BREAK_NUDGE = 0.01

// Named apart from `require`: the bundled dist/main.js defines its own at the top level.
const requirePackage = createRequire(import.meta.url)
const AFINN_165 = requirePackage("sentiment/languages/en/labels.json") as Readonly<Record<string, number>>
const EMOJI_SENTIMENT_RANKING = requirePackage("sentiment/build/emoji.json") as Readonly<Record<string, number>>

interface PhrasePayload {
  readonly weight: number
}

interface TopicPayload {
  readonly topicIndex: number
  readonly strength: number
}

interface Tokens extends TokenForms {
  readonly values: ReadonlyArray<string>
  readonly types: ReadonlyArray<string>
  readonly pos: ReadonlyArray<string>
  readonly sentenceSpans: ReadonlyArray<readonly [number, number]>
}

interface MutableEvidence {
  cue: string
  weight: number
  kind: EvidenceKind
  position: number
}

const round3 = (value: number): number => {
  const rounded = Math.round(value * 1000) / 1000
  return rounded === 0 ? 0 : rounded // no "-0" in output
}

const hasOwn = (record: object, key: string): boolean => Object.prototype.hasOwnProperty.call(record, key)

const isShoutedWord = (value: string): boolean => value.length >= 2 && /^[A-Z][A-Z']*[A-Z]$/.test(value)

const isShoutedText = (text: string): boolean => {
  let upper = 0
  for (const char of text) {
    if (char >= "a" && char <= "z") return false
    if (char >= "A" && char <= "Z") upper++
  }
  return upper >= 4
}

/**
 * Documents one wink instance reads before it is replaced. wink adds every token it has not
 * seen to its in-memory lexicon and never drops it, so a daemon reading tweets (handles, order
 * numbers, links, typos) grew without limit: measured +115 MB of heap after 200,000 texts with
 * three unseen tokens each, against a 192 MB heap cap. A fresh instance forgets what was learnt
 * (building one takes ~60 ms; measured on texts full of unseen tokens: heap flat at ~30 MB instead
 * of 144 MB after 200,000, for 17 k instead of 22 k analyses/s).
 */
export const WINK_RENEW_AFTER_DOCS = 20_000

/**
 * wink and its model (megabytes of JSON) are loaded on first use, so commands that never analyse
 * (validate, store, import-csv, --help) do not pay for them at start-up.
 * The model goes with its `metaCER` loader called once: wink-eng-lite-web-model 1.8's loader
 * assigns `JSON.stringify` of its own previous result back to itself, so every further instance
 * got a string escaped once more, until it overflowed ("Invalid string length") after a few dozen.
 */
let wink: { readonly winkNLP: typeof WinkNLP; readonly model: Model } | undefined
const loadWink = () =>
  (wink ??= (() => {
    const model = requirePackage("wink-eng-lite-web-model") as Model
    const load = model.metaCER as () => object
    let loaded: object | undefined
    return { winkNLP: requirePackage("wink-nlp") as typeof WinkNLP, model: { ...model, metaCER: () => (loaded ??= load()) } }
  })())

/** A wink pipeline whose `readDoc` moves to a fresh instance every `renewAfter` documents. */
export const renewingWink = (pipe: Array<string>, renewAfter: number) => {
  const { model, winkNLP } = loadWink()
  let instance: WinkMethods | undefined = winkNLP(model, pipe)
  let read = 0
  return {
    its: instance.its,
    readDoc: (text: string): Document => {
      if (instance === undefined || read >= renewAfter) {
        // Dropped first, so the collector may reclaim the old copy while the new one is built.
        instance = undefined
        instance = winkNLP(model, pipe)
        read = 0
      }
      read++
      return instance.readDoc(text)
    }
  }
}

/**
 * Contractions typed without the apostrophe ("hasnt", "wont", "cant") written with it, so the
 * phrases and the negation rules read them as wink reads "hasn't": "my package still hasnt
 * arrived" missed "still hasn't arrived" and its delivery topic.
 */
const withApostrophes = (text: string): string =>
  text.replace(/\b(has|have|had|did|does|do|is|was|are|were|would|could|should|ai|ca|wo)nt\b/gi, (_, stem: string) => `${stem}n't`)

export const makeLocalAnalyzer = (options: { readonly renewWinkAfterDocs?: number } = {}): Analyzer => {
  const renewAfter = options.renewWinkAfterDocs ?? WINK_RENEW_AFTER_DOCS
  // Texts need sentences, lemmas and POS (negation and scoring are done here); wink's sentiment
  // step is in the same pipeline only for the per-word lexicon look-ups: measured, it costs no
  // speed per text, and a second instance would hold another copy of the model (8.6 MB of heap).
  const nlp = renewingWink(["sbd", "pos", "sentiment"], renewAfter)
  const its = nlp.its
  // wink's typings declare the addon-based helpers narrower than out() accepts.
  const itsLemma = its.lemma as unknown as ItsFunction<string>
  const itsStem = its.stem as unknown as ItsFunction<string>

  const tokenize = (text: string): Tokens => {
    const doc = nlp.readDoc(text)
    const tokens = doc.tokens()
    const spans = doc.sentences().out(its.span) as unknown as ReadonlyArray<ReadonlyArray<number>>
    return {
      values: tokens.out(its.value),
      // wink reads a final "No." as the abbreviation of "number".
      normals: tokens.out(its.normal).map((normal) => (normal === "no." ? "no" : normal)),
      lemmas: tokens.out(itsLemma),
      types: tokens.out(its.type),
      pos: tokens.out(its.pos),
      sentenceSpans: spans.filter((span) => span[1] >= span[0]).map((span) => [span[0], span[1]] as const)
    }
  }

  const compile = <Payload>(text: string, payload: Payload): CompiledTerm<Payload> => {
    const forms = tokenize(text)
    return { text, normals: forms.normals, lemmas: forms.lemmas, payload }
  }

  const phraseIndex = new TermIndex<PhrasePayload>(
    SENTIMENT_PHRASES.map((phrase) => {
      const term = compile(phrase.text, { weight: phrase.weight })
      return phrase.exact === true ? { ...term, lemmas: term.normals } : term
    })
  )
  const topicSingleWords = new Map<string, Array<TopicPayload>>()
  const topicPhrases: Array<CompiledTerm<TopicPayload>> = []
  TOPIC_TAXONOMY.forEach((topic, topicIndex) => {
    for (const [term, strength] of Object.entries(topic.terms)) {
      const compiled = compile(term, { topicIndex, strength })
      if (compiled.normals.length === 1) {
        const entries = topicSingleWords.get(compiled.normals[0]) ?? []
        entries.push({ topicIndex, strength })
        topicSingleWords.set(compiled.normals[0], entries)
      } else topicPhrases.push(compiled)
    }
  })
  const topicPhraseIndex = new TermIndex<TopicPayload>(topicPhrases)

  const stemOf = (word: string): string => nlp.readDoc(word).tokens().out(itsStem)[0] ?? word

  // AFINN by Porter stem ("poisoning" → "poison"), for inflections AFINN lacks; stems whose
  // words disagree in sign ("stun": stunned -2, stunning +4) are left out.
  const afinnByStem = new Map<string, number>()
  {
    const words = Object.keys(AFINN_165).filter((word) => /^[a-z]+$/.test(word))
    const stems = nlp.readDoc(words.join(" ")).tokens().out(itsStem)
    const valuesByStem = new Map<string, Array<number>>()
    if (stems.length === words.length) {
      words.forEach((word, index) => {
        const values = valuesByStem.get(stems[index]) ?? []
        values.push(AFINN_165[word])
        valuesByStem.set(stems[index], values)
      })
    }
    for (const [stem, values] of valuesByStem) {
      if (values.some((value) => value > 0) && values.some((value) => value < 0)) continue
      afinnByStem.set(stem, values.reduce((sum, value) => sum + value, 0) / values.length)
    }
  }

  const winkWordValue = (word: string): number => {
    // wink's sentiment lexicon is only reachable through readDoc.
    const value = Number(nlp.readDoc(word).out(its.sentiment)) * WINK_TO_AFINN
    return Number.isFinite(value) ? value : 0
  }

  const curatedValue = (word: string): number | undefined => {
    if (hasOwn(DOMAIN_WORDS, word)) return DOMAIN_WORDS[word]
    if (hasOwn(AFINN_165, word)) return AFINN_165[word]
    return undefined
  }

  /** Words neither AFINN nor the domain list know: wink's lexicon, then morphology. Memoized. */
  const fallbackMemo = new Map<string, number>()
  const fallbackValue = (normal: string, lemma: string): number => {
    if (!HAS_LETTER.test(normal)) return 0 // order ids, prices, dates: not worth a look-up
    const key = `${normal} ${lemma}`
    const known = fallbackMemo.get(key)
    if (known !== undefined) return known
    let value = winkWordValue(normal)
    if (value === 0 && lemma !== normal) value = winkWordValue(lemma)
    if (value === 0 && /^[a-z]{4,}$/.test(normal)) value = afinnByStem.get(stemOf(normal)) ?? 0
    if (value === 0 && normal.length > 6 && normal.endsWith("ly")) {
      // "professionally" → "professional"
      value = curatedValue(normal.slice(0, -2)) ?? 0
    }
    if (value === 0 && normal.length > 5 && normal.startsWith("un")) {
      // "unreliable": a negated positive root; negative roots ("undead") are left alone.
      const root = curatedValue(normal.slice(2)) ?? winkWordValue(normal.slice(2))
      if (root > 0) value = root * NEGATED_POSITIVE_FACTOR
    }
    if (value === 0 && normal.length > 6 && normal.endsWith("less") && /^[a-z]+$/.test(normal)) {
      // "aimless", "soulless" are faults; a negative root makes praise ("painless", "fearless").
      const root = normal.slice(0, -4)
      const rootValue = curatedValue(root) ?? winkWordValue(root)
      if (hasOwn(LESS_SUFFIX_EXCEPTIONS, normal)) value = LESS_SUFFIX_EXCEPTIONS[normal]
      else value = rootValue < 0 ? MORPHOLOGY_WEIGHT : -MORPHOLOGY_WEIGHT
    }
    if (value === 0 && normal.length > 6 && normal.endsWith("ful") && /^[a-z]+$/.test(normal)) {
      // "masterful", "tasteful" are praise unless the root is negative ("wasteful").
      const root = normal.slice(0, -3)
      const rootValue = curatedValue(root) ?? winkWordValue(root)
      value = rootValue < 0 ? rootValue : MORPHOLOGY_WEIGHT
    }
    // Bounded memory in a long-running daemon: start over rather than grow without limit.
    if (fallbackMemo.size >= FALLBACK_MEMO_LIMIT) fallbackMemo.clear()
    fallbackMemo.set(key, value)
    return value
  }

  const wordValue = (normal: string, lemma: string, pos: string): number => {
    if (hasOwn(POS_SENSITIVE_WORDS, normal)) {
      const byPos = POS_SENSITIVE_WORDS[normal]
      return hasOwn(byPos, pos) ? byPos[pos] : 0
    }
    const curated = curatedValue(normal) ?? curatedValue(lemma)
    if (curated !== undefined) return curated
    if (NEGATORS.has(normal) || hasOwn(INTENSIFIERS, normal) || hasOwn(DOWNTONERS, normal)) return 0
    return fallbackValue(normal, lemma)
  }

  const emojiValue = (value: string): number => {
    if (hasOwn(EMOJI_WEIGHTS, value)) return EMOJI_WEIGHTS[value]
    if (hasOwn(EMOJI_SENTIMENT_RANKING, value)) return EMOJI_SENTIMENT_RANKING[value]
    return 0
  }

  const isWordLike = (tokens: Tokens, index: number): boolean =>
    tokens.types[index] === "word" || tokens.types[index] === "number"

  /** Per-token weight from clause structure, "!" and shouting. */
  const tokenMultipliers = (tokens: Tokens, shouted: boolean): Float64Array => {
    const multipliers = new Float64Array(tokens.normals.length).fill(shouted ? SHOUTED_TEXT_FACTOR : 1)
    const scale = (from: number, to: number, factor: number): void => {
      for (let index = from; index <= to; index++) multipliers[index] *= factor
    }
    tokens.sentenceSpans.forEach(([start, end], sentenceIndex) => {
      let exclamations = 0
      for (let index = start; index <= end; index++) if (tokens.normals[index] === "!") exclamations++
      if (exclamations > 0) scale(start, end, 1 + EXCLAMATION_STEP * Math.min(exclamations, MAX_EXCLAMATIONS))

      for (let index = start; index <= end; index++) {
        const normal = tokens.normals[index]
        if (CONTRAST_WORDS.has(normal)) {
          // "good, but slow": what follows "but" is what the writer means.
          if (index === start && sentenceIndex > 0) {
            const [previousStart, previousEnd] = tokens.sentenceSpans[sentenceIndex - 1]
            scale(previousStart, previousEnd, BEFORE_CONTRAST_FACTOR)
          } else scale(start, index - 1, BEFORE_CONTRAST_FACTOR)
          scale(index + 1, end, AFTER_CONTRAST_FACTOR)
        } else if (CONCESSION_WORDS.has(normal) && tokens.normals[index - 1] !== "a") {
          // "although the staff were nice, ...": the conceded clause counts less.
          let clauseEnd = index + 1
          while (
            clauseEnd <= end && tokens.normals[clauseEnd] !== "," && !CONTRAST_WORDS.has(tokens.normals[clauseEnd])
          ) clauseEnd++
          scale(index + 1, clauseEnd - 1, CONCESSION_FACTOR)
        }
      }
    })
    return multipliers
  }

  /** For each token, the index of the negator whose scope covers it, or -1. */
  const negationScopes = (tokens: Tokens, phraseOf: Int32Array): Int32Array => {
    const negatedBy = new Int32Array(tokens.normals.length).fill(-1)
    for (let index = 0; index < tokens.normals.length; index++) {
      if (!NEGATORS.has(tokens.normals[index]) || phraseOf[index] >= 0) continue
      if (NEGATION_BREAKERS.has(tokens.normals[index + 1] ?? "")) continue
      let words = 0
      for (let scoped = index + 1; scoped < tokens.normals.length && words < NEGATION_WINDOW; scoped++) {
        const normal = tokens.normals[scoped]
        if (!isWordLike(tokens, scoped) || CONTRAST_WORDS.has(normal) || NEGATORS.has(normal)) break
        if (NEGATION_SCOPE_STOPS.has(normal)) break
        if (negatedBy[scoped] < 0) negatedBy[scoped] = index
        words++
        if (tokens.pos[scoped] === "VERB" && !NEGATION_RAISING_VERBS.has(tokens.lemmas[scoped])) break
      }
    }
    return negatedBy
  }

  const intensityBefore = (tokens: Tokens, index: number): number => {
    let factor = 1
    for (let previous = index - 1; previous >= 0 && previous >= index - 2; previous--) {
      const normal = tokens.normals[previous]
      if (hasOwn(INTENSIFIERS, normal)) factor *= INTENSIFIERS[normal]
      else if (hasOwn(DOWNTONERS, normal)) factor *= DOWNTONERS[normal]
      else break
    }
    return factor
  }

  const negate = (value: number): number =>
    value * (value > 0 ? NEGATED_POSITIVE_FACTOR : NEGATED_NEGATIVE_FACTOR)

  const collectEvidence = (tokens: Tokens, shouted: boolean): Array<MutableEvidence> => {
    const count = tokens.normals.length
    const evidence: Array<MutableEvidence> = []

    // Phrases first (longest match wins); their words are not scored again.
    const phraseOf = new Int32Array(count).fill(-1)
    const phraseMatches: Array<{ start: number; end: number; term: CompiledTerm<PhrasePayload> }> = []
    for (let index = 0; index < count; index++) {
      const term = phraseIndex.longestAt(tokens, index)
      if (term === undefined) continue
      const end = index + term.normals.length - 1
      for (let covered = index; covered <= end; covered++) phraseOf[covered] = phraseMatches.length
      phraseMatches.push({ start: index, end, term })
      index = end
    }

    const multipliers = tokenMultipliers(tokens, shouted)
    const negatedBy = negationScopes(tokens, phraseOf)
    const negatorUsed = new Uint8Array(count)

    const emphasis = (index: number, negator: number): number => {
      if (shouted) return 1
      let factor = isShoutedWord(tokens.values[index]) ? CAPS_FACTOR : 1
      if (negator >= 0 && isShoutedWord(tokens.values[negator])) factor *= CAPS_FACTOR
      return factor
    }

    for (let index = 0; index < count; index++) {
      const phraseIndexAt = phraseOf[index]
      if (phraseIndexAt >= 0) {
        const match = phraseMatches[phraseIndexAt]
        if (match.start !== index || match.term.payload.weight === 0) continue
        const negator = negatedBy[index]
        let weight = match.term.payload.weight * intensityBefore(tokens, index) * multipliers[index]
        weight *= emphasis(index, negator)
        if (negator >= 0) {
          negatorUsed[negator] = 1
          weight = negate(weight)
        }
        evidence.push({
          cue: negator >= 0 ? `${tokens.normals[negator]} ${match.term.text}` : match.term.text,
          weight,
          kind: negator >= 0 ? "negation" : "phrase",
          position: index
        })
        continue
      }

      const type = tokens.types[index]
      if (type === "emoji" || type === "emoticon") {
        const value = emojiValue(tokens.values[index])
        if (value !== 0) {
          evidence.push({ cue: tokens.values[index], weight: value * multipliers[index], kind: "emoji", position: index })
        }
        continue
      }
      if (type === "hashtag") {
        // "#frustrated", "#fail": the tag's word, one-word tags only ("#worstservice" is not split).
        const word = tokens.normals[index].slice(1)
        const value = /^[a-z]+$/.test(word) ? wordValue(word, word, "ADJ") : 0
        if (value !== 0) evidence.push({ cue: tokens.normals[index], weight: value * multipliers[index], kind: "lexicon", position: index })
        continue
      }
      if (type !== "word" && type !== "number") continue

      const normal = tokens.normals[index]
      const value = wordValue(normal, tokens.lemmas[index], tokens.pos[index])
      if (value === 0) {
        if (normal === "too" && (tokens.pos[index + 1] === "ADJ" || tokens.pos[index + 1] === "ADV")) {
          const next = tokens.normals[index + 1]
          if (wordValue(next, tokens.lemmas[index + 1], tokens.pos[index + 1]) === 0) {
            evidence.push({ cue: `too ${next}`, weight: EXCESS_WEIGHT * multipliers[index], kind: "lexicon", position: index })
          }
        }
        continue
      }
      const negator = negatedBy[index]
      let weight = value * intensityBefore(tokens, index) * multipliers[index] * emphasis(index, negator)
      if (negator >= 0) {
        negatorUsed[negator] = 1
        weight = negate(weight)
      }
      evidence.push({
        cue: negator >= 0 ? `${tokens.normals[negator]} ${normal}` : normal,
        weight,
        kind: negator >= 0 ? "negation" : "lexicon",
        position: index
      })
    }

    // Negators that found nothing to flip still signal something went wrong.
    for (let index = 0; index < count; index++) {
      if (!NEGATORS.has(tokens.normals[index]) || phraseOf[index] >= 0 || negatorUsed[index] === 1) continue
      const next = tokens.normals[index + 1] ?? ""
      if (NEGATION_BREAKERS.has(next)) continue
      const cue = next !== "" && isWordLike(tokens, index + 1) ? `${tokens.normals[index]} ${next}` : tokens.normals[index]
      evidence.push({ cue, weight: BARE_NEGATION_WEIGHT * multipliers[index], kind: "negation", position: index })
    }
    if (evidence.length === 0) {
      // Nothing else found: a question leans negative (support questions are about problems,
      // review questions are rhetorical), an exclamation leans positive. Tiny on purpose.
      const question = tokens.normals.indexOf("?")
      const exclamation = tokens.normals.indexOf("!")
      if (question >= 0) evidence.push({ cue: "?", weight: QUESTION_WEIGHT, kind: "lexicon", position: question })
      else if (exclamation >= 0) {
        evidence.push({ cue: "!", weight: EXCLAMATION_WEIGHT, kind: "lexicon", position: exclamation })
      }
    }
    return evidence.sort((a, b) => a.position - b.position)
  }

  const rankTopics = (tokens: Tokens, sentimentScore: number): Array<string> => {
    const scores = new Float64Array(TOPIC_TAXONOMY.length)
    const seenWords = new Set<string>()
    const foundPhrases = new Set<CompiledTerm<TopicPayload>>()
    for (let index = 0; index < tokens.normals.length; index++) {
      const normal = tokens.normals[index]
      const lemma = tokens.lemmas[index]
      // A superlative is not its base word's topic: "the latest one" is no late delivery.
      const forms = lemma !== normal && normal.endsWith("est") && !lemma.endsWith("est") ? [normal] : [normal, lemma]
      for (const form of forms) {
        if (seenWords.has(form)) continue
        const entries = topicSingleWords.get(form)
        if (entries === undefined) continue
        seenWords.add(form)
        for (const entry of entries) scores[entry.topicIndex] += entry.strength
      }
      topicPhraseIndex.allAt(tokens, index, foundPhrases)
    }
    for (const phrase of foundPhrases) scores[phrase.payload.topicIndex] += phrase.payload.strength

    const ranked: Array<{ label: string; score: number; order: number }> = []
    TOPIC_TAXONOMY.forEach((topic, order) => {
      if (scores[order] < MIN_TOPIC_SCORE) return
      if (POSITIVE_ONLY_TOPICS.has(topic.label) && sentimentScore <= POLARITY_THRESHOLD) return
      ranked.push({ label: topic.label, score: scores[order], order })
    })
    ranked.sort((a, b) => b.score - a.score || a.order - b.order)
    const labels = ranked.slice(0, MAX_TOPICS).map((topic) => topic.label)
    return labels.length > 0 ? labels : [FALLBACK_TOPIC]
  }

  const KIND_DESCRIPTIONS: Readonly<Record<EvidenceKind, string>> = {
    phrase: "support phrase",
    lexicon: "lexicon",
    emoji: "emoji",
    negation: "negation"
  }

  const explain = (
    sentimentScore: number,
    agreement: number,
    evidence: ReadonlyArray<MutableEvidence>,
    clusters: ReadonlyArray<string>
  ): string => {
    const polarity = sentimentScore > POLARITY_THRESHOLD ? "positive" : sentimentScore < -POLARITY_THRESHOLD ? "negative" : "neutral"
    const label = agreement < 0.5 && evidence.length > 1 ? `mixed, leaning ${polarity}` : polarity
    // Merge repeated cues ("😡😡") so the strongest distinct drivers are listed.
    const merged = new Map<string, MutableEvidence & { count: number }>()
    for (const item of evidence) {
      const key = `${item.kind}\u0000${item.cue}`
      const existing = merged.get(key)
      if (existing === undefined) merged.set(key, { ...item, count: 1 })
      else {
        existing.weight += item.weight
        existing.count++
      }
    }
    const drivers = [...merged.values()]
      .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight) || a.position - b.position)
      .slice(0, 5)
      .map((item) => `"${item.cue}"${item.count > 1 ? ` x${item.count}` : ""} (${KIND_DESCRIPTIONS[item.kind]}, ${item.weight > 0 ? "+" : ""}${round3(item.weight)})`)
    const cues = drivers.length > 0 ? drivers.join(", ") : "no sentiment cues found"
    const reasoning = `${label}: ${cues}; topics: ${clusters.join(", ")}`
    return reasoning.length <= MAX_REASONING_CHARS ? reasoning : `${reasoning.slice(0, MAX_REASONING_CHARS - 1)}…`
  }

  const analyze = (text: string): LocalAnalysis => {
    const input = typeof text === "string" ? withApostrophes(withinTokenLength(text.slice(0, MAX_INPUT_CHARS))) : ""
    const tokens = tokenize(input)
    const evidence = collectEvidence(tokens, isShoutedText(input))

    let rawScore = 0
    let totalMagnitude = 0
    for (const item of evidence) {
      rawScore += item.weight
      totalMagnitude += Math.abs(item.weight)
    }
    if (Math.abs(rawScore) < EXACT_TIE && evidence.length > 0) {
      // Cues cancel out exactly ("a bad day into a good one"): the later cue decides, barely.
      rawScore = Math.sign(evidence[evidence.length - 1].weight) * TIE_BREAK_NUDGE
    }
    const sentimentScore = round3(rawScore / Math.sqrt(rawScore * rawScore + SCORE_ALPHA))
    // Confidence: how much evidence there is (saturating) and how much of it agrees.
    const agreement = totalMagnitude > 0 ? Math.abs(rawScore) / totalMagnitude : 0
    const evidenceStrength = 1 - Math.exp(-totalMagnitude / 6)
    const confidence = round3(0.05 + 0.9 * evidenceStrength * (0.3 + 0.7 * agreement))

    const clusters = rankTopics(tokens, sentimentScore)
    const kept =
      evidence.length <= MAX_EVIDENCE
        ? evidence
        : [...evidence]
            .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight) || a.position - b.position)
            .slice(0, MAX_EVIDENCE)
            .sort((a, b) => a.position - b.position)
    return {
      sentimentScore,
      confidence,
      clusters,
      reasoning: explain(sentimentScore, agreement, evidence, clusters),
      evidence: kept.map((item) => ({ cue: item.cue, weight: round3(item.weight), kind: item.kind }))
    }
  }

  return { analyze }
}
