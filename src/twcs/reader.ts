/**
 * Streams the Kaggle twcs.csv file as conversations, one per thread (SPEC §8), within a bounded
 * memory budget:
 *
 * 1. one `csv-parse` pass checks each row, keeps only ids, parents, times and line numbers in
 *    typed arrays (TweetTable), and spills each accepted tweet's message: as parsed, in memory up
 *    to ~32 MB, then JSON-encoded as one line (JSON escapes newlines, so a line is one tweet) in a
 *    temp file;
 * 2. roots and thread sizes are computed from the arrays (cycles end the walk);
 * 3. the spill is read back in the same order; a thread is emitted as soon as all its tweets have
 *    been seen (they are mostly close together), so only open threads are held in memory.
 *
 * Reading the CSV once means stdin (`-`) works like a path. Output ids are `conv_twcs_<root id>`,
 * so importing the same file again yields the same conversations (idempotent in the store).
 */
import { parse } from "csv-parse"
import { Effect, Option, Schema, Stream } from "effect"
import { isUtf8 } from "node:buffer"
import { once } from "node:events"
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, type WriteStream } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { addAbortSignal, type Readable } from "node:stream"
import { MAX_MESSAGES, MAX_TEXT_LENGTH, threadText } from "../domain/conversation.js"
import { checkRow, type ColumnIndex, columnIndex } from "./rows.js"
import { stdinUnreadable } from "../sources/stdin.js"
import { buildThreads, type ThreadIndex, TweetTable } from "./threads.js"

/** The file cannot be read as a twcs file at all (missing, unreadable, wrong header). */
export class TwcsReadError extends Schema.TaggedError<TwcsReadError>()("TwcsReadError", {
  message: Schema.String
}) {}

/** One rebuilt thread: the conversation serialised as JSON (a valid ConversationInput). */
export interface ImportedThread {
  readonly _tag: "Thread"
  readonly id: string
  readonly rootTweetId: string
  /** Line of the root tweet in the file. */
  readonly line: number
  readonly size: number
  readonly json: string
}

/** A row that was left out, with its (first) line number in the file and why. */
export interface RejectedRow {
  readonly _tag: "Rejected"
  readonly line: number
  readonly reason: string
}

export type ImportEvent = ImportedThread | RejectedRow

/** Live counters for progress reports (read by a reporter fiber while the import runs). */
export interface ImportProgress {
  phase: "reading" | "threading" | "emitting" | "done"
  totalBytes: number | null
  bytesRead: number
  rows: number
  rejected: number
  threadsTotal: number | null
  threadsEmitted: number
  spillBytes: number
  spillRead: number
  /** When emitting began (Date.now()), for the emitting phase's own rate. */
  emittingSince: number | null
}

export const newProgress = (): ImportProgress => ({
  phase: "reading",
  totalBytes: null,
  bytesRead: 0,
  rows: 0,
  rejected: 0,
  threadsTotal: null,
  threadsEmitted: 0,
  spillBytes: 0,
  spillRead: 0,
  emittingSince: null
})

/**
 * Share of the work done, 0..1, or null when the size is unknown. `emitShare` is the part of the
 * time that emitting takes: small when the threads go to stdout, most of it when each is stored.
 */
export const progressFraction = (p: ImportProgress, emitShare: number): number | null => {
  if (p.phase === "done") return 1
  if (p.phase === "reading") return p.totalBytes === null || p.totalBytes === 0 ? null : (1 - emitShare) * Math.min(1, p.bytesRead / p.totalBytes)
  if (p.phase === "threading") return 1 - emitShare
  return 1 - emitShare + emitShare * (p.spillBytes === 0 ? 1 : p.spillRead / p.spillBytes)
}

/**
 * Seconds left, from each phase's own pace: while reading, the rest of the file at the reading
 * rate plus the emitting phase estimated as `emitPerRead` times the reading time; once emitting
 * has gone on for a while, the rest of it at its own measured rate (the store, or whatever reads
 * stdout, sets that pace). Null while there is nothing to go on yet.
 */
