/**
 * One row of the Kaggle "Customer Support on Twitter" file (twcs.csv), checked field by field.
 * The real file was written by pandas: `inbound` is `True`/`False`, parent ids are floats
 * (`119237.0`) and dates are Twitter's (`Tue Oct 31 22:10:47 +0000 2017`).
 */
import { MAX_TEXT_LENGTH } from "../domain/conversation.js"

export const TWCS_COLUMNS = [
  "tweet_id",
  "author_id",
  "inbound",
  "created_at",
  "text",
  "response_tweet_id",
  "in_response_to_tweet_id"
] as const

export interface TwcsRow {
  readonly tweetId: number
  readonly author: string
  readonly inbound: boolean
  /** Epoch milliseconds. */
  readonly time: number
  /** The same instant as an ISO-8601 UTC string. */
  readonly iso: string
  readonly text: string
  /** NaN when the tweet answers nothing. */
  readonly parentId: number
}

export type RowResult = { readonly ok: true; readonly row: TwcsRow } | { readonly ok: false; readonly reason: string }

const MONTHS: Readonly<Record<string, number>> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 }
const TWITTER_DATE = /^[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) (\d{4})$/

const isDigit = (code: number): boolean => code >= 48 && code <= 57
const twoDigits = (value: string, at: number): number => (value.charCodeAt(at) - 48) * 10 + value.charCodeAt(at + 1) - 48
const isUpper = (code: number): boolean => code >= 65 && code <= 90
const isLower = (code: number): boolean => code >= 97 && code <= 122
const daysIn = (year: number, month: number): number =>
  month === 1 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [31, 0, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month]

/**
 * The UTC form of every date in twcs, `Tue Oct 31 22:10:47 +0000 2017`, read without a regular
 * expression or a Date: the ISO string is its own fields in another order. Anything else (another
 * offset, a leap second, one-digit days) is undefined here and goes through parseTwitterDate.
 */
const fastUtcDate = (value: string): { readonly time: number; readonly iso: string } | undefined => {
  if (value.length !== 30 || !value.startsWith(" +0000 ", 19)) return undefined
  const c = (at: number) => value.charCodeAt(at)
  if (!isUpper(c(0)) || !isLower(c(1)) || !isLower(c(2)) || c(3) !== 32 || c(7) !== 32 || c(10) !== 32 || c(13) !== 58 || c(16) !== 58) return undefined
  for (const at of [8, 9, 11, 12, 14, 15, 17, 18, 26, 27, 28, 29]) if (!isDigit(c(at))) return undefined
  const month = MONTHS[value.slice(4, 7)]
  if (month === undefined) return undefined
  const day = twoDigits(value, 8)
  const [hours, minutes, seconds] = [twoDigits(value, 11), twoDigits(value, 14), twoDigits(value, 17)]
  const year = twoDigits(value, 26) * 100 + twoDigits(value, 28)
  if (day < 1 || day > daysIn(year, month) || hours > 23 || minutes > 59 || seconds > 59) return undefined
  const iso = `${value.slice(26, 30)}-${month < 9 ? "0" : ""}${month + 1}-${value.slice(8, 10)}T${value.slice(11, 19)}.000Z`
  return { time: Date.UTC(year, month, day, hours, minutes, seconds), iso }
}

/** `Tue Oct 31 22:10:47 +0000 2017` → epoch ms; also accepts ISO-8601. */
export const parseTwitterDate = (value: string): number | undefined => {
  const m = TWITTER_DATE.exec(value.trim())
  if (m === null) {
    const iso = /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN
    return Number.isNaN(iso) ? undefined : iso
  }
  const month = MONTHS[m[1]]
  if (month === undefined) return undefined
  const day = Number(m[2])
  const [hours, minutes, seconds] = [Number(m[3]), Number(m[4]), Number(m[5])]
  if (day < 1 || day > 31 || hours > 23 || minutes > 59 || seconds > 60) return undefined
  const offset = (m[6] === "-" ? -1 : 1) * (Number(m[7]) * 60 + Number(m[8])) * 60_000
  const millis = Date.UTC(Number(m[9]), month, day, hours, minutes, seconds) - offset
  // Date.UTC rolls Feb 31 over into March: such a date is not a date.
  return new Date(millis + offset).getUTCDate() === day ? millis : undefined
}

const TWEET_ID = /^\d{1,15}(?:\.0*)?$/

/**
 * `123`, or pandas' `123.0`. Ids are kept as JavaScript numbers (compact typed arrays for the
 * 2.8 M tweets), exact up to 15 digits: the Kaggle file's ids are 1 to 7 digits. Longer ids (live
 * Twitter snowflakes) are refused with that reason rather than rounded into each other.
 */
export const parseTweetId = (value: string): number | undefined => (TWEET_ID.test(value) ? Math.trunc(Number(value)) : undefined)

/** Positions of the columns, from the header row. */
export type ColumnIndex = Readonly<Record<(typeof TWCS_COLUMNS)[number], number>>

export const columnIndex = (header: ReadonlyArray<string>): ColumnIndex | string => {
  const names = header.map((name) => name.trim().toLowerCase())
  const index: Record<string, number> = {}
  const missing: Array<string> = []
  for (const column of TWCS_COLUMNS) {
    const at = names.indexOf(column)
    if (at < 0 && column !== "response_tweet_id") missing.push(column)
    index[column] = at
  }
  return missing.length > 0 ? `not a twcs.csv header: missing column${missing.length > 1 ? "s" : ""} ${missing.join(", ")} (got ${header.join(",").slice(0, 200)})` : (index as ColumnIndex)
}

const fail = (reason: string): RowResult => ({ ok: false, reason })

export const checkRow = (fields: ReadonlyArray<string>, columns: ColumnIndex, width: number): RowResult => {
  if (fields.length !== width) return fail(`expected ${width} fields, found ${fields.length}`)
  const rawId = fields[columns.tweet_id]
  const tweetId = parseTweetId(rawId.trim())
  if (tweetId === undefined) return fail(`tweet_id must be an integer of at most 15 digits (got ${JSON.stringify(rawId.slice(0, 40))})`)
  const author = fields[columns.author_id].trim()
  if (author === "") return fail("author_id is empty")
  if (author.length > 256) return fail("author_id is longer than 256 characters")
  const rawInbound = fields[columns.inbound].trim().toLowerCase()
  if (rawInbound !== "true" && rawInbound !== "false") return fail(`inbound must be True or False (got ${JSON.stringify(fields[columns.inbound].slice(0, 40))})`)
  const rawDate = fields[columns.created_at]
  const fast = fastUtcDate(rawDate)
  const time = fast?.time ?? parseTwitterDate(rawDate)
  if (time === undefined) return fail(`created_at must be a date like "Tue Oct 31 22:10:47 +0000 2017" (got ${JSON.stringify(rawDate.slice(0, 40))})`)
  const text = fields[columns.text]
  if (text.trim() === "") return fail("text is empty")
  if (text.length > MAX_TEXT_LENGTH) return fail(`text is longer than ${MAX_TEXT_LENGTH} characters`)
  const rawParent = fields[columns.in_response_to_tweet_id].trim()
  const parentId = rawParent === "" ? NaN : parseTweetId(rawParent)
  if (parentId === undefined) return fail(`in_response_to_tweet_id must be empty or an integer of at most 15 digits (got ${JSON.stringify(rawParent.slice(0, 40))})`)
  return { ok: true, row: { tweetId, author, inbound: rawInbound === "true", time, iso: fast?.iso ?? new Date(time).toISOString(), text, parentId } }
}
