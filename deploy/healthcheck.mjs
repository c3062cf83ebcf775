// Docker HEALTHCHECK: GET /health where the daemon listens. The port is found as the daemon finds
// it: INSIGHTD_PORT, else `http.port` of the config file (INSIGHTD_CONFIG, default ./config.json,
// e.g. one mounted over the image's), else 8080. Exit 0 when healthy, 1 otherwise.
import { readFileSync } from "node:fs"

const configuredPort = () => {
  try {
    const config = JSON.parse(readFileSync(process.env.INSIGHTD_CONFIG || "config.json", "utf8"))
    return config?.http?.port
  } catch {
    return undefined // unreadable: the daemon would not have started either
  }
}

const port = process.env.INSIGHTD_PORT || configuredPort() || 8080
try {
  const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(4000) })
  process.exit(response.ok ? 0 : 1)
} catch {
  process.exit(1)
}
