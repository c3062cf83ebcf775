/**
 * A streaming RFC 4180 CSV reader for twcs.csv, in place of csv-parse: the import spent more time
 * in csv-parse (byte by byte into its own buffers, plus an `info` object per record for line
 * numbers) than in everything else it does. This one scans decoded text with indexOf and slices
 * fields out of it.
 *
 * Accepted: `,` between fields; records end at LF or CRLF (a CR alone is data); fields may be
 * quoted, with `""` for a quote and any newline inside; a leading BOM is dropped. A record's line
 * is the 1-based physical line it starts on, counting LFs (so a CRLF is one line, as in an editor).
 * A malformed record (a quote inside an unquoted field, text after a closing quote, a quote left
 * open at the end of the input) is reported with its line and skipped; reading resumes at the
 * next line.
 */

export interface CsvSink {
  /** One record's fields; `line` is where it starts. */
  readonly record: (fields: Array<string>, line: number) => void
  readonly malformed: (line: number, reason: string) => void
}

const QUOTE = 34
const COMMA = 44
const LF = 10
const CR = 13

/** Result of scanning one record at `at`: where the next one starts, or -1 when the text ends first. */
type Scan = number

export class CsvReader {
  /** Text of a record not complete yet (kept for the next chunk). */
  private rest = ""
  /** Line of the first character of `rest`. */
  private line = 1
  private started = false

  constructor(private readonly sink: CsvSink) {}

  /** Feeds decoded text; complete records go to the sink at once. */
  push(chunk: string): void {
    let text = this.rest === "" ? chunk : this.rest + chunk
    if (!this.started && text.length > 0) {
      this.started = true
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    this.rest = ""
    const consumed = this.scanAll(text, false)
    this.rest = consumed < text.length ? text.slice(consumed) : ""
  }

  /** The input ended: the last record may lack its newline. */
  end(): void {
    const text = this.rest
    this.rest = ""
    if (text !== "") this.scanAll(text, true)
  }

  /** Scans records from the start of `text`; returns how much of it was consumed. */
  private scanAll(text: string, final: boolean): number {
    let at = 0
    while (at < text.length) {
      const next = this.scanRecord(text, at, final)
      if (next < 0) return at
      at = next
    }
    return at
  }

  /**
   * One record from `at`. Returns the index after its newline, or -1 when the text ends inside it
   * (more input needed). With `final`, the end of the text ends the record.
   */
  private scanRecord(text: string, at: number, final: boolean): Scan {
    const fields: Array<string> = []
    const length = text.length
    let pos = at
    let newlines = 0
    for (;;) {
      if (pos < length && text.charCodeAt(pos) === QUOTE) {
        // Quoted field: up to a quote not followed by another quote.
        let parts: Array<string> | undefined
        let from = pos + 1
        let close: number
        for (;;) {
          close = text.indexOf('"', from)
          if (close < 0) {
            if (!final) return -1
            this.skip(text, at, length, `malformed CSV: a quoted field is not closed at the end of the input`)
            return length
          }
          if (close + 1 < length && text.charCodeAt(close + 1) === QUOTE) {
            ;(parts ??= []).push(text.slice(from, close + 1))
            from = close + 2
            continue
          }
          if (close + 1 >= length && !final) return -1
          break
        }
        const last = text.slice(from, close)
        const value = parts === undefined ? last : parts.join("") + last
        newlines += countLf(text, pos + 1, close)
        fields.push(value)
        pos = close + 1
        const c = pos < length ? text.charCodeAt(pos) : -1
        if (c === COMMA) {
          pos++
          continue
        }
        if (c === -1) return this.emit(fields, newlines, length)
        if (c === LF) return this.emit(fields, newlines, pos + 1)
        if (c === CR && pos + 1 < length && text.charCodeAt(pos + 1) === LF) return this.emit(fields, newlines, pos + 2)
        if (c === CR && pos + 1 >= length && !final) return -1
        return this.skipLine(text, at, pos, final, `malformed CSV: got ${JSON.stringify(text[pos])} after a closing quote instead of a comma or the end of the line`)
      }
      // Unquoted field: up to the next comma or newline.
      let end = pos
      let c = -1
      while (end < length) {
        c = text.charCodeAt(end)
        if (c === COMMA || c === LF || c === QUOTE) break
        end++
      }
      if (end >= length) {
        if (!final) return -1
        c = -1
      }
      if (c === QUOTE) return this.skipLine(text, at, end, final, `malformed CSV: a quote inside an unquoted field (field ${fields.length + 1})`)
      if (c === COMMA) {
        fields.push(text.slice(pos, end))
        pos = end + 1
        continue
      }
      // Last field of the record: a CR before the LF belongs to the newline.
      fields.push(text.slice(pos, c === LF && end > pos && text.charCodeAt(end - 1) === CR ? end - 1 : end))
      return this.emit(fields, newlines, c === LF ? end + 1 : length)
    }
  }

  private emit(fields: Array<string>, newlines: number, next: number): number {
    const line = this.line
    this.line += newlines + 1
    this.sink.record(fields, line)
    return next
  }

  /** Reports the record at `at` and drops it up to the end of the line holding `from`. */
  private skipLine(text: string, at: number, from: number, final: boolean, reason: string): Scan {
    const lf = text.indexOf("\n", from)
    if (lf < 0 && !final) return -1
    const next = lf < 0 ? text.length : lf + 1
    this.skip(text, at, next, reason)
    return next
  }

  private skip(text: string, at: number, next: number, reason: string): void {
    const line = this.line
    this.line += countLf(text, at, next)
    this.sink.malformed(line, reason)
  }
}

/** LFs in text[from, to). */
const countLf = (text: string, from: number, to: number): number => {
  let n = 0
  for (let i = text.indexOf("\n", from); i >= 0 && i < to; i = text.indexOf("\n", i + 1)) n++
  return n
}
