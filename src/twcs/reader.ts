/**
 * Streams the Kaggle twcs.csv file as conversations, one per thread (SPEC §8), within a bounded
 * memory budget:
 *
 * 1. one `csv-parse` pass checks each row, keeps only ids, parents, times and line numbers in
 *    typed arrays (TweetTable), and spills each accepted tweet's message, already JSON-encoded, as
 *    one line (JSON escapes newlines, so a spill line is one tweet), in memory up to ~32 MB and
 *    to a temp file beyond;
 * 2. roots and thread sizes are computed from the arrays (cycles end the walk);
 * 3. the spill is read back in the same order; a thread is emitted as soon as all its tweets have
 *    been seen (they are mostly close together), so only open threads are held in memory.
 *
 * Reading the CSV once means stdin (`-`) works like a path. Output ids are `conv_twcs_<root id>`,
 * so importing the same file again yields the same conversations (idempotent in the store).
 */
import { parse } from "csv-parse"
import { Effect, Schema, Stream } from "effect"
import { once } from "node:events"
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, type WriteStream } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Readable } from "node:stream"
import { MAX_MESSAGES, MAX_TEXT_LENGTH } from "../domain/conversation.js"
import { checkRow, type ColumnIndex, columnIndex } from "./rows.js"
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
  spillRead: 0
})

/** Share of the work done, 0..1 (reading the CSV is most of it), or null when the size is unknown. */
export const progressFraction = (p: ImportProgress): number | null => {
  if (p.phase === "done") return 1
  if (p.phase === "reading") return p.totalBytes === null || p.totalBytes === 0 ? null : 0.85 * Math.min(1, p.bytesRead / p.totalBytes)
  if (p.phase === "threading") return 0.85
  return 0.85 + 0.15 * (p.spillBytes === 0 ? 1 : p.spillRead / p.spillBytes)
}

const BATCH = 512

/** Characters of spilled messages kept in memory before they go to the temp file (~32 MB). */
export const SPILL_MEMORY_CHARS = 32 << 20

/**
 * Where pass 1 puts the messages: memory while they fit the budget (a file of a few hundred
 * thousand tweets never touches the disk: writing and decoding it back cost ~10 % of the import),
 * then the temp file, starting with what memory held.
 */
class Spill {
  private memory: Array<string> | undefined = []
  private memoryChars = 0
  private file: WriteStream | undefined

  constructor(
    private readonly path: string,
    private readonly memoryBudget: number,
    private readonly onError: (error: Error) => void
  ) {}

  /** Appends text; false when the file asks to wait for "drain" (see `whenDrained`). */
  write(text: string): boolean {
    if (this.memory !== undefined) {
      if (this.memoryChars + text.length <= this.memoryBudget) {
        this.memory.push(text)
        this.memoryChars += text.length
        return true
      }
      this.file = createWriteStream(this.path)
      this.file.on("error", this.onError)
      for (const chunk of this.memory) this.file.write(chunk)
      this.memory = undefined
    }
    return this.file === undefined ? true : this.file.write(text)
  }

  whenDrained(resume: () => void): void {
    if (this.file === undefined) resume()
    else this.file.once("drain", resume)
  }

  destroy(): void {
    this.memory = []
    this.file?.destroy()
  }

  /** Everything written is readable (flushed to the file when there is one). */
  async finish(): Promise<void> {
    if (this.file === undefined) return
    this.file.end()
    await once(this.file, "finish")
  }

  /** The text in order, in large chunks; memory is let go as it is read. */
  async *chunks(): AsyncGenerator<string> {
    if (this.memory !== undefined) {
      const memory = this.memory
      this.memory = []
      for (let i = 0; i < memory.length; i++) {
        const chunk = memory[i]
        memory[i] = ""
        yield chunk
      }
      return
    }
    for await (const chunk of createReadStream(this.path, { highWaterMark: 1 << 20, encoding: "utf8" }) as AsyncIterable<string>) yield chunk
  }
}

