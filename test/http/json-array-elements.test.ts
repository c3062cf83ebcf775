import { FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import { jsonArrayElements } from "../../src/http/jsonArrayElements.js"

// A bulk JSON item's `raw` is its exact source text: each element is serialised in its own style
// (compact, indented, non-ASCII as \u escapes) and joined with arbitrary JSON whitespace; the
// scanner must give back exactly those texts.
const whitespace = fc.array(fc.constantFrom(" ", "\n", "\r\n", "\t"), { maxLength: 3 }).map((parts) => parts.join(""))
const asciiEscaped = (text: string) => text.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
const styled = fc.tuple(fc.jsonValue(), fc.constantFrom(0, 2, "\t"), fc.boolean()).map(([value, indent, escape]) => {
  const text = JSON.stringify(value, null, indent)
  return escape ? asciiEscaped(text) : text
})

describe("jsonArrayElements", () => {
  it("gives each element's exact source text, whatever the spacing, escapes and nesting", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(styled, whitespace, whitespace), { maxLength: 8 }), whitespace, (items, trailing) => {
        const body = `${trailing}[${items.map(([text, before, after]) => `${before}${text}${after}`).join(",")}${trailing}]${trailing}`
        const elements = jsonArrayElements(body)
        expect(elements).toEqual(items.map(([text]) => text))
        expect(elements.map((element) => JSON.parse(element))).toEqual(JSON.parse(body))
      }),
      { numRuns: 3_000 }
    )
  })

  it("is not fooled by brackets, commas and escaped quotes inside strings", () => {
    const items = [`{"text":"a, b] } [{ \\"quoted\\" \\\\"}`, `"\\\\"`, `["]", ",", "\\""]`, `-1.50e+3`, `null`]
    expect(jsonArrayElements(`[${items.join(" , ")}]`)).toEqual(items)
    expect(jsonArrayElements("[]")).toEqual([])
    expect(jsonArrayElements(" [ \n ] ")).toEqual([])
  })
})
