/**
 * The CSV reader of the twcs import (src/twcs/csv.ts): fields, quoting, newlines, line numbers
 * and malformed records, whatever the chunk boundaries.
 */
import { describe, expect, it } from "vitest"
import { CsvReader } from "../../src/twcs/csv.js"

type Event = readonly ["record", ReadonlyArray<string>, number] | readonly ["malformed", number, string]

/** Reads `text` in chunks of `size` characters. */
const read = (text: string, size = text.length): Array<Event> => {
  const events: Array<Event> = []
  const reader = new CsvReader({
    record: (fields, line) => events.push(["record", fields, line]),
    malformed: (line, reason) => events.push(["malformed", line, reason])
  })
  for (let at = 0; at < text.length; at += Math.max(1, size)) reader.push(text.slice(at, at + Math.max(1, size)))
  reader.end()
  return events
}

/** The same events whatever the chunk size. */
const readAll = (text: string): Array<Event> => {
  const whole = read(text)
  for (const size of [1, 2, 3, 5, 8, 13]) expect(read(text, size)).toEqual(whole)
  return whole
}

describe("twcs CSV reader", () => {
  it("reads quoted commas, doubled quotes and newlines, LF and CRLF, with each record's starting line", () => {
    const text = '\uFEFFa,b,c\r\n1,"x, ""y""\nz",3\n2,"multi\r\nline",\n3,,"last"'
    expect(readAll(text)).toEqual([
      ["record", ["a", "b", "c"], 1],
      ["record", ["1", 'x, "y"\nz', "3"], 2],
      ["record", ["2", "multi\r\nline", ""], 4],
      ["record", ["3", "", "last"], 6]
    ])
  })

  it("keeps an empty line as a one-field record and a lone CR as data", () => {
    expect(readAll("a,b\n\n1,x\ry\n")).toEqual([
      ["record", ["a", "b"], 1],
      ["record", [""], 2],
      ["record", ["1", "x\ry"], 3]
    ])
  })

  it("reports malformed records with their line and goes on at the next line", () => {
    const events = readAll('a,b\n1,x"y\n2,"q"z\n3,ok\n4,"open\nstill open')
    expect(events.map((e) => (e[0] === "record" ? [e[1][0], e[2]] : ["bad", e[1]]))).toEqual([
      ["a", 1],
      ["bad", 2],
      ["bad", 3],
      ["3", 4],
      ["bad", 5]
    ])
    expect(events[1][2]).toContain("quote inside an unquoted field")
    expect(events[2][2]).toContain("after a closing quote")
    expect(events[4][2]).toContain("not closed")
  })
})
