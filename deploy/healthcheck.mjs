// Docker HEALTHCHECK: GET /health where the daemon listens. The port is found as the daemon finds
// it: INSIGHTD_PORT, else `http.port` of the config file (INSIGHTD_CONFIG, default ./config.json,
// e.g. one mounted over the image's), else 8080; the host the same way. Exit 0 when healthy, 1 otherwise.
import { readFileSync } from "node:fs"

/** The config file's `http` settings, read once. */
const configuredHttp = (() => {
  try {
    return JSON.parse(readFileSync(process.env.INSIGHTD_CONFIG || "config.json", "utf8"))?.http ?? {}
  } catch {
    return {} // unreadable: the daemon would not have started either
  }
})()

// A daemon bound to one address (INSIGHTD_HOST or `http.host`) answers only there; a wildcard
// (0.0.0.0, ::, the image's default) is reached on loopback.
const host = process.env.INSIGHTD_HOST || configuredHttp.host || "127.0.0.1"
const reachable = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host

const port = process.env.INSIGHTD_PORT || configuredHttp.port || 8080
try {
  const response = await fetch(`http://${reachable}:${port}/health`, { signal: AbortSignal.timeout(4000) })
  process.exit(response.ok ? 0 : 1)
} catch {
  process.exit(1)
}
