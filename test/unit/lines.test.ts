/** The line reader behind stdin and the stage commands: byte chunks in, numbered lines out. */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { LINE_TOO_LONG, linesOf, MAX_LINE_BYTES, NOT_UTF8 } from "../../src/sources/stdin.js"

const readLines = (chunks: ReadonlyArray<Uint8Array>) => Stream.fromIterable(chunks).pipe(linesOf, Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

describe("linesOf", () => {
  it.effect("keeps a character split across chunks whole, and numbers every line, blank ones too", () =>
    Effect.gen(function* () {
      const bytes = Buffer.from('{"text":"café ☕"}\r\n\n{"text":"über"}\n{"text":"last"}')
      // Every way of cutting the bytes in two gives the same lines.
      for (let cut = 0; cut <= bytes.length; cut++) {
        const lines = yield* readLines([bytes.subarray(0, cut), bytes.subarray(cut)])
        expect(lines, `cut at ${cut}`).toEqual([
          { line: 1, text: '{"text":"café ☕"}' },
          { line: 2, text: "" },
          { line: 3, text: '{"text":"über"}' },
          { line: 4, text: '{"text":"last"}' }
        ])
      }
    })
  )

  it.effect("flags a line whose bytes are not UTF-8, and only that one, wherever the chunks end", () =>
    Effect.gen(function* () {
      const bytes = Buffer.concat([Buffer.from("ok é\n"), Buffer.from([0x62, 0xc3, 0x28, 0x0a]), Buffer.from("fine\n"), Buffer.from([0xe2, 0x82])])
      for (const chunks of [[bytes], [bytes.subarray(0, 6), bytes.subarray(6)], Array.from(bytes, (byte) => Uint8Array.of(byte))]) {
        const lines = yield* readLines(chunks)
        expect(lines.map((line) => [line.line, line.unreadable === NOT_UTF8])).toEqual([
          [1, false],
          [2, true],
          [3, false],
          [4, true]
        ])
        expect(lines[0].text).toBe("ok é")
        expect(lines[2].text).toBe("fine")
      }
    })
  )

  it.effect("refuses a line over MAX_LINE_BYTES by its number without gathering it, and reads the next lines; long lines cost linear time", () =>
    Effect.gen(function* () {
      const piece = Buffer.alloc(1024 * 1024, 0x79) // 1 MiB of "y", no newline
      const endless = Array.from({ length: MAX_LINE_BYTES / piece.length + 3 }, () => piece)
      const lines = yield* readLines([Buffer.from('{"a":1}\n'), ...endless, Buffer.from('tail\n{"b":2}\n'), ...endless])
      expect(lines.map((line) => [line.line, line.unreadable ?? line.text])).toEqual([
        [1, '{"a":1}'],
        [2, LINE_TOO_LONG],
        [3, '{"b":2}'],
        [4, LINE_TOO_LONG]
      ])
      // Within the limit a long line in many small chunks is read whole (joined once at its end).
      const long = Buffer.alloc(8 * 1024 * 1024, 0x7a)
      const chunks = Array.from({ length: long.length / 65_536 }, (_, i) => long.subarray(i * 65_536, (i + 1) * 65_536))
      const [line] = yield* readLines([...chunks, Buffer.from("\n")])
      expect(line.text.length).toBe(long.length)
      expect(line.unreadable).toBeUndefined()
    })
  )
})
