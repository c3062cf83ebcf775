/**
 * Schema's decode issues for a file a person wrote (config.json, a pipeline file): every problem
 * at once, one sentence per field path, in the file's terms rather than Schema's.
 */
import { ParseResult } from "effect"

/** `Expected "a" | "b", actual "x"` → its alternatives and the value given. */
const mismatch = (message: string): { readonly expected: ReadonlyArray<string>; readonly actual: string } | undefined => {
  const match = /^Expected (.*), actual (.*)$/s.exec(message)
  return match === null ? undefined : { expected: match[1].split(" | "), actual: match[2] }
}

const article = (type: string): string => (/^(string|number|boolean)$/.test(type) ? `a ${type}` : type)

/**
 * `path: sentence` per field. Schema's own wording ("Expected …, actual …") is used only when
 * nothing better was said: an optional field adds "Expected undefined" beside its real complaint,
 * and a union of literals one line per member (they become "must be one of …").
 * `required` may add a hint to "is required" for some paths (e.g. the names a key can take).
 */
export const describeFileIssues = (
  error: ParseResult.ParseError,
  options: { readonly required?: (path: string) => string | undefined } = {}
): ReadonlyArray<string> => {
  const byPath = new Map<string, Array<string>>()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const key = issue.path.join(".")
    byPath.set(key, [...(byPath.get(key) ?? []), issue.message])
  }
  return [...byPath].map(([path, messages]) => {
    const said = messages.filter((message) => mismatch(message) === undefined)
    let sentence: string
    if (said.length > 0) {
      sentence = said
        .map((message) => {
          if (message === "is missing") {
            const hint = options.required?.(path)
            return hint === undefined ? "is required" : `is required (${hint})`
          }
          const unexpected = /^is unexpected, expected: (.*)$/s.exec(message)
          return unexpected === null ? message : `is not a field here (known: ${unexpected[1].split(" | ").join(", ")})`
        })
        .join("; ")
    } else {
      const parsed = messages.map(mismatch).filter((m) => m !== undefined)
      const expected = [...new Set(parsed.flatMap((m) => m.expected))].filter((type) => type !== "undefined")
      sentence = `must be ${expected.length > 1 ? `one of ${expected.join(", ")}` : article(expected[0] ?? "something else")} (got ${parsed[0]?.actual ?? "?"})`
    }
    return path === "" ? sentence : `${path}: ${sentence}`
  })
}
