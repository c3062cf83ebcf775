/**
 * Shared by the HTTP contract tests (test/http/*.test.ts): a client bound to one daemon that
 * records every status it sees (so each file can assert that nothing was a 500), and the
 * assertion for SPEC §4's error body `{"error": CODE, "message": text, "details": [...]}`.
 */
import { expect } from "vitest"
import type { RunningDaemon } from "../support/server.js"

export interface ErrorBody {
  error: string
  message: string
  details: Array<Record<string, unknown>>
  retry_after?: number
}

export interface Seen {
  readonly method: string
  readonly path: string
  readonly status: number
}

export const makeClient = (daemon: () => Pick<RunningDaemon, "baseUrl">, defaultHeaders: Record<string, string> = {}) => {
  const seen: Array<Seen> = []
  const request = async (method: string, path: string, init: { body?: string | Uint8Array; headers?: Record<string, string> } = {}) => {
    const response = await fetch(`${daemon().baseUrl}${path}`, {
      method,
      headers: { ...defaultHeaders, ...init.headers },
      body: init.body
    })
    seen.push({ method, path: path.length > 120 ? `${path.slice(0, 120)}…` : path, status: response.status })
    return response
  }
  return {
    request,
    get: (path: string, headers: Record<string, string> = {}) => request("GET", path, { headers }),
    /** POST JSON (a string is sent verbatim) with Content-Type application/json unless overridden. */
    post: (path: string, body: unknown, headers: Record<string, string> = {}) =>
      request("POST", path, {
        body: typeof body === "string" ? body : JSON.stringify(body),
        headers: { "content-type": "application/json", ...headers }
      }),
    /** GET and parse JSON, failing with the body unless the status is `status`. */
    getJson: async <T = Record<string, unknown>>(path: string, status = 200, headers: Record<string, string> = {}): Promise<T> => {
      const response = await request("GET", path, { headers })
      const text = await response.text()
      if (response.status !== status) throw new Error(`GET ${path}: expected ${status}, got ${response.status}: ${text.slice(0, 500)}`)
      return JSON.parse(text) as T
    },
    seen: () => [...seen],
    /** Every response that was a server error (5xx other than the documented 503). */
    serverErrors: () => seen.filter((s) => s.status >= 500 && s.status !== 503).map((s) => `${s.method} ${s.path} → ${s.status}`)
  }
}
export type Client = ReturnType<typeof makeClient>

/** Looks like a stack trace or an internal source location. */
const STACK = /\n\s+at\s|\bat [\w.<>]+ \(|node:internal|node_modules|\.(?:js|ts|mjs):\d+:\d+|FiberFailure|\bCause\b/

/**
 * Asserts SPEC §4's error shape with `status` and `code`: JSON, exactly the keys error, message,
 * details (plus retry_after on 429), a non-empty message, an array of details, no stack trace.
 */
export const expectError = async (response: Response, status: number, code: string): Promise<ErrorBody> => {
  const text = await response.text()
  expect(response.status, `${status} expected, got ${response.status}: ${text.slice(0, 300)}`).toBe(status)
  expect(response.headers.get("content-type") ?? "").toMatch(/^application\/json/)
  const body = JSON.parse(text) as ErrorBody
  expect(body.error).toBe(code)
  expect(typeof body.message).toBe("string")
  expect(body.message.length).toBeGreaterThan(0)
  expect(Array.isArray(body.details)).toBe(true)
  const keys = Object.keys(body).sort()
  expect(keys).toEqual(status === 429 ? ["details", "error", "message", "retry_after"] : ["details", "error", "message"])
  expect(text).not.toMatch(STACK)
  return body
}

/** The fields named in an error's details. */
export const fieldsOf = (body: ErrorBody): Array<string> => body.details.map((d) => String(d.field))

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
