/** Picks the analyzer implementation for the effective configuration (SPEC §9: `auto`, `grok`, `local`). */
import { Effect, Layer } from "effect"
import type { AnalyzerChoice, Config } from "../config.js"
import { ConfigurationError } from "../domain/errors.js"
import type { Store } from "../store/Store.js"
import type { Analyzer } from "./Analyzer.js"
import type { GrokSettings } from "./grok/GrokAnalyzer.js"
import { LocalAnalyzerLive } from "./local.js"

/** The pipeline file's choice wins unless it says `auto`, which defers to config.json/env. */
export const effectiveAnalyzer = (config: Config, pipelineChoice: AnalyzerChoice | undefined): "grok" | "local" => {
  const choice = pipelineChoice !== undefined && pipelineChoice !== "auto" ? pipelineChoice : config.analyzer.choice
  if (choice === "auto") return config.analyzer.grok.apiKey !== null ? "grok" : "local"
  return choice
}

/** How long the prompt's list of most used cluster labels is reused before it is read again. */
const TOP_CLUSTERS_TTL_MS = 30_000

export const grokSettings = (config: Config): GrokSettings | null => {
  const grok = config.analyzer.grok
  if (grok.apiKey === null) return null
  return {
    baseUrl: grok.baseUrl,
    model: grok.model,
    apiKey: grok.apiKey,
    callsPerSecond: grok.callsPerSecond,
    timeoutMs: grok.timeoutMs,
    retryBudget: config.analyzer.retryBudget,
    retryBaseDelayMs: grok.retryBaseDelayMs,
    retryMaxDelayMs: grok.retryMaxDelayMs,
    probeIntervalMs: grok.probeIntervalMs,
    maxConversationChars: grok.maxConversationChars,
    topClusters: grok.topClusters,
    topClustersTtlMs: TOP_CLUSTERS_TTL_MS
  }
}

/** Why the chosen analyzer cannot run with this configuration (Grok without a key), if it cannot. */
export const analyzerConfigurationProblem = (config: Config, pipelineChoice: AnalyzerChoice | undefined): ConfigurationError | undefined =>
  effectiveAnalyzer(config, pipelineChoice) === "grok" && grokSettings(config) === null
    ? new ConfigurationError({
        message: `analyzer grok: no API key (set XAI_API_KEY or the variable named by analyzer.grok.api_key_env), or choose INSIGHTD_ANALYZER=local`
      })
    : undefined

export const analyzerLayer = (config: Config, pipelineChoice: AnalyzerChoice | undefined): Layer.Layer<Analyzer, ConfigurationError, Store> => {
  const problem = analyzerConfigurationProblem(config, pipelineChoice)
  if (problem !== undefined) return Layer.fail(problem)
  const settings = effectiveAnalyzer(config, pipelineChoice) === "grok" ? grokSettings(config) : null
  if (settings === null) return LocalAnalyzerLive
  // Loaded only when chosen: its HTTP client (undici) is a large share of a command's start-up.
  return Layer.unwrapEffect(Effect.promise(() => import("./grok/GrokAnalyzer.js")).pipe(Effect.map(({ GrokAnalyzerLive }) => GrokAnalyzerLive(settings))))
}
