/**
 * Dates of twcs rows: the fast path for `Www Mmm dd hh:mm:ss +0000 yyyy` must agree with the
 * general parser (and with Date) on every date, valid or not.
 */
import { describe, expect, it } from "vitest"
import { checkRow, type ColumnIndex, columnIndex, parseTwitterDate, TWCS_COLUMNS } from "../../src/twcs/rows.js"

const columns = columnIndex([...TWCS_COLUMNS]) as ColumnIndex
const row = (date: string) => checkRow(["1", "someone", "True", date, "hello", "", ""], columns, TWCS_COLUMNS.length)
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

describe("twcs row dates", () => {
  it("agree with the general parser and Date on every day of several years, and on invalid ones", () => {
    const dates: Array<string> = []
    for (const year of [2000, 2016, 2017, 2100]) {
      for (const month of MONTHS) {
        for (let day = 0; day <= 32; day++) dates.push(`Tue ${month} ${String(day).padStart(2, "0")} 23:59:59 +0000 ${year}`)
      }
    }
    dates.push("Tue Oct 31 22:10:47 +0000 2017", "Tue Oct 31 24:10:47 +0000 2017", "Tue Oct 31 22:60:47 +0000 2017", "Tue Oct 31 22:10:60 +0000 2017")
    dates.push("Tue Oct 31 22:10:47 +0100 2017", "Tue Oct 3 22:10:47 +0000 2017", "tue Oct 31 22:10:47 +0000 2017", "Tue Okt 31 22:10:47 +0000 2017")
    for (const date of dates) {
      const expected = parseTwitterDate(date)
      const checked = row(date)
      if (expected === undefined) {
        expect(checked.ok, date).toBe(false)
      } else {
        expect(checked.ok, date).toBe(true)
        if (checked.ok) {
          expect(checked.row.time, date).toBe(expected)
          expect(checked.row.iso, date).toBe(new Date(expected).toISOString())
        }
      }
    }
  })
})

describe("twcs row ids", () => {
  it("takes ids of up to 15 digits (pandas' 123.0 too) and refuses longer ones saying why, rather than rounding them into each other", () => {
    const withIds = (id: string, parent: string) => checkRow([id, "someone", "True", "Tue Oct 31 22:10:47 +0000 2017", "hello", "", parent], columns, TWCS_COLUMNS.length)
    const ok = withIds("999999999999999", "123.0")
    expect(ok.ok && [ok.row.tweetId, ok.row.parentId]).toEqual([999999999999999, 123])
    for (const [id, parent, field] of [
      ["928014390339764224", "", "tweet_id"],
      ["1", "928014390339764224", "in_response_to_tweet_id"]
    ] as const) {
      const refused = withIds(id, parent)
      expect(refused.ok, id).toBe(false)
      expect(!refused.ok && refused.reason).toMatch(new RegExp(`^${field} must be (empty or )?an integer of at most 15 digits \\(got "928014390339764224"\\)$`))
    }
  })
})