export const progressEta = (p: ImportProgress, startedAt: number, now: number, emitPerRead: number): number | null => {
  const elapsed = (now - startedAt) / 1000
  if (p.phase === "done") return 0
  if (p.phase === "reading") {
    if (p.totalBytes === null || p.totalBytes === 0 || p.bytesRead === 0 || elapsed < 0.5) return null
    const readTotal = (elapsed * p.totalBytes) / Math.min(p.totalBytes, p.bytesRead)
    return readTotal - elapsed + readTotal * emitPerRead
  }
  if (p.phase === "threading" || p.emittingSince === null) return elapsed * emitPerRead
  const readSeconds = (p.emittingSince - startedAt) / 1000
  const emitting = (now - p.emittingSince) / 1000
  const done = p.spillBytes === 0 ? 1 : Math.min(1, p.spillRead / p.spillBytes)
  if (done >= 0.02 && emitting >= 1) return (emitting * (1 - done)) / done
  return Math.max(0, readSeconds * emitPerRead - emitting)
}

const BATCH = 512

/** Characters of spilled messages kept in memory before they go to the temp file (~32 MB). */
export const SPILL_MEMORY_CHARS = 32 << 20

/** One accepted tweet's message as pass 2 composes it: author and text JSON-encoded. */
interface SpilledMessage {
  readonly author: string
  readonly text: string
  readonly timestamp: string
  readonly inbound: boolean
}

const spillLine = (author: string, text: string, timestamp: string, inbound: boolean): string =>
  `${JSON.stringify(author)}\t${JSON.stringify(text)}\t${timestamp}\t${inbound ? 1 : 0}\n`

/** Rough size of a message in characters, for the memory budget and progress. */
const messageChars = (author: string, text: string): number => author.length + text.length + 32

/**
 * Where pass 1 puts the messages: memory while they fit the budget (a file of a few hundred
 * thousand tweets never touches the disk: writing and decoding it back cost ~10 % of the import),
 * then the temp file, starting with what memory held. In memory they stay as parsed: encoding
 * them as JSON waits for pass 2, which in `import-csv | store` runs while `store` works instead
 * of before it can start (pass 1 took ~16 % longer with the encoding).
 */
class Spill {
  private memory: { authors: Array<string>; texts: Array<string>; timestamps: Array<string>; inbound: Array<boolean> } | undefined = {
    authors: [],
    texts: [],
    timestamps: [],
    inbound: []
  }
  private memoryChars = 0
  private file: WriteStream | undefined
  /** Lines for the file, written in ~1 MB chunks. */
  private pending: Array<string> = []
  private pendingChars = 0
  /** Characters added (memory) or written (file): what pass 2 will read back. */
  chars = 0

  constructor(
    private readonly path: string,
    private readonly memoryBudget: number,
    private readonly onError: (error: Error) => void
  ) {}

  /** Adds one message; false when the file asks to wait for "drain" (see `whenDrained`). */
  add(author: string, text: string, timestamp: string, inbound: boolean): boolean {
    const memory = this.memory
    if (memory !== undefined) {
      const chars = messageChars(author, text)
      if (this.memoryChars + chars <= this.memoryBudget) {
        memory.authors.push(author)
        memory.texts.push(text)
        memory.timestamps.push(timestamp)
        memory.inbound.push(inbound)
        this.memoryChars += chars
        this.chars += chars
        return true
      }
      this.file = createWriteStream(this.path)
      this.file.on("error", this.onError)
      this.memory = undefined
      this.chars = 0
      for (let i = 0; i < memory.authors.length; i++) this.queue(spillLine(memory.authors[i], memory.texts[i], memory.timestamps[i], memory.inbound[i]))
    }
    return this.queue(spillLine(author, text, timestamp, inbound))
  }

  private queue(line: string): boolean {
    this.pending.push(line)
    this.pendingChars += line.length
    return this.pendingChars > 1 << 20 ? this.flush() : true
  }

  /** The queued lines as one chunk; false when the file asks to wait. */
  private flush(): boolean {
    if (this.pending.length === 0 || this.file === undefined) return true
    const text = this.pending.join("")
    this.pending = []
    this.pendingChars = 0
    this.chars += text.length
    return this.file.write(text)
  }

  whenDrained(resume: () => void): void {
    if (this.file === undefined) resume()
    else this.file.once("drain", resume)
  }

  destroy(): void {
    this.memory = undefined
    this.pending = []
    this.file?.destroy()
  }

  /** Everything added is readable (flushed to the file when there is one). */
  async finish(): Promise<void> {
    if (this.file === undefined) return
    this.flush()
    this.file.end()
    await once(this.file, "finish")
  }

