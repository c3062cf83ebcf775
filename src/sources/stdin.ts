/** Source `stdin`: JSONL lines from standard input, numbered from 1. */
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Stream } from "effect"
import { isUtf8 } from "node:buffer"
import { fstatSync } from "node:fs"
import type { InputLine } from "../stages/validate.js"

/**
 * True when stdin carries data for us: a pipe, a socket (what Node's child_process gives) or a
 * redirected file. A terminal, /dev/null (systemd, Docker without -i) or a closed fd does not.
 */
export const stdinHasData = (): boolean => {
  try {
    const stat = fstatSync(0)
    return stat.isFIFO() || stat.isSocket() || stat.isFile()
  } catch {
    return false
  }
}

/**
 * Why standard input cannot be read as data, or undefined when it can. Node gives a directory
 * (`insightd validate < /tmp`) a stream that simply ends, so it read as empty input and the
 * command "succeeded" where `cat < /tmp` fails with EISDIR.
 */
export const stdinUnreadable = (): string | undefined => {
  try {
    return fstatSync(0).isDirectory() ? "cannot read stdin: it is a directory (EISDIR)" : undefined
  } catch {
    return undefined // no stdin at all (closed): it reads as empty, as for `< /dev/null`
  }
}

/** Why a line that is not valid UTF-8 is refused, wherever it is read. */
export const NOT_UTF8 = "not valid UTF-8 (JSON must be UTF-8)"

/**
 * The longest line read: far beyond any conversation the HTTP API takes (1 MiB by default) or
 * import-csv writes, and the bulk body limit. Past it a line's bytes are dropped, not gathered,
 * and the line is refused by its number, so one endless line cannot exhaust memory.
 */
export const MAX_LINE_BYTES = 16 * 1024 * 1024
export const LINE_TOO_LONG = `longer than ${MAX_LINE_BYTES / (1024 * 1024)} MiB (no conversation is that large)`

const NEWLINE = 0x0a
const CARRIAGE_RETURN = 0x0d

/**
 * Lines of any readable byte stream, numbered from 1 (`\n` or `\r\n` ends a line; a last line
 * without one counts too). Split as bytes, then decoded line by line, so a line that is not valid
 * UTF-8 is flagged with its own number instead of being decoded with U+FFFD in place of its bad
 * bytes and stored changed (JSON text is UTF-8, as for HTTP bodies). A line's pieces are joined
 * once, when its end arrives (joining at every chunk made a 32 MB line take 8 s).
 */
export const linesOf = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<InputLine, E, R> =>
  Stream.suspend(() => {
    let number = 0
    /** The start of a line whose end has not arrived yet, in pieces (copies). */
    let pieces: Array<Buffer> = []
    let pieceBytes = 0
    /** The current line passed MAX_LINE_BYTES: the rest of its bytes are dropped. */
    let overlong = false
    const lineOf = (buffer: Buffer, start: number, end: number, checked: boolean): InputLine => {
      const stop = end > start && buffer[end - 1] === CARRIAGE_RETURN ? end - 1 : end
      number++
      if (!checked && !isUtf8(buffer.subarray(start, stop))) return { line: number, text: buffer.toString("utf8", start, stop), unreadable: NOT_UTF8 }
      return { line: number, text: buffer.toString("utf8", start, stop) }
    }
    const tooLong = (): InputLine => {
      number++
      overlong = false
      return { line: number, text: "", unreadable: LINE_TOO_LONG }
    }
    /** Keeps the unfinished start of a line (a copy: the chunk's memory may be reused). */
    const keep = (piece: Buffer) => {
      if (overlong || piece.length === 0) return
      if (pieceBytes + piece.length > MAX_LINE_BYTES) {
        overlong = true
        pieces = []
        pieceBytes = 0
        return
      }
      pieces.push(Buffer.from(piece))
      pieceBytes += piece.length
    }
    /** The line that started in earlier chunks and ends at `end` of `buffer`. */
    const finishLine = (buffer: Buffer, end: number): InputLine => {
      if (overlong || pieceBytes + end > MAX_LINE_BYTES) {
        pieces = []
        pieceBytes = 0
        return tooLong()
      }
      const whole = Buffer.concat([...pieces, buffer.subarray(0, end)])
      pieces = []
      pieceBytes = 0
      return lineOf(whole, 0, whole.length, false)
    }
    const split = (chunk: Uint8Array): Array<InputLine> => {
      const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      const lines: Array<InputLine> = []
      let newline = buffer.indexOf(NEWLINE)
      if (newline === -1) {
        keep(buffer)
        return lines
      }
      let start = 0
      if (overlong || pieces.length > 0) {
        lines.push(finishLine(buffer, newline))
        start = newline + 1
        newline = buffer.indexOf(NEWLINE, start)
      }
      if (newline !== -1) {
        // One check for every complete line of the chunk; line by line only when it fails.
        const checked = isUtf8(buffer.subarray(start, buffer.lastIndexOf(NEWLINE)))
        while (newline !== -1) {
          lines.push(newline - start > MAX_LINE_BYTES ? tooLong() : lineOf(buffer, start, newline, checked))
          start = newline + 1
          newline = buffer.indexOf(NEWLINE, start)
        }
      }
      keep(buffer.subarray(start))
      return lines
    }
    const rest = Stream.suspend(() => {
      if (overlong) return Stream.make(tooLong())
      if (pieceBytes === 0) return Stream.empty
      const last = Buffer.concat(pieces)
      pieces = []
      pieceBytes = 0
      return Stream.make(lineOf(last, 0, last.length, false))
    })
    return bytes.pipe(Stream.mapConcat(split), Stream.concat(rest))
  })

export const stdinLines: Stream.Stream<InputLine> = linesOf(NodeStream.stdin)
