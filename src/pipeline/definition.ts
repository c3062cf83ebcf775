/**
 * Pipeline files (`pipelines/*.json`): the sources and the stages, in order, with their
 * parameters. Validated on load; a bad file stops start-up with one message naming every bad
 * field (the same one `insightd lint-pipeline` prints).
 */
import { Either, Schema } from "effect"
import { isAbsolute, resolve } from "node:path"
import { AnalyzerChoice } from "../config.js"
import { ConfigurationError } from "../domain/errors.js"
import { describeFileIssues, readJsonObjectFile } from "../domain/fileIssues.js"

const between = (min: number, max: number) => Schema.Int.pipe(Schema.between(min, max, { message: () => `must be an integer between ${min} and ${max}` }))

const Source = Schema.Union(
  Schema.Struct({ type: Schema.Literal("http") }),
  Schema.Struct({ type: Schema.Literal("stdin") })
).annotations({ message: () => ({ message: 'must be {"type": "http"} or {"type": "stdin"}', override: true }) })

const ValidateStage = Schema.Struct({ stage: Schema.Literal("validate") })
const PersistStage = Schema.Struct({ stage: Schema.Literal("persist") })
const BatchStage = Schema.Struct({
  stage: Schema.Literal("batch"),
  size: Schema.optionalWith(between(1, 100), { default: () => 10 }),
  wait_ms: Schema.optionalWith(between(0, 60_000), { default: () => 200 })
})
const AnalyzeStage = Schema.Struct({
  stage: Schema.Literal("analyze"),
  analyzer: Schema.optionalWith(AnalyzerChoice, { default: () => "auto" as const }),
  concurrency: Schema.optionalWith(between(1, 1024), { default: () => 4 }),
  retry_budget: Schema.optional(between(0, 100))
})
const PersistInsightStage = Schema.Struct({ stage: Schema.Literal("persist-insight") })

export const Stage = Schema.Union(ValidateStage, PersistStage, BatchStage, AnalyzeStage, PersistInsightStage)
export type Stage = typeof Stage.Type

const ORDER = ["validate", "persist", "batch", "analyze", "persist-insight"] as const

/** A stage without its `stage` key is told which names there are. */
const STAGE_HINT = (path: string): string | undefined => (path.endsWith("stage") ? `one of ${ORDER.map((name) => `"${name}"`).join(", ")}` : undefined)

export const PipelineDefinition = Schema.Struct({
  name: Schema.String.pipe(Schema.minLength(1)),
  description: Schema.optional(Schema.String),
  sources: Schema.Array(Source),
  stages: Schema.Array(Stage).pipe(Schema.minItems(1))
}).pipe(
  Schema.filter((definition) => {
    const names = definition.stages.map((stage) => stage.stage)
    const positions = names.map((name) => ORDER.indexOf(name))
    if (new Set(names).size !== names.length) return { path: ["stages"], message: "each stage may appear once" }
    if (positions.some((position, i) => i > 0 && position < positions[i - 1])) {
      return { path: ["stages"], message: `stages must follow the order ${ORDER.join(" → ")}` }
    }
    const has = (name: (typeof ORDER)[number]) => names.includes(name)
    if (has("validate") !== has("persist")) return { path: ["stages"], message: "validate and persist go together (the ingest half)" }
    if ((has("batch") || has("analyze") || has("persist-insight")) && !(has("batch") && has("analyze") && has("persist-insight"))) {
      return { path: ["stages"], message: "batch, analyze and persist-insight go together (the analysis half)" }
    }
    const sourceTypes = definition.sources.map((source) => source.type)
    const repeated = sourceTypes.findIndex((type, i) => sourceTypes.indexOf(type) !== i)
    if (repeated >= 0) return { path: ["sources", repeated, "type"], message: `${sourceTypes[repeated]} is listed twice (each source may appear once)` }
    if (definition.sources.length > 0 && !has("validate")) return { path: ["sources"], message: "sources need the validate and persist stages" }
    if (has("validate") && definition.sources.length === 0) return { path: ["sources"], message: "the ingest stages need at least one source" }
    return undefined
  })
)
export type PipelineDefinition = typeof PipelineDefinition.Type

export interface ResolvedPipeline {
  readonly name: string
  readonly sources: ReadonlySet<"http" | "stdin">
  readonly ingest: boolean
  readonly batch: { readonly size: number; readonly waitMs: number } | null
  readonly analyze: { readonly analyzer: AnalyzerChoice; readonly concurrency: number; readonly retryBudget: number | undefined } | null
}

export const resolvePipeline = (definition: PipelineDefinition): ResolvedPipeline => {
  const find = <S extends Stage["stage"]>(name: S) => definition.stages.find((stage): stage is Extract<Stage, { stage: S }> => stage.stage === name)
  const batchStage = find("batch")
  const analyzeStage = find("analyze")
  return {
    name: definition.name,
    sources: new Set(definition.sources.map((source) => source.type)),
    ingest: find("persist") !== undefined,
    batch: batchStage === undefined ? null : { size: batchStage.size, waitMs: batchStage.wait_ms },
    analyze: analyzeStage === undefined ? null : { analyzer: analyzeStage.analyzer, concurrency: analyzeStage.concurrency, retryBudget: analyzeStage.retry_budget }
  }
}

export const loadPipeline = (path: string): Either.Either<ResolvedPipeline, ConfigurationError> => {
  const read = readJsonObjectFile(path)
  if (Either.isLeft(read)) {
    const where = isAbsolute(path) ? "" : ` (looked for ${resolve(path)}: a relative path is read from the working directory)`
    return Either.left(new ConfigurationError({ message: `pipeline file ${path}: ${read.left}${where}` }))
  }
  return Either.mapBoth(Schema.decodeUnknownEither(PipelineDefinition, { onExcessProperty: "error", errors: "all" })(read.right), {
    onLeft: (error) => new ConfigurationError({ message: `pipeline file ${path}: ${describeFileIssues(error, { required: STAGE_HINT }).join("; ")}` }),
    onRight: resolvePipeline
  })
}
