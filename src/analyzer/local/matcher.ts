/**
 * Token-sequence matching for multi-word cues and topic terms.
 *
 * A term is stored both as wink normal forms and as lemmas; a text token
 * matches a term token when either form agrees. This lets one entry such as
 * "hasn't arrived" also match "haven't arrived" and "has not arrived".
 */

export interface TokenForms {
  readonly normals: ReadonlyArray<string>
  readonly lemmas: ReadonlyArray<string>
}

export interface CompiledTerm<Payload> extends TokenForms {
  readonly text: string
  readonly payload: Payload
}

const matchesAt = <Payload>(term: CompiledTerm<Payload>, tokens: TokenForms, start: number): boolean => {
  const length = term.normals.length
  if (start + length > tokens.normals.length) return false
  for (let offset = 0; offset < length; offset++) {
    const index = start + offset
    if (tokens.normals[index] !== term.normals[offset] && tokens.lemmas[index] !== term.lemmas[offset]) return false
  }
  return true
}

export class TermIndex<Payload> {
  // Keyed by the first token's normal form and by its lemma; buckets are longest-first.
  private readonly byFirstToken = new Map<string, Array<CompiledTerm<Payload>>>()

  constructor(terms: ReadonlyArray<CompiledTerm<Payload>>) {
    for (const term of terms) {
      if (term.normals.length === 0) continue
      this.addToBucket(term.normals[0], term)
      if (term.lemmas[0] !== term.normals[0]) this.addToBucket(term.lemmas[0], term)
    }
    for (const bucket of this.byFirstToken.values()) bucket.sort((a, b) => b.normals.length - a.normals.length)
  }

  private addToBucket(key: string, term: CompiledTerm<Payload>): void {
    const bucket = this.byFirstToken.get(key)
    if (bucket === undefined) this.byFirstToken.set(key, [term])
    else if (!bucket.includes(term)) bucket.push(term)
  }

  /** Longest term starting at `start`, if any. */
  longestAt(tokens: TokenForms, start: number): CompiledTerm<Payload> | undefined {
    let best: CompiledTerm<Payload> | undefined
    for (const key of [tokens.normals[start], tokens.lemmas[start]]) {
      const bucket = this.byFirstToken.get(key)
      if (bucket === undefined) continue
      for (const term of bucket) {
        if (best !== undefined && term.normals.length <= best.normals.length) break
        if (matchesAt(term, tokens, start)) {
          best = term
          break
        }
      }
    }
    return best
  }

  /** Every term starting at `start` (overlaps allowed), each reported once. */
  allAt(tokens: TokenForms, start: number, found: Set<CompiledTerm<Payload>>): void {
    for (const key of [tokens.normals[start], tokens.lemmas[start]]) {
      const bucket = this.byFirstToken.get(key)
      if (bucket === undefined) continue
      for (const term of bucket) if (matchesAt(term, tokens, start)) found.add(term)
    }
  }
}