interface Spilled {
  readonly table: TweetTable
  readonly spill: Spill
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
  let pending: Array<string> = []
  let pendingChars = 0
  /** The queued spill lines as one chunk; false when the file asks to wait. */
  const flush = (): boolean => {
    if (pending.length === 0) return true
    const text = pending.join("")
    pending = []
    pendingChars = 0
    progress.spillBytes += text.length
    return spill.write(text)
  }
  input.on("data", (chunk: Buffer) => {
    progress.bytesRead += chunk.length
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
        if (error !== undefined) {
          progress.rejected++
          onReject({ _tag: "Rejected", line: typeof error.lines === "number" ? error.lines - crlfInQuotes : 0, reason: `malformed CSV: ${error.message.replace(/^Invalid [^:]*: /, "")}` })
        }
        return undefined
      }
    })
  )
  input.on("error", (error) => parser.destroy(error))
  let columns: ColumnIndex | undefined
  let width = 0
  /** Checks one record, remembers it, queues its spill line; a header that is not twcs' is thrown. */
  const handle = (record: Array<string>): void => {
    const line = lastLine + 1
    let newlines = 0
    for (const field of record) {
      for (let at = field.indexOf("\n"); at >= 0; at = field.indexOf("\n", at + 1)) {
        newlines++
        if (at > 0 && field.charCodeAt(at - 1) === 13) crlfInQuotes++
      }
    }
    lastLine = line + newlines
    if (columns === undefined) {
      const found = columnIndex(record)
      if (typeof found === "string") throw new TwcsReadError({ message: found })
      columns = found
      width = record.length
      return
    }
    progress.rows++
    const checked = checkRow(record, columns, width)
    if (!checked.ok) {
      progress.rejected++
      onReject({ _tag: "Rejected", line, reason: checked.reason })
      return
    }
    const row = checked.row
    const duplicate = table.add(row.tweetId, row.parentId, row.time, line)
    if (duplicate !== undefined) {
      progress.rejected++
      onReject({ _tag: "Rejected", line, reason: `tweet_id ${row.tweetId} was already seen on line ${table.lines[duplicate.duplicateOf]}` })
      return
    }
    const spilled = `${JSON.stringify(row.author)}\t${JSON.stringify(row.text)}\t${row.iso}\t${row.inbound ? 1 : 0}\n`
    pending.push(spilled)
    pendingChars += spilled.length
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
      try {
        handle(record)
      } catch (error) {
        return fail(error)
      }
      if (pendingChars > 1 << 20 && !flush()) {
        parser.pause()
        spill.whenDrained(() => parser.resume())
      }
    })
    parser.on("end", () => resolve())
    parser.on("error", fail)
  })
  if (columns === undefined) throw new TwcsReadError({ message: "the file is empty: expected a twcs.csv header" })
  flush()
  await spill.finish()
  if (spillError !== undefined) throw spillError
  return { table, spill }
}

/** Spill lines in order. */
async function* spillLines(spill: Spill, progress: ImportProgress): AsyncGenerator<string> {
  let rest = ""
  for await (const chunk of spill.chunks()) {
    progress.spillRead += chunk.length
    const text = rest + chunk
    let start = 0
    for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
      yield text.slice(start, end)
      start = end + 1
    }
    rest = text.slice(start)
  }
}

/** Escaped contents of a JSON string literal: `"a\nb"` → `a\nb` (still escaped). */
const inner = (jsonString: string): string => jsonString.slice(1, -1)

/** The conversation text: the thread's messages, one per line, cut to the allowed length. */
const threadText = (texts: ReadonlyArray<string>): string => {
  let escapedLength = texts.length - 1
  for (const text of texts) escapedLength += text.length - 2
  // Escapes only lengthen a string, so within the limit escaped means within the limit decoded.
  if (escapedLength <= MAX_TEXT_LENGTH) return `"${texts.map(inner).join("\\n")}"`
  let joined = texts.map((text) => JSON.parse(text) as string).join("\n")
  if (joined.length > MAX_TEXT_LENGTH) {
    const cut = MAX_TEXT_LENGTH - 1
    // Never split a surrogate pair.
    joined = joined.slice(0, /[\uD800-\uDBFF]/.test(joined[cut - 1]) ? cut - 1 : cut) + "…"
  }
  return JSON.stringify(joined)
}