  /** The messages in order; memory is let go as they are read. `onRead` counts characters. */
  async *messages(onRead: (chars: number) => void): AsyncGenerator<SpilledMessage> {
    const memory = this.memory
    if (memory !== undefined) {
      this.memory = undefined
      const { authors, texts, timestamps, inbound } = memory
      for (let i = 0; i < authors.length; i++) {
        const author = authors[i]
        const text = texts[i]
        authors[i] = texts[i] = ""
        onRead(messageChars(author, text))
        yield { author: JSON.stringify(author), text: JSON.stringify(text), timestamp: timestamps[i], inbound: inbound[i] }
      }
      return
    }
    let rest = ""
    for await (const chunk of createReadStream(this.path, { highWaterMark: 1 << 20, encoding: "utf8" }) as AsyncIterable<string>) {
      onRead(chunk.length)
      const text = rest + chunk
      let start = 0
      for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
        const [author, escapedText, timestamp, inboundFlag] = text.slice(start, end).split("\t")
        yield { author, text: escapedText, timestamp, inbound: inboundFlag === "1" }
        start = end + 1
      }
      rest = text.slice(start)
    }
  }
}

interface Spilled {
  readonly table: TweetTable
  readonly spill: Spill
}

/**
 * Which physical lines of a byte stream are not valid UTF-8 (checked chunk by chunk as the bytes
 * arrive, a character split across chunks kept whole). csv-parse would decode bad bytes as U+FFFD
 * and the row would be stored changed, as JSONL lines and HTTP bodies never are.
 */
class Utf8Lines {
  /** Newlines seen before the current chunk. */
  private newlines = 0
  /** The start of a character cut off at the end of the previous chunk. */
  private carry: Buffer = Buffer.alloc(0)
  /** Bad line numbers not yet matched with a record, ascending. */
  private readonly bad: Array<number> = []

  check(chunk: Buffer): void {
    const bytes = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk])
    const whole = bytes.length - incompleteTail(bytes)
    this.carry = Buffer.from(bytes.subarray(whole))
    const body = bytes.subarray(0, whole)
    if (!isUtf8(body)) {
      // Rare: find the lines, segment by segment.
      let start = 0
      let line = this.newlines + 1
      for (;;) {
        const end = body.indexOf(NEWLINE, start)
        const segment = body.subarray(start, end < 0 ? body.length : end)
        if (!isUtf8(segment) && this.bad.at(-1) !== line) this.bad.push(line)
        if (end < 0) break
        start = end + 1
        line++
      }
    }
    for (let at = body.indexOf(NEWLINE); at >= 0; at = body.indexOf(NEWLINE, at + 1)) this.newlines++
  }

  /** Whether a line from `first` to `last` is bad (bad lines before `first` are forgotten). */
  badWithin(first: number, last: number): boolean {
    while (this.bad.length > 0 && this.bad[0] < first) this.bad.shift()
    let found = false
    while (this.bad.length > 0 && this.bad[0] <= last) {
      this.bad.shift()
      found = true
    }
    return found
  }

  endsMidCharacter(): boolean {
    return this.carry.length > 0
  }
}

const NEWLINE = 0x0a
const NOT_UTF8 = "not valid UTF-8 (the file must be UTF-8)"

/** Bytes at the end of `bytes` that begin a UTF-8 character still missing its continuation bytes. */
const incompleteTail = (bytes: Buffer): number => {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back]
    if ((byte & 0xc0) === 0x80) continue // a continuation byte: look further back
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1
    return needed > back ? back : 0
  }
  return 0
}

