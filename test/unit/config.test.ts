import { Either, Redacted } from "effect"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { describeConfig, loadConfig } from "../../src/config.js"
import { loadPipeline } from "../../src/pipeline/definition.js"

const dir = mkdtempSync(join(tmpdir(), "insightd-config-"))
const file = (name: string, content: unknown) => {
  const path = join(dir, name)
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content))
  return path
}
const errorOf = <A>(result: Either.Either<A, { message: string }>) => (Either.isLeft(result) ? result.left.message : "no error")

describe("configuration", () => {
  it("has embedded defaults when no config file exists", () => {
    const config = Either.getOrThrow(loadConfig({ INSIGHTD_CONFIG: "" }))
    expect(config.http.port).toBe(8080)
    expect(config.http.rateLimitPerSecond).toBe(100)
    expect(config.analyzer.choice).toBe("auto")
    expect(config.gracePeriodMs).toBe(10_000)
  })

  it("environment variables override the file", () => {
    const path = file("a.json", { http: { port: 9000 }, database: { file: "x.db" } })
    const config = Either.getOrThrow(
      loadConfig({ INSIGHTD_CONFIG: path, INSIGHTD_PORT: "0", INSIGHTD_DB: "y.db", INSIGHTD_RATE_LIMIT: "0", INSIGHTD_API_KEYS: "k1, k2", XAI_API_KEY: "xai-secret" })
    )
    expect([config.http.port, config.databaseFile, config.http.rateLimitPerSecond, config.http.apiKeys.length]).toEqual([0, "y.db", 0, 2])
    expect(String(config.analyzer.grok.apiKey)).not.toContain("xai-secret")
  })

  it("INSIGHTD_API_KEYS and XAI_API_KEY win over the variables a config file names for the secrets", () => {
    const path = file("named.json", { http: { api_keys_env: "MY_KEYS" }, analyzer: { grok: { api_key_env: "MY_XAI" } } })
    const keysOf = (config: ReturnType<typeof loadConfig>) => {
      const loaded = Either.getOrThrow(config)
      return { api: loaded.http.apiKeys.map(Redacted.value), grok: loaded.analyzer.grok.apiKey === null ? null : Redacted.value(loaded.analyzer.grok.apiKey) }
    }
    expect(keysOf(loadConfig({ INSIGHTD_CONFIG: path, INSIGHTD_API_KEYS: "sekrit", XAI_API_KEY: "xai-abc" }))).toEqual({ api: ["sekrit"], grok: "xai-abc" })
    expect(keysOf(loadConfig({ INSIGHTD_CONFIG: path, INSIGHTD_API_KEYS: "sekrit", MY_KEYS: "mine", XAI_API_KEY: "xai-abc", MY_XAI: "xai-mine" }))).toEqual({ api: ["sekrit"], grok: "xai-abc" })
    // The named variables still serve when the standard ones are unset (or empty).
    expect(keysOf(loadConfig({ INSIGHTD_CONFIG: path, INSIGHTD_API_KEYS: "", MY_KEYS: "mine", MY_XAI: "xai-mine" }))).toEqual({ api: ["mine"], grok: "xai-mine" })
  })

  it("the start log's description of it holds no secret: keys as a count, a password in XAI_BASE_URL masked", () => {
    const config = Either.getOrThrow(
      loadConfig({ INSIGHTD_CONFIG: "", INSIGHTD_API_KEYS: "topsecret", XAI_API_KEY: "sk-secret-123", XAI_BASE_URL: "http://user:hunter2@127.0.0.1:1/v1" })
    )
    const described = JSON.stringify(describeConfig(config))
    for (const secret of ["topsecret", "sk-secret-123", "hunter2", "user:"]) expect(described).not.toContain(secret)
    expect(described).toContain('"baseUrl":"http://***@127.0.0.1:1/v1"')
    // A key in the query (a gateway's ?api_key=…) is masked too.
    const withQuery = Either.getOrThrow(loadConfig({ INSIGHTD_CONFIG: "", XAI_API_KEY: "k", XAI_BASE_URL: "https://gateway.example/v1?api_key=qsecret&region=eu" }))
    const describedQuery = JSON.stringify(describeConfig(withQuery))
    expect(describedQuery).not.toContain("qsecret")
    expect(describedQuery).toContain('"baseUrl":"https://gateway.example/v1?api_key=***&region=***"')
    expect(described).toContain('"api_keys":1')
    expect(described).toContain('"xai_key_present":true')
    expect(described).not.toMatch(/apiKeys|apiKey"/)
  })

  it("an API key list with no key in it is refused, not read as 'no authentication'", () => {
    expect(errorOf(loadConfig({ INSIGHTD_API_KEYS: " , ," }))).toMatch(/INSIGHTD_API_KEYS: holds no key/)
    expect(errorOf(loadConfig({ INSIGHTD_CONFIG: file("keys.json", { http: { api_keys_env: "MY_KEYS" } }), MY_KEYS: "," }))).toMatch(/MY_KEYS: holds no key/)
    expect(Either.getOrThrow(loadConfig({ INSIGHTD_API_KEYS: "" })).http.apiKeys).toEqual([])
  })

  it("a bad environment value names the variable", () => {
    expect(errorOf(loadConfig({ INSIGHTD_PORT: "eighty" }))).toMatch(/INSIGHTD_PORT/)
    expect(errorOf(loadConfig({ INSIGHTD_PORT: "70000" }))).toMatch(/INSIGHTD_PORT/)
    expect(errorOf(loadConfig({ INSIGHTD_ANALYZER: "magic" }))).toMatch(/INSIGHTD_ANALYZER: must be one of auto, grok, local/)
    expect(errorOf(loadConfig({ INSIGHTD_RATE_LIMIT: "-1" }))).toMatch(/INSIGHTD_RATE_LIMIT/)
  })

  it("a listen host that is neither an IP address nor a host name is a configuration error, before anything is opened", () => {
    for (const host of ["999.1.1.1", "local host", "-bad.example", "http://127.0.0.1"]) {
      expect(errorOf(loadConfig({ INSIGHTD_HOST: host })), host).toMatch(/INSIGHTD_HOST: must be an IP address \(127\.0\.0\.1, 0\.0\.0\.0, ::\) or a host name/)
    }
    expect(errorOf(loadConfig({ INSIGHTD_CONFIG: file("host.json", { http: { host: "1.2.3" } }) }))).toMatch(/http\.host: must be an IP address/)
    for (const host of ["127.0.0.1", "0.0.0.0", "::", "::1", "localhost", "insightd.internal", "api-1.example.com."]) {
      expect(Either.getOrThrow(loadConfig({ INSIGHTD_HOST: host })).http.host, host).toBe(host)
    }
  })

  it("every bad field of config.json is named at once, in plain words", () => {
    const message = errorOf(loadConfig({ INSIGHTD_CONFIG: file("many.json", { htp: {}, http: { port: "x" }, log: { level: "loud" } }) }))
    expect(message).toContain('htp: is not a field here (known: "http", ')
    expect(message).toContain('http.port: must be a number (got "x")')
    expect(message).toContain('log.level: must be one of "trace", "debug", "info", "warning", "warn", "error", "fatal", "none" (got "loud")')
    expect(message).not.toMatch(/Expected|actual/)
  })

  it("a bad or unknown field in config.json is named with its path", () => {
    expect(errorOf(loadConfig({ INSIGHTD_CONFIG: file("b.json", { http: { port: "x" } }) }))).toMatch(/http\.port/)
    expect(errorOf(loadConfig({ INSIGHTD_CONFIG: file("c.json", { htp: {} }) }))).toMatch(/htp/)
    expect(errorOf(loadConfig({ INSIGHTD_CONFIG: file("d.json", "{ nope") }))).toMatch(/not valid JSON/)
    expect(errorOf(loadConfig({ INSIGHTD_CONFIG: join(dir, "missing.json") }))).toMatch(/does not exist/)
    // A file that holds no JSON object, or a directory: said plainly, not as Schema's shape dump.
    expect(errorOf(loadConfig({ INSIGHTD_CONFIG: file("array.json", []) }))).toMatch(/array\.json: must hold a JSON object \{…\} \(got an array\)$/)
    expect(errorOf(loadConfig({ INSIGHTD_CONFIG: dir }))).toMatch(/is a directory, not a file$/)
    expect(errorOf(loadPipeline(file("pipeline-array.json", [])))).toMatch(/pipeline-array\.json: must hold a JSON object \{…\} \(got an array\)$/)
    expect(errorOf(loadPipeline(dir))).toMatch(/is a directory, not a file$/)
    // A relative path that is not there: where it was looked for, and why there.
    expect(errorOf(loadPipeline("no-such-dir/p.json"))).toBe(
      `pipeline file no-such-dir/p.json: does not exist (looked for ${join(process.cwd(), "no-such-dir/p.json")}: a relative path is read from the working directory)`
    )
    // An empty database file would be a temporary database, deleted at exit (every 202 lost);
    // an empty host would listen on every interface.
    expect(errorOf(loadConfig({ INSIGHTD_CONFIG: file("e.json", { database: { file: "" }, http: { host: " " } }) }))).toMatch(
      /http\.host: must not be empty; database\.file: must not be empty/
    )
  })

  it("Grok settings in config.json are checked like their variables: an http(s) base URL, a model, variable names", () => {
    const message = errorOf(
      loadConfig({ INSIGHTD_CONFIG: file("grok.json", { analyzer: { grok: { base_url: "not a url", model: " ", api_key_env: "xai-123 secret" } }, http: { api_keys_env: "" } }) })
    )
    expect(message).toContain("http.api_keys_env: must be the name of an environment variable")
    expect(message).toContain("analyzer.grok.base_url: must be an http(s) URL")
    expect(message).toContain("analyzer.grok.model: must not be empty")
    expect(message).toContain("analyzer.grok.api_key_env: must be the name of an environment variable")
    expect(message).not.toContain("xai-123")
  })

  it("config.json and pipeline files saved with a byte-order mark (Windows editors) are read", () => {
    const config = file("bom.json", `\uFEFF${JSON.stringify({ http: { port: 9100 } })}`)
    expect(Either.getOrThrow(loadConfig({ INSIGHTD_CONFIG: config })).http.port).toBe(9100)
    const pipeline = file("bom-pipeline.json", `\uFEFF${readFileSync("pipelines/default.json", "utf8")}`)
    expect(errorOf(loadPipeline(pipeline))).toBe("no error")
  })

  it("pipeline files are validated and name the bad field", () => {
    const good = loadPipeline("pipelines/default.json")
    expect(Either.isRight(good) && good.right.batch).toEqual({ size: 10, waitMs: 0 })
    const bad = file("p1.json", { name: "x", sources: [{ type: "http" }], stages: [{ stage: "validate" }, { stage: "persist" }, { stage: "batch", size: 0 }, { stage: "analyze" }, { stage: "persist-insight" }] })
    expect(errorOf(loadPipeline(bad))).toMatch(/stages\.2\.size/)
    const disordered = file("p2.json", { name: "x", sources: [{ type: "http" }], stages: [{ stage: "persist" }, { stage: "validate" }] })
    expect(errorOf(loadPipeline(disordered))).toMatch(/order/)
    const twice = file("p3.json", { name: "x", sources: [{ type: "http" }, { type: "stdin" }, { type: "http" }], stages: [{ stage: "validate" }, { stage: "persist" }] })
    expect(errorOf(loadPipeline(twice))).toMatch(/sources\.2\.type: http is listed twice/)
  })
})
