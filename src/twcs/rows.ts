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
  readonly text: string
  /** NaN when the tweet answers nothing. */
  readonly parentId: number
}

export type RowResult = { readonly ok: true; readonly row: TwcsRow } | { readonly ok: false; readonly reason: string }

const MONTHS: Readonly<Record<string, number>> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 }
const TWITTER_DATE = /^[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) (\d{4})$/

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

/** `123`, or pandas' `123.0`; ids must stay exact as JavaScript numbers. */
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
  if (tweetId === undefined) return fail(`tweet_id must be an integer (got ${JSON.stringify(rawId.slice(0, 40))})`)
  const author = fields[columns.author_id].trim()
  if (author === "") return fail("author_id is empty")
  if (author.length > 256) return fail("author_id is longer than 256 characters")
  const rawInbound = fields[columns.inbound].trim().toLowerCase()
  if (rawInbound !== "true" && rawInbound !== "false") return fail(`inbound must be True or False (got ${JSON.stringify(fields[columns.inbound].slice(0, 40))})`)
  const rawDate = fields[columns.created_at]
  const time = parseTwitterDate(rawDate)
  if (time === undefined) return fail(`created_at must be a date like "Tue Oct 31 22:10:47 +0000 2017" (got ${JSON.stringify(rawDate.slice(0, 40))})`)
  const text = fields[columns.text]
  if (text.trim() === "") return fail("text is empty")
  if (text.length > MAX_TEXT_LENGTH) return fail(`text is longer than ${MAX_TEXT_LENGTH} characters`)
  const rawParent = fields[columns.in_response_to_tweet_id].trim()
  const parentId = rawParent === "" ? NaN : parseTweetId(rawParent)
  if (parentId === undefined) return fail(`in_response_to_tweet_id must be empty or an integer (got ${JSON.stringify(rawParent.slice(0, 40))})`)
  return { ok: true, row: { tweetId, author, inbound: rawInbound === "true", time, text, parentId } }
}
