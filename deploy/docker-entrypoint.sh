#!/bin/sh
# `insightd serve` runs with a bounded V8 heap: without a cap V8 lets garbage pile up in the old
# generation on a large machine (measured: RSS 290-460 MB under ingest load instead of < 200 MB).
# Other commands (an import-csv of the full 2.8 M-tweet file) keep Node's defaults.
# INSIGHTD_NODE_OPTIONS replaces the daemon's flags (e.g. a larger heap for huge bulk bodies).
set -e
if [ "$1" = "serve" ]; then
  # shellcheck disable=SC2086 # the flags are meant to split into separate arguments
  exec node ${INSIGHTD_NODE_OPTIONS:---max-semi-space-size=4 --max-old-space-size=192} dist/main.js "$@"
fi
exec node dist/main.js "$@"