/** Pass 1: parse, check, remember the structure, spill the messages. Rejects go to `onReject`. */
const readAndSpill = async (
  input: Readable,
  spillFile: string,
  progress: ImportProgress,
  onReject: (row: RejectedRow) => void,
  spillMemoryChars: number
): Promise<Spilled> => {
  const table = new TweetTable()
  let spillError: Error | undefined
  let failReading: ((error: unknown) => void) | undefined
  const spill = new Spill(spillFile, spillMemoryChars, (error) => {
    spillError = error
    failReading?.(error)
  })
  const utf8 = new Utf8Lines()
  input.on("data", (chunk: Buffer) => {
    progress.bytesRead += chunk.length
    // Before the parser sees this chunk (its listener comes second): which lines are not UTF-8.
    utf8.check(chunk)
  })
  // No `info: true`: csv-parse's per-record info objects cost about a third of its time (and as
  // much again in GC). Each record's line is counted here instead: the line after the previous
  // record's last one, plus the LFs inside its fields (so a CRLF inside quotes is one line, as in an
  // editor; csv-parse's own count, in its errors, has it as two, hence crlfInQuotes).
  let lastLine = 0
  let crlfInQuotes = 0
  const parser = input.pipe(
    parse({
      bom: true,
      relax_column_count: true,
      skip_records_with_error: true,
      on_skip: (error) => {
        if (error === undefined) return undefined
        const at = typeof error.lines === "number" ? error.lines - crlfInQuotes : lastLine + 1
        // csv-parse may report one bad record several times (each stray quote in it): once is enough.
        if (at <= lastLine) return undefined
        // The skipped record began on the line after the previous record and ends where the error
        // was found: an unclosed quote swallows every line up to the next quote, and those rows
        // are named by the range rather than left out silently.
        const start = lastLine + 1
        const end = at
        lastLine = end
        progress.rows++
        progress.rejected++
        const reason = `malformed CSV: ${error.message.replace(/^Invalid [^:]*: /, "")}`
        onReject({ _tag: "Rejected", line: start, reason: end > start ? `${reason} (lines ${start}-${end} are left out: a quote opened on line ${start} is not closed where it should be)` : reason })
        return undefined
      }
    })
  )
  input.on("error", (error) => parser.destroy(error))
  let columns: ColumnIndex | undefined
  let width = 0
  /**
   * Checks one record, remembers it, spills its message; a header that is not twcs' is thrown.
   * False when the spill file asks to wait.
   */
  const handle = (record: Array<string>): boolean => {
    const line = lastLine + 1
    let newlines = 0
    for (const field of record) {
      for (let at = field.indexOf("\n"); at >= 0; at = field.indexOf("\n", at + 1)) {
        newlines++
        if (at > 0 && field.charCodeAt(at - 1) === 13) crlfInQuotes++
      }
    }
    lastLine = line + newlines
    if (utf8.badWithin(line, lastLine)) {
      if (columns === undefined) throw new TwcsReadError({ message: "the header is not valid UTF-8: expected a twcs.csv header" })
      progress.rows++
      progress.rejected++
      onReject({ _tag: "Rejected", line, reason: NOT_UTF8 })
      return true
    }
    // An empty line (a blank line between rows, or at the end) is no row.
    if (record.length === 1 && record[0] === "") return true
    if (columns === undefined) {
      const found = columnIndex(record)
      if (typeof found === "string") throw new TwcsReadError({ message: found })
      columns = found
      width = record.length
      return true
    }
    progress.rows++
    const checked = checkRow(record, columns, width)
    if (!checked.ok) {
      progress.rejected++
      onReject({ _tag: "Rejected", line, reason: checked.reason })
      return true
    }
    const row = checked.row
    const duplicate = table.add(row.tweetId, row.parentId, row.time, line)
    if (duplicate !== undefined) {
      progress.rejected++
      onReject({ _tag: "Rejected", line, reason: `tweet_id ${row.tweetId} was already seen on line ${table.lines[duplicate.duplicateOf]}` })
      return true
    }
    return spill.add(row.author, row.text, row.iso, row.inbound)
  }
  // Records are taken as 'data' events rather than with `for await`: a promise per record was the
  // next largest cost after the parsing itself. The parser pauses while the spill file catches up.
  await new Promise<void>((resolve, reject) => {
    const fail = (error: unknown) => {
      input.destroy()
      parser.destroy()
      spill.destroy()
      reject(error)
    }
    failReading = fail
    parser.on("data", (record: Array<string>) => {
      let goOn: boolean
      try {
        goOn = handle(record)
      } catch (error) {
        return fail(error)
      }
      if (!goOn) {
        parser.pause()
        spill.whenDrained(() => parser.resume())
      }
    })
    parser.on("end", () => resolve())
    parser.on("error", fail)
  })
  if (utf8.endsMidCharacter()) {
    progress.rejected++
    onReject({ _tag: "Rejected", line: lastLine, reason: `${NOT_UTF8}: the file ends in the middle of a character` })
  }
  if (columns === undefined) throw new TwcsReadError({ message: "the file is empty: expected a twcs.csv header" })
  await spill.finish()
  if (spillError !== undefined) throw spillError
  progress.spillBytes = spill.chars
  return { table, spill }
}

