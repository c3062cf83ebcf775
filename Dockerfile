# syntax=docker/dockerfile:1
#
#   docker build -t insightd .
#   docker run -d --name insightd -p 8080:8080 -v insightd-data:/data insightd
#   docker stop insightd        # SIGTERM: the daemon drains and exits 0
#
# Node is PID 1 and handles SIGTERM/SIGINT itself (it installs its own handlers, so the kernel's
# "PID 1 ignores default signals" rule does not bite) and spawns no child processes, so there are
# no zombies to reap: `docker run --init` / tini is not needed.

# ---------------------------------------------------------------------------------------------
# build: compile TypeScript and better-sqlite3's native module for this image's Node 22
# ---------------------------------------------------------------------------------------------
FROM node:22-bookworm-slim AS build

# Toolchain for node-gyp, used when no prebuilt better-sqlite3 binary can be downloaded.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first (cached while package*.json are unchanged). --ignore-scripts because
# `prepare` (= build) needs the sources, which are not copied yet; the only install script the
# runtime needs is better-sqlite3's, run explicitly by `npm rebuild` (prebuilt download, else
# compiled from source against this image's Node headers).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && node -e "const D = require('better-sqlite3'); new D(':memory:').prepare('select 1').get(); console.log('better-sqlite3 OK on', process.version)"

COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# Then drop dev dependencies and better-sqlite3's build leftovers (SQLite sources, object files:
# ~26 MB); only build/Release/better_sqlite3.node is loaded at run time.
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && find node_modules/better-sqlite3/build -mindepth 1 -not -path '*/build/Release' \
      -not -path '*/build/Release/better_sqlite3.node' -delete \
 && rm -rf node_modules/better-sqlite3/deps node_modules/better-sqlite3/src \
 && node -e "const D = require('better-sqlite3'); new D(':memory:').prepare('select 1').get()"

# ---------------------------------------------------------------------------------------------
# runtime: pruned node_modules + dist, non-root, database on the /data volume
# ---------------------------------------------------------------------------------------------
FROM node:22-bookworm-slim

# The drain budget (default 10 s) is cut to 8 s so that `docker stop`'s default 10 s timeout never
# SIGKILLs a drain in progress; with `docker run --stop-timeout N` it can be raised again.
# MALLOC_ARENA_MAX=2: glibc's per-thread malloc arenas (V8 and libuv threads) held ~14 MB of
# freed memory in the daemon (README, Memory).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    INSIGHTD_HOST=0.0.0.0 \
    INSIGHTD_DB=/data/insightd.db \
    INSIGHTD_GRACE_PERIOD_MS=8000

RUN groupadd --system --gid 10001 insightd \
 && useradd --system --uid 10001 --gid insightd --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin insightd \
 && mkdir -p /data \
 && chown insightd:insightd /data

WORKDIR /app

# Application files stay root-owned (read-only for the service user); only /data is writable.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config.json ./config.json
COPY pipelines ./pipelines
COPY deploy/docker-entrypoint.sh deploy/healthcheck.mjs ./

USER insightd
VOLUME /data
EXPOSE 8080

# No curl in the slim image: Node's own fetch, on the port the daemon uses (INSIGHTD_PORT, else
# the config file's http.port, else 8080: see deploy/healthcheck.mjs).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "healthcheck.mjs"]

STOPSIGNAL SIGTERM
# serve gets the daemon's heap flags (see the script); exec keeps node as PID 1 for signals.
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD ["serve"]
