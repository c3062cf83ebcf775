/**
 * Schema's decode issues for a file a person wrote (config.json, a pipeline file): every problem
 * at once, one sentence per field path, in the file's terms rather than Schema's.
 */
import { Either, ParseResult } from "effect"
import { readFileSync } from "node:fs"

/**
 * The JSON object a settings file holds, or why it holds none, in words: does not exist, cannot be
 * read (a directory, no permission), not valid JSON, or JSON that is not an object (Schema said
 * `must be Struct (Encoded side)` or printed the whole expected shape for `[]`).
 */
export const readJsonObjectFile = (path: string): Either.Either<unknown, string> => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return Either.left(code === "ENOENT" ? "does not exist" : code === "EISDIR" ? "is a directory, not a file" : `cannot be read (${(error as Error).message})`)
  }
  let json: unknown
  try {
    // A byte-order mark (which Windows editors write) is no JSON error, as on JSONL lines and bodies.
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
  } catch (error) {
    return Either.left(`not valid JSON (${(error as Error).message})`)
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    return Either.left(`must hold a JSON object {…} (got ${json === null ? "null" : Array.isArray(json) ? "an array" : typeof json})`)
  }
  return Either.right(json)
}

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
