/**
 * `insightd lint-pipeline FILE`: checks a pipeline file with exactly the check `serve` runs at
 * start (loadPipeline), so a file that lints clean is one the daemon accepts.
 */
import { Effect, Either } from "effect"
import { loadPipeline } from "../pipeline/definition.js"
import { CommandFailed, writeLines } from "./shared.js"

export const runLintPipeline = ({ file }: { readonly file: string }): Effect.Effect<void, CommandFailed> =>
  Either.match(loadPipeline(file), {
    // The message names the field path, e.g. `pipeline file p.json: stages.2.size: must be an integer between 1 and 100`.
    onLeft: (error) => Effect.zipRight(writeLines([error.message]), Effect.fail(new CommandFailed({ message: `lint-pipeline: ${file} is not valid` }))),
    onRight: (pipeline) =>
      writeLines([
        `pipeline file ${file}: ok (${pipeline.name}: sources ${[...pipeline.sources].join(", ") || "none"}; ` +
          `${pipeline.ingest ? "ingest" : "no ingest"}; ${pipeline.analyze === null ? "no analysis" : `analysis with ${pipeline.analyze.analyzer} analyzer, batches of ${pipeline.batch?.size}`})`
      ])
  })
