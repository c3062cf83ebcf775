/**
 * `insightd serve`: the daemon. Configuration and the pipeline file are checked first, so a bad one
 * ends the start with exit status 78 before the HTTP server and its handlers are even loaded.
 */
import { Effect } from "effect"
import { loadConfig } from "../config.js"
import { loggerLayer } from "../logging.js"
import { loadPipeline } from "../pipeline/definition.js"

export const runServe = Effect.gen(function* () {
  const config = yield* loadConfig(process.env)
  const pipeline = yield* loadPipeline(config.pipelineFile)
  // Loaded only for `serve`: the HTTP server, its handlers and the metrics exporter are most of
  // the daemon's modules, and every stage command would otherwise pay for loading them.
  const { serve } = yield* Effect.promise(() => import("../daemon.js"))
  return yield* serve(config, pipeline).pipe(Effect.provide(loggerLayer(config.log.format, config.log.level)))
})
