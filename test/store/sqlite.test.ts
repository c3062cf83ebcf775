import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Either, Layer, TestClock } from "effect"
import { vi } from "vitest"
import type { Insight } from "../../src/domain/insight.js"
import { preparedTransactions, sqliteClientLayer, SqliteStoreLive } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"
import { newConversation, onTempDatabase, StoreOnTempFile, tempDbPath } from "../support/layers.js"

const insightFor = (id: string, score: number): Insight => ({
  conversation_id: id as Insight["conversation_id"],
  sentiment_score: score,
  sentiment: score < -0.1 ? "negative" : score > 0.1 ? "positive" : "neutral",
  confidence: 0.5,
  clusters: ["general_inquiry"],
  reasoning: "",
  analyzer: "test",
  raw_response: "{}",
  prompt_tokens: null,
  completion_tokens: null,
  cost_usd: null,
  analyzed_at: "2024-05-01T00:00:00.000Z"
})

describe("SQLite store", () => {
  it.scoped(
    "writable fails while writes fail though reads answer (another process holds the write lock past busy_timeout), and passes once they succeed again",
    () =>
      Effect.gen(function* () {
        const db = tempDbPath()
        yield* Effect.addFinalizer(() => Effect.sync(db.cleanup))
        const store = Context.get(yield* Layer.build(SqliteStoreLive(db.path)), Store)
        yield* store.writable // nothing failed yet
        const other = new Database(db.path)
        other.exec("BEGIN IMMEDIATE") // held by "another process": writers wait busy_timeout (5 s), then fail
        const failed = yield* Effect.either(store.submit([{ conversations: [newConversation()] }]))
        expect(Either.isLeft(failed)).toBe(true)
        yield* store.ping // reads still answer (WAL)...
        expect(Either.isLeft(yield* Effect.either(store.writable))).toBe(true) // ...but writes do not
        other.exec("ROLLBACK")
        other.close()
        // A write failed less than 10 s ago: still not writable, whatever a small probe would say
        // (on a full disk it can pass between failing writes).
        yield* TestClock.adjust("9 seconds")
        expect(Either.isLeft(yield* Effect.either(store.writable))).toBe(true)
        yield* TestClock.adjust("1 second")
        yield* store.writable // then the probe write decides: it passes again
        yield* store.submit([{ conversations: [newConversation()] }])
        yield* store.writable
      }),
    30_000
  )

  it.scoped("tells which of many ids are stored, across several queries' worth of ids", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const conversations = Array.from({ length: 1200 }, () => newConversation())
      yield* store.submit([{ conversations }])
      const unknown = Array.from({ length: 300 }, (_, i) => `conv_unknown_${i}`)
      const asked = [...conversations.map((c) => c.id), ...unknown, conversations[0].id]
      const found = yield* store.existingIds(asked)
      expect(found.size).toBe(1200)
      expect(conversations.every((c) => found.has(c.id))).toBe(true)
      expect(unknown.some((id) => found.has(id))).toBe(false)
      expect((yield* store.existingIds([])).size).toBe(0)
    }).pipe(Effect.provide(StoreOnTempFile))
  )

  it.scoped("claims the oldest pending conversations, each exactly once, even when claims race", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const conversations = Array.from({ length: 95 }, () => newConversation())
      yield* store.submit([{ conversations }])
      const claims = yield* Effect.all(Array.from({ length: 12 }, () => store.claim(10)), { concurrency: "unbounded" })
      const claimed = claims.flat().map((c) => c.id)
      expect(claimed).toHaveLength(95)
      expect(new Set(claimed).size).toBe(95)
      // The first claim got the ten oldest.
      expect(claims.find((batch) => batch.length > 0)?.map((c) => c.id)).toEqual(conversations.slice(0, 10).map((c) => c.id))
      expect((yield* store.statusCounts).processing).toBe(95)
      expect(yield* store.claim(10)).toEqual([])
    }).pipe(Effect.provide(StoreOnTempFile))
  )

  it.scoped("on start, conversations left processing by a dead process go back to pending", () =>
    Effect.gen(function* () {
      const db = tempDbPath()
      yield* Effect.addFinalizer(() => Effect.sync(db.cleanup))
      const firstRun = Effect.gen(function* () {
        const store = yield* Store
        yield* store.submit([{ conversations: [newConversation(), newConversation(), newConversation()] }])
        yield* store.claim(2) // the process "dies" holding two claims
      }).pipe(Effect.provide(SqliteStoreLive(db.path)))
      yield* Effect.scoped(firstRun)
      const secondRun = Effect.gen(function* () {
        const store = yield* Store
        expect(yield* store.recoverAbandoned).toBe(2)
        const counts = yield* store.statusCounts
        expect([counts.pending, counts.processing]).toEqual([3, 0])
        // Attempts made before the crash stay counted (a poison conversation cannot loop forever).
        const claimed = yield* store.claim(10)
        expect(claimed.map((c) => c.attempts).sort()).toEqual([1, 2, 2])
      }).pipe(Effect.provide(SqliteStoreLive(db.path)))
      yield* Effect.scoped(secondRun)
    })
  )

  it.scoped("claims whose analysis had not begun (waiting for a Grok call slot) get their attempt back after a crash; begun ones keep it", () =>
    Effect.gen(function* () {
      const db = tempDbPath()
      yield* Effect.addFinalizer(() => Effect.sync(db.cleanup))
      const ids = yield* Effect.gen(function* () {
        const store = yield* Store
        const conversations = Array.from({ length: 4 }, () => newConversation())
        yield* store.submit([{ conversations }])
        const claimed = yield* store.claim(4, { startsAnalysis: false })
        // The first call carries the first two; the process dies before the others' call.
        yield* store.markStarted([claimed[0].id, claimed[1].id])
        return claimed.map((c) => c.id)
      }).pipe(Effect.provide(SqliteStoreLive(db.path)), Effect.scoped)
      yield* Effect.gen(function* () {
        const store = yield* Store
        expect(yield* store.recoverAbandoned).toBe(4)
        const again = yield* store.claim(4, { startsAnalysis: false })
        expect(Object.fromEntries(again.map((c) => [c.id, c.attempts]))).toEqual({ [ids[0]]: 2, [ids[1]]: 2, [ids[2]]: 1, [ids[3]]: 1 })
        // A restart after a defect ("keep") keeps the attempt only where the analysis had begun, too.
        yield* store.markStarted([ids[2]])
        expect(yield* store.releaseClaims("keep")).toBe(4)
        const third = yield* store.claim(4)
        expect(Object.fromEntries(third.map((c) => [c.id, c.attempts]))).toEqual({ [ids[0]]: 2, [ids[1]]: 2, [ids[2]]: 2, [ids[3]]: 1 })
      }).pipe(Effect.provide(SqliteStoreLive(db.path)), Effect.scoped)
    })
  )

  it.scoped("releaseClaims puts this process's claims back, refunding the attempt or (after the analysis died) keeping it", () =>
    Effect.gen(function* () {
      const store = yield* Store
      yield* store.submit([{ conversations: [newConversation(), newConversation()] }])
      yield* store.claim(5)
      expect(yield* store.releaseClaims("refund")).toBe(2)
      const again = yield* store.claim(5)
      expect(again.map((c) => c.attempts)).toEqual([1, 1])
      expect(yield* store.releaseClaims("keep")).toBe(2)
      const third = yield* store.claim(5)
      expect(third.map((c) => c.attempts)).toEqual([2, 2])
    }).pipe(Effect.provide(StoreOnTempFile))
  )

  it.scoped("keyset paging over insights never skips or repeats, with equal timestamps, both orders", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const conversations = Array.from({ length: 120 }, (_, i) =>
        newConversation({ timestamp: `2024-05-${String(1 + (i % 7)).padStart(2, "0")}T00:00:00Z` })
      )
      yield* store.submit([{ conversations }])
      const claimed = yield* store.claim(200)
      yield* store.record(claimed.map((c, i) => ({ _tag: "Completed" as const, insight: insightFor(c.id, (i % 21) / 10 - 1) })))
      for (const order of ["asc", "desc"] as const) {
        const seen: Array<string> = []
        let after: { timestamp: string; id: string } | undefined
        for (let page = 0; page < 100; page++) {
          const result = yield* store.queryInsights({ order, limit: 7, after })
          expect(result.totalCount).toBe(120)
          seen.push(...result.items.map((item) => item.conversation_id))
          if (result.next === null) break
          after = result.next
        }
        expect(seen).toHaveLength(120)
        expect(new Set(seen).size).toBe(120)
        const timestamps = seen.map((id) => conversations.find((c) => c.id === id)!.timestamp)
        const sorted = [...timestamps].sort()
        expect(timestamps).toEqual(order === "asc" ? sorted : sorted.reverse())
      }
      const negatives = yield* store.queryInsights({ order: "desc", limit: 1000, sentiment: "negative", minSentiment: -0.5 })
      expect(negatives.items.every((i) => i.sentiment === "negative" && i.sentiment_score >= -0.5)).toBe(true)
      expect(negatives.totalCount).toBe(negatives.items.length)
    }).pipe(Effect.provide(StoreOnTempFile))
  )

  it.scoped("retry puts only failed conversations back", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const c = newConversation()
      yield* store.submit([{ conversations: [c] }])
      expect(yield* store.retry(c.id)).toBe("not_failed")
      expect(yield* store.retry("conv_unknown")).toBe("not_found")
      yield* store.claim(1)
      yield* store.record([{ _tag: "Failed", id: c.id, error: "boom" }])
      expect(yield* store.retry(c.id)).toBe("retried")
      expect((yield* store.statusCounts).pending).toBe(1)
    }).pipe(Effect.provide(Layer.fresh(StoreOnTempFile)))
  )

  it.scoped("group commits reuse prepared BEGIN and COMMIT: nothing is prepared per transaction", () =>
    Effect.gen(function* () {
      const store = yield* Store
      yield* store.submit([{ conversations: [newConversation()] }])
      const prepare = vi.spyOn(Database.prototype, "prepare")
      try {
        for (let i = 0; i < 20; i++) yield* store.submit([{ conversations: [newConversation()] }])
        // Twenty group commits of the same shape: nothing left to prepare, not even BEGIN/COMMIT.
        expect(prepare.mock.calls.map(([sql]) => sql)).toEqual([])
      } finally {
        prepare.mockRestore()
      }
    }).pipe(Effect.provide(Layer.fresh(StoreOnTempFile)))
  )

  it.scoped("a failed transaction rolls back everything it wrote, and the next one works", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const withTransaction = preparedTransactions(sql)
      yield* sql`CREATE TABLE t (n INTEGER PRIMARY KEY)`
      yield* withTransaction(sql`INSERT INTO t (n) VALUES (1)`)
      // The second insert breaks the primary key: the first of the two must not stay either.
      const failed = yield* Effect.either(withTransaction(Effect.zipRight(sql`INSERT INTO t (n) VALUES (2)`, sql`INSERT INTO t (n) VALUES (1)`)))
      expect(failed._tag).toBe("Left")
      // A failure of the program itself (not SQL) rolls back too.
      const refused = yield* Effect.either(withTransaction(Effect.zipRight(sql`INSERT INTO t (n) VALUES (3)`, Effect.fail("no"))))
      expect(refused).toEqual(Either.left("no"))
      // Nested: the inner failure rolls back to its savepoint only.
      yield* withTransaction(Effect.zipRight(sql`INSERT INTO t (n) VALUES (4)`, Effect.ignore(withTransaction(Effect.zipRight(sql`INSERT INTO t (n) VALUES (5)`, Effect.fail("inner"))))))
      yield* withTransaction(sql`INSERT INTO t (n) VALUES (6)`)
      expect((yield* sql<{ n: number }>`SELECT n FROM t ORDER BY n`).map((row) => row.n)).toEqual([1, 4, 6])
    }).pipe(Effect.provide(Layer.fresh(onTempDatabase(sqliteClientLayer))))
  )
})
