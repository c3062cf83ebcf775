/**
 * Content identity for idempotent resubmission (SPEC §4: the same id with the same content is a
 * 202, different content a 409). It is only asked when an id arrives a second time, which is rare,
 * so nothing is computed per conversation on the way in: identical raw JSON is the same content;
 * otherwise both sides are compared as canonical JSON (object keys sorted, whitespace ignored), so
 * a client that re-serialises its body in another key order is still recognised.
 */

/** JSON with object keys sorted. Inputs passed validation's depth limit, so recursion is bounded. */
const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  const keys = Object.keys(value).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`).join(",")}}`
}

const canonicalOf = (raw: string): string | undefined => {
  try {
    return canonicalJson(JSON.parse(raw))
  } catch {
    // Not JSON (a row written around the Store): it cannot be shown to be the same content.
    return undefined
  }
}

/** Whether two submissions (their raw JSON) carry the same content. */
export const sameContent = (storedRaw: string, submittedRaw: string): boolean => {
  if (storedRaw === submittedRaw) return true
  const stored = canonicalOf(storedRaw)
  return stored !== undefined && stored === canonicalOf(submittedRaw)
}
