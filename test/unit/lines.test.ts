/** The line reader behind stdin and the stage commands: byte chunks in, numbered lines out. */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { linesOf } from "../../src/sources/stdin.js"

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
        expect(lines.map((line) => [line.line, line.invalidUtf8 === true])).toEqual([
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
})