/** Escaped contents of a JSON string literal: `"a\nb"` → `a\nb` (still escaped). */
const inner = (jsonString: string): string => jsonString.slice(1, -1)

/** The conversation text as a JSON string: the thread's messages (JSON-encoded), as threadText makes it. */
const threadTextJson = (texts: ReadonlyArray<string>): string => {
  let escapedLength = texts.length - 1
  for (const text of texts) escapedLength += text.length - 2
  // Escapes only lengthen a string, so within the limit escaped means within the limit decoded.
  if (escapedLength <= MAX_TEXT_LENGTH) return `"${texts.map(inner).join("\\n")}"`
  return JSON.stringify(threadText(texts.map((text) => JSON.parse(text) as string)))
}

/** The handle a company reply opens with (`@115712 …` → `"115712"`, JSON-encoded), if any. */
const mentionedCustomer = (replyJson: string): string | undefined => {
  const handle = /^\s*@([A-Za-z0-9_]{1,64})\b/.exec(JSON.parse(replyJson) as string)?.[1]
  return handle === undefined ? undefined : JSON.stringify(handle)
}

/** Builds one conversation's JSON from its spilled messages (by tweet index). */
const composeThread = (table: TweetTable, rootIndex: number, members: Array<number>, spilled: Map<number, SpilledMessage>): ImportedThread => {
  members.sort((a, b) => table.times[a] - table.times[b] || table.ids[a] - table.ids[b])
  const kept = members.length > MAX_MESSAGES ? members.slice(0, MAX_MESSAGES) : members
  const messages: Array<string> = []
  const texts: Array<string> = []
  const companies = new Set<string>()
  let customer: string | undefined
  let firstAuthor = ""
  let firstTimestamp = ""
  let firstReply: string | undefined
  for (const index of kept) {
    const { author, text, timestamp, inbound } = spilled.get(index)!
    if (firstTimestamp === "") {
      firstTimestamp = timestamp
      firstAuthor = author
    }
    if (inbound) customer ??= author
    else {
      companies.add(author)
      firstReply ??= text
    }
    texts.push(text)
    messages.push(`{"author":${author},"text":${text},"timestamp":"${timestamp}","inbound":${inbound}}`)
  }
  const root = String(table.ids[rootIndex])
  const id = `conv_twcs_${root}`
  const tweetIds = kept.map((index) => `"${table.ids[index]}"`).join(",")
  const omitted = members.length - kept.length
  // No inbound tweet: the customer's own tweets are missing from the file (a company reply to an
  // absent parent became the root). twcs replies open with the customer's handle
  // (`@115712 Sorry to hear…`, the customer's author_id), so that handle is the author, and the
  // metadata says so; only without such a mention does the company stand in.
  const mentioned = customer === undefined && firstReply !== undefined ? mentionedCustomer(firstReply) : undefined
  const metadata =
    `{"source":"twcs","root_tweet_id":"${root}","tweet_ids":[${tweetIds}],"companies":[${[...companies].join(",")}]` +
    (mentioned !== undefined ? `,"author_from":"mention"` : "") +
    (omitted > 0 ? `,"messages_omitted":${omitted}}` : "}")
  const json =
    `{"id":"${id}","author":${customer ?? mentioned ?? firstAuthor},"timestamp":"${firstTimestamp}","text":${threadTextJson(texts)},` +
    `"messages":[${messages.join(",")}],"metadata":${metadata}}`
  return { _tag: "Thread", id, rootTweetId: root, line: table.lines[rootIndex], size: members.length, json }
}

/** Pass 2: the spill read back; each thread emitted when its last tweet arrives. */
async function* emitThreads(spilled: Spilled, threads: ThreadIndex, progress: ImportProgress): AsyncGenerator<ImportEvent> {
  const { table } = spilled
  const open = new Map<number, Array<number>>()
  const openMessages = new Map<number, Map<number, SpilledMessage>>()
  let index = 0
  for await (const message of spilled.spill.messages((chars) => (progress.spillRead += chars))) {
    const root = threads.rootOf[index]
    const size = threads.sizeOf[root]
    if (size === 1) {
      progress.threadsEmitted++
      yield composeThread(table, root, [index], new Map([[index, message]]))
    } else {
      let members = open.get(root)
      let messages = openMessages.get(root)
      if (members === undefined || messages === undefined) {
        members = []
        messages = new Map()
        open.set(root, members)
        openMessages.set(root, messages)
      }
      members.push(index)
      messages.set(index, message)
      if (members.length === size) {
        open.delete(root)
        openMessages.delete(root)
        progress.threadsEmitted++
        yield composeThread(table, root, members, messages)
      }
    }
    index++
  }
  if (index !== table.size || open.size > 0) {
    throw new TwcsReadError({ message: `internal: the spill holds ${index} tweets, expected ${table.size}` })
  }
}

