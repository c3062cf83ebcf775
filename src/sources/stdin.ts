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

/** Why a line flagged `invalidUtf8` is refused, wherever it is read. */
export const NOT_UTF8 = "not valid UTF-8 (JSON must be UTF-8)"

const NEWLINE = 0x0a
const CARRIAGE_RETURN = 0x0d

/**
 * Lines of any readable byte stream, numbered from 1 (`\n` or `\r\n` ends a line; a last line
 * without one counts too). Split as bytes, then decoded line by line, so a line that is not valid
 * UTF-8 is flagged with its own number instead of being decoded with U+FFFD in place of its bad
 * bytes and stored changed (JSON text is UTF-8, as for HTTP bodies).
 */
export const linesOf = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<InputLine, E, R> =>
  Stream.suspend(() => {
    let number = 0
    /** The start of a line whose end has not arrived yet. */
    let partial: Buffer | undefined
    const lineOf = (buffer: Buffer, start: number, end: number, checked: boolean): InputLine => {
      const stop = end > start && buffer[end - 1] === CARRIAGE_RETURN ? end - 1 : end
      number++
      if (!checked && !isUtf8(buffer.subarray(start, stop))) return { line: number, text: buffer.toString("utf8", start, stop), invalidUtf8: true }
      return { line: number, text: buffer.toString("utf8", start, stop) }
    }
    const split = (chunk: Uint8Array): Array<InputLine> => {
      let buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      const lines: Array<InputLine> = []
      let newline = buffer.indexOf(NEWLINE)
      if (newline === -1) {
        partial = partial === undefined ? Buffer.from(buffer) : Buffer.concat([partial, buffer])
        return lines
      }
      if (partial !== undefined) {
        buffer = Buffer.concat([partial, buffer])
        newline += partial.length
        partial = undefined
      }
      const complete = buffer.lastIndexOf(NEWLINE)
      // One check for every complete line of the chunk; line by line only when it fails.
      const checked = isUtf8(buffer.subarray(0, complete))
      let start = 0
      while (newline !== -1) {
        lines.push(lineOf(buffer, start, newline, checked))
        start = newline + 1
        newline = buffer.indexOf(NEWLINE, start)
      }
      if (start < buffer.length) partial = Buffer.from(buffer.subarray(start))
      return lines
    }
    const rest = Stream.suspend(() => {
      const last = partial
      partial = undefined
      return last === undefined || last.length === 0 ? Stream.empty : Stream.make(lineOf(last, 0, last.length, false))
    })
    return bytes.pipe(Stream.mapConcat(split), Stream.concat(rest))
  })

export const stdinLines: Stream.Stream<InputLine> = linesOf(NodeStream.stdin)
