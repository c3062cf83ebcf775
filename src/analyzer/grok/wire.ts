/**
 * The HTTP agent behind the Grok client, with one extra: it can report when a request has
 * actually left (its headers and body handed to the operating system).
 *
 * Why: a call "starts" for the server when its bytes arrive, not when a fiber decides to send.
 * Between the two the event loop may be busy (a large ingest transaction, a new connection), so
 * two calls decided 100 ms apart can leave 10 ms apart. The analyzer therefore spaces call
 * starts from the moment the previous request left (see GrokAnalyzer.ts), which this reports.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { Effect, Layer } from "effect"
import * as Http from "node:http"
import * as Https from "node:https"
import { performance } from "node:perf_hooks"

type AddRequest = (request: Http.ClientRequest, options: unknown) => void

export interface RequestWatch {
  /**
   * Calls `onSent(performance.now())` once, when the NEXT request made through the agent has been
   * handed to the operating system (or has failed before that). Only one may be armed at a time.
   */
  readonly arm: (onSent: (at: number) => void) => void
  /** Forgets an armed callback that was not used. */
  readonly disarm: () => void
}

/** An HttpClient on keep-alive agents whose next request can be watched, and the watch. */
export const watchedHttpClient: Effect.Effect<{ readonly layer: Layer.Layer<HttpClient.HttpClient>; readonly watch: RequestWatch }, never, never> = Effect.sync(() => {
  let armed: ((at: number) => void) | undefined
  const watchAgent = <A extends Http.Agent>(agent: A): A => {
    const target = agent as unknown as { addRequest: AddRequest }
    const original = target.addRequest.bind(agent)
    target.addRequest = (request, options) => {
      const onSent = armed
      armed = undefined
      if (onSent !== undefined) {
        let done = false
        const fire = () => {
          if (done) return
          done = true
          onSent(performance.now())
        }
        request.once("finish", fire)
        request.once("error", fire)
        request.once("close", fire)
      }
      original(request, options)
    }
    return agent
  }
  const agentLayer = Layer.scoped(
    NodeHttpClient.HttpAgent,
    Effect.acquireRelease(
      Effect.sync(() => ({
        [NodeHttpClient.HttpAgentTypeId]: NodeHttpClient.HttpAgentTypeId,
        http: watchAgent(new Http.Agent({ keepAlive: true })),
        https: watchAgent(new Https.Agent({ keepAlive: true }))
      })),
      (agents) =>
        Effect.sync(() => {
          agents.http.destroy()
          agents.https.destroy()
        })
    )
  )
  return {
    layer: NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(agentLayer)),
    watch: {
      arm: (onSent) => {
        armed = onSent
      },
      disarm: () => {
        armed = undefined
      }
    }
  }
})
