/** Source `stdin`: JSONL lines from standard input, numbered from 1. */
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Stream } from "effect"
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

/** Lines of any readable byte stream, numbered from 1. */
export const linesOf = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<InputLine, E, R> =>
  bytes.pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.zipWithIndex,
    Stream.map(([text, index]) => ({ line: index + 1, text }))
  )

export const stdinLines: Stream.Stream<InputLine> = linesOf(NodeStream.stdin)
