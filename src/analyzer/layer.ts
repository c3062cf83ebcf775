/** Picks the analyzer implementation for the effective configuration (SPEC §9: `auto`, `grok`, `local`). */
import { Effect, Layer } from "effect"
import type { AnalyzerChoice, Config } from "../config.js"
import { ConfigurationError } from "../domain/errors.js"
import type { Analyzer } from "./Analyzer.js"
import { LocalAnalyzerLive } from "./local.js"

/** The pipeline file's choice wins unless it says `auto`, which defers to config.json/env. */
export const effectiveAnalyzer = (config: Config, pipelineChoice: AnalyzerChoice | undefined): "grok" | "local" => {
  const choice = pipelineChoice !== undefined && pipelineChoice !== "auto" ? pipelineChoice : config.analyzer.choice
  if (choice === "auto") return config.analyzer.grok.apiKey !== null ? "grok" : "local"
  return choice
}

export const analyzerLayer = (config: Config, pipelineChoice: AnalyzerChoice | undefined): Layer.Layer<Analyzer, ConfigurationError> => {
  const chosen = effectiveAnalyzer(config, pipelineChoice)
  if (chosen === "local") return LocalAnalyzerLive
  return Layer.fail(
    new ConfigurationError({
      message: "analyzer grok: the Grok analyzer is not part of this build yet; set INSIGHTD_ANALYZER=local (or unset XAI_API_KEY)"
    })
  ).pipe(Layer.tap(() => Effect.void))
}
