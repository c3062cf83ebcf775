/**
 * The exact source text of each element of a JSON array, so that a bulk item's `raw` is what
 * the client sent (SPEC §3: "the submitted JSON exactly as received"), spacing, escapes and
 * number forms included, rather than `JSON.stringify` of the parsed value.
 *
 * Only for text that `JSON.parse` has already accepted as an array: nothing is validated here.
 * The slices share the body's memory (V8 sliced strings) instead of copying or re-serialising
 * every item, which was a fifth of what bulk JSON ingest allocated.
 */
const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d

const isJsonWhitespace = (code: number): boolean => code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09

/** Index just past the closing quote of the string whose opening quote is at `open`. */
const endOfString = (text: string, open: number): number => {
  let at = open + 1
  for (;;) {
    const quote = text.indexOf('"', at)
    if (quote < 0) return text.length
    // A quote preceded by an odd run of backslashes is escaped.
    let backslashes = 0
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return quote + 1
    at = quote + 1
  }
}

export const jsonArrayElements = (text: string): Array<string> => {
  const elements: Array<string> = []
  let depth = 0
  // Start of the current element and the end of its last non-whitespace character (depth ≥ 1).
  let start = -1
  let end = -1
  for (let at = 0; at < text.length; at++) {
    const code = text.charCodeAt(at)
    if (isJsonWhitespace(code)) continue
    if (depth === 1) {
      if (code === COMMA) {
        elements.push(text.slice(start, end))
        start = -1
        continue
      }
      if (code === CLOSE_BRACKET) {
        if (start >= 0) elements.push(text.slice(start, end))
        return elements
      }
      if (start < 0) start = at
    }
    if (code === QUOTE) {
      at = endOfString(text, at) - 1
    } else if (code === OPEN_BRACKET || code === OPEN_BRACE) {
      depth++
    } else if (code === CLOSE_BRACKET || code === CLOSE_BRACE) {
      depth--
    }
    end = at + 1
  }
  return elements
}