/** The whole import as batches of events: rejects as they are found, then the threads. */
async function* importBatches(
  source: string,
  spillDir: string,
  progress: ImportProgress,
  spillMemoryChars: number,
  stopped: AbortSignal
): AsyncGenerator<Array<ImportEvent>> {
  let input: Readable
  if (source === "-") {
    const unreadable = stdinUnreadable()
    if (unreadable !== undefined) throw new TwcsReadError({ message: unreadable })
    input = process.stdin
  } else {
    try {
      progress.totalBytes = statSync(source).size
    } catch (error) {
      throw new TwcsReadError({ message: `cannot read ${source}: ${(error as Error).message}` })
    }
    input = createReadStream(source, { highWaterMark: 1 << 20 })
  }
  // Stopping (Ctrl-C, SIGTERM) destroys the input, which ends the reading phase at once.
  addAbortSignal(stopped, input)
  const rejects: Array<RejectedRow> = []
  let spilled: Spilled
  try {
    const reading = readAndSpill(input, join(spillDir, "messages.tsv"), progress, (row) => rejects.push(row), spillMemoryChars)
    spilled = await reading
  } catch (error) {
    if (error instanceof TwcsReadError) throw error
    throw new TwcsReadError({ message: `cannot read ${source === "-" ? "stdin" : source}: ${(error as Error).message}` })
  }
  if (rejects.length > 0) yield rejects.splice(0)
  progress.phase = "threading"
  const threads = buildThreads(spilled.table)
  spilled.table.forgetIds()
  progress.threadsTotal = threads.threads
  progress.phase = "emitting"
  progress.emittingSince = Date.now()
  let batch: Array<ImportEvent> = []
  for await (const event of emitThreads(spilled, threads, progress)) {
    batch.push(event)
    if (batch.length >= BATCH) {
      yield batch
      batch = []
    }
  }
  if (batch.length > 0) yield batch
  progress.phase = "done"
}

/**
 * Events of importing `source` (a path, or `-` for stdin) in batches: rejected rows (each with
 * its line number) and rebuilt threads. The spill directory is removed when the stream ends.
 */
export const twcsImport = (
  source: string,
  progress: ImportProgress = newProgress(),
  spillMemoryChars: number = SPILL_MEMORY_CHARS
): Stream.Stream<ReadonlyArray<ImportEvent>, TwcsReadError> =>
  Stream.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "insightd-twcs-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      ),
      (dir) => {
        // Not Stream.fromAsyncIterable: interrupted, it asks the generator to return, and an async
        // generator answers that only once its pending step is done, here the whole reading phase
        // (seconds, or until stdin closes). The step's own abort signal stops the reading instead.
        const stop = new AbortController()
        const batches = importBatches(source, dir, progress, spillMemoryChars, stop.signal)
        const toError = (error: unknown) => (error instanceof TwcsReadError ? error : new TwcsReadError({ message: `import failed: ${String(error)}` }))
        return Stream.repeatEffectOption(
          Effect.tryPromise({
            try: (interrupted) => {
              interrupted.addEventListener("abort", () => stop.abort(), { once: true })
              return batches.next()
            },
            catch: toError
          }).pipe(
            Effect.mapError(Option.some),
            Effect.flatMap((step) => (step.done === true ? Effect.fail(Option.none()) : Effect.succeed(step.value)))
          )
        ).pipe(Stream.ensuring(Effect.ignore(Effect.tryPromise(() => batches.return(undefined)))))
      }
    )
  )

/** The conversations of a twcs file, as decoded JSON objects (ConversationInput shape). */
export const twcsConversations = (source: string): Stream.Stream<unknown, TwcsReadError> =>
  twcsImport(source).pipe(
    Stream.mapConcat((batch) => batch.flatMap((event) => (event._tag === "Thread" ? [JSON.parse(event.json) as unknown] : [])))
  )
