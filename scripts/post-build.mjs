// Makes the compiled entry point executable so `npx insightd` and the package `bin` work.
import { chmodSync, readFileSync, writeFileSync } from "node:fs"

const entry = new URL("../dist/main.js", import.meta.url)
const source = readFileSync(entry, "utf8")
if (!source.startsWith("#!")) writeFileSync(entry, `#!/usr/bin/env node\n${source}`)
chmodSync(entry, 0o755)
