/**
 * Thread structure of a twcs file, in compact typed arrays (about 40 bytes a tweet plus the id
 * map), so the 2.8 M tweets of the real file fit easily in memory while their texts do not need to.
 */

/** Growable columns of the tweets accepted so far, indexed by their order in the file. */
export class TweetTable {
  size = 0
  ids = new Float64Array(1 << 16)
  parents = new Float64Array(1 << 16)
  times = new Float64Array(1 << 16)
  lines = new Int32Array(1 << 16)
  readonly indexById = new Map<number, number>()

  /** Adds a tweet; returns the index of an earlier tweet with the same id instead when there is one. */
  add(id: number, parentId: number, time: number, line: number): { readonly duplicateOf: number } | undefined {
    const earlier = this.indexById.get(id)
    if (earlier !== undefined) return { duplicateOf: earlier }
    if (this.size === this.ids.length) this.grow()
    const i = this.size++
    this.ids[i] = id
    this.parents[i] = parentId
    this.times[i] = time
    this.lines[i] = line
    this.indexById.set(id, i)
    return undefined
  }

  /**
   * Drops the id → index map once the threads are built (pass 2 needs only the columns): on the
   * 2.8 M-tweet file it is the largest thing on the heap, and pass 2 is where the import peaks.
   */
  forgetIds(): void {
    this.indexById.clear()
  }

  private grow(): void {
    const grow64 = (from: Float64Array) => {
      const to = new Float64Array(from.length * 2)
      to.set(from)
      return to
    }
    this.ids = grow64(this.ids)
    this.parents = grow64(this.parents)
    this.times = grow64(this.times)
    const lines = new Int32Array(this.lines.length * 2)
    lines.set(this.lines)
    this.lines = lines
  }
}

export interface ThreadIndex {
  /** Index of each tweet's root tweet. */
  readonly rootOf: Int32Array
  /** For a root index: how many tweets its thread holds (0 for non-roots). */
  readonly sizeOf: Int32Array
  readonly threads: number
}

/**
 * Follows `in_response_to_tweet_id` to the root: a tweet without a parent, or whose parent is not
 * in the file. A cycle ends the walk; its root is the cycle's smallest tweet id, so every tweet of
 * a cycle (and anything answering it) lands in one thread, and the same file always gives the same
 * roots. Each tweet is visited once (paths are memoised), so this is linear and never hangs.
 */
export const buildThreads = (table: TweetTable): ThreadIndex => {
  const n = table.size
  const parentIndex = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const parent = table.parents[i]
    parentIndex[i] = Number.isNaN(parent) ? -1 : (table.indexById.get(parent) ?? -1)
  }
  const rootOf = new Int32Array(n).fill(-1)
  const walkOf = new Int32Array(n).fill(-1)
  const path: Array<number> = []
  for (let start = 0; start < n; start++) {
    if (rootOf[start] >= 0) continue
    path.length = 0
    let at = start
    let root: number
    for (;;) {
      if (rootOf[at] >= 0) {
        root = rootOf[at]
        break
      }
      if (walkOf[at] === start) {
        // Back on this walk's own path: a cycle from `at` to the end of the path.
        root = at
        for (let k = path.indexOf(at); k < path.length; k++) if (table.ids[path[k]] < table.ids[root]) root = path[k]
        break
      }
      walkOf[at] = start
      path.push(at)
      const parent = parentIndex[at]
      if (parent < 0) {
        root = at
        break
      }
      at = parent
    }
    for (const k of path) rootOf[k] = root
  }
  const sizeOf = new Int32Array(n)
  let threads = 0
  for (let i = 0; i < n; i++) if (sizeOf[rootOf[i]]++ === 0) threads++
  return { rootOf, sizeOf, threads }
}