/** Builds one conversation's JSON from its spilled messages (the tweet indexes and spill lines). */
const composeThread = (table: TweetTable, rootIndex: number, members: Array<number>, lines: Map<number, string>): ImportedThread => {
  members.sort((a, b) => table.times[a] - table.times[b] || table.ids[a] - table.ids[b])
  const kept = members.length > MAX_MESSAGES ? members.slice(0, MAX_MESSAGES) : members
  const messages: Array<string> = []
  const texts: Array<string> = []
  const companies = new Set<string>()
  let customer: string | undefined
  let firstAuthor = ""
  let firstTimestamp = ""
  for (const index of kept) {
    const [author, text, timestamp, inbound] = lines.get(index)!.split("\t")
    if (firstTimestamp === "") {
      firstTimestamp = timestamp
      firstAuthor = author
    }
    if (inbound === "1") customer ??= author
    else companies.add(author)
    texts.push(text)
    messages.push(`{"author":${author},"text":${text},"timestamp":"${timestamp}","inbound":${inbound === "1"}}`)
  }
  const root = String(table.ids[rootIndex])
  const id = `conv_twcs_${root}`
  const tweetIds = kept.map((index) => `"${table.ids[index]}"`).join(",")
  const omitted = members.length - kept.length
  const metadata =
    `{"source":"twcs","root_tweet_id":"${root}","tweet_ids":[${tweetIds}],"companies":[${[...companies].join(",")}]` +
    (omitted > 0 ? `,"messages_omitted":${omitted}}` : "}")
  const json =
    `{"id":"${id}","author":${customer ?? firstAuthor},"timestamp":"${firstTimestamp}","text":${threadText(texts)},` +
    `"messages":[${messages.join(",")}],"metadata":${metadata}}`
  return { _tag: "Thread", id, rootTweetId: root, line: table.lines[rootIndex], size: members.length, json }
}

/** Pass 2: the spill read back; each thread emitted when its last tweet arrives. */
async function* emitThreads(spilled: Spilled, threads: ThreadIndex, progress: ImportProgress): AsyncGenerator<ImportEvent> {
  const { table } = spilled
  const open = new Map<number, Array<number>>()
  const openLines = new Map<number, Map<number, string>>()
  let index = 0
  for await (const line of spillLines(spilled.spill, progress)) {
    const root = threads.rootOf[index]
    const size = threads.sizeOf[root]
    if (size === 1) {
      progress.threadsEmitted++
      yield composeThread(table, root, [index], new Map([[index, line]]))
    } else {
      let members = open.get(root)
      let lines = openLines.get(root)
      if (members === undefined || lines === undefined) {
        members = []
        lines = new Map()
        open.set(root, members)
        openLines.set(root, lines)
      }
      members.push(index)
      lines.set(index, line)
      if (members.length === size) {
        open.delete(root)
        openLines.delete(root)
        progress.threadsEmitted++
        yield composeThread(table, root, members, lines)
      }
    }
    index++
  }
  if (index !== table.size || open.size > 0) {
    throw new TwcsReadError({ message: `internal: the spill file holds ${index} tweets, expected ${table.size}` })
  }
}

/** The whole import as batches of events: rejects as they are found, then the threads. */
async function* importBatches(source: string, spillDir: string, progress: ImportProgress, spillMemoryChars: number): AsyncGenerator<Array<ImportEvent>> {
  let input: Readable
  if (source === "-") {
    input = process.stdin
  } else {
    try {
      progress.totalBytes = statSync(source).size
    } catch (error) {
      throw new TwcsReadError({ message: `cannot read ${source}: ${(error as Error).message}` })
    }
    input = createReadStream(source, { highWaterMark: 1 << 20 })
  }
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
  progress.threadsTotal = threads.threads
  progress.phase = "emitting"
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
      (dir) =>
        Stream.fromAsyncIterable(importBatches(source, dir, progress, spillMemoryChars), (error) =>
          error instanceof TwcsReadError ? error : new TwcsReadError({ message: `import failed: ${String(error)}` })
        )
    )
  )

/** The conversations of a twcs file, as decoded JSON objects (ConversationInput shape). */
export const twcsConversations = (source: string): Stream.Stream<unknown, TwcsReadError> =>
  twcsImport(source).pipe(
    Stream.mapConcat((batch) => batch.flatMap((event) => (event._tag === "Thread" ? [JSON.parse(event.json) as unknown] : [])))
  )
