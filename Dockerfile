# Claude Code Gateway: the README's install and start commands, on Python slim with Node.js.
#
#   docker build -t claude-code-gateway .
#   docker run -p 127.0.0.1:3000:3000 -e API_KEY=... \
#     -v cc-workspaces:/data/workspaces -v cc-state:/data/state -v cc-claude:/data/claude \
#     claude-code-gateway
#
# Node.js comes from the official image of the same Debian release (so the same libc): npm
# installs the pinned CLI, and operators' MCP servers often run with npx.
FROM node:22-bookworm-slim AS node

FROM python:3.11-slim-bookworm

COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx

# git: Claude Code's tools use it in workspaces. tini: PID 1 that reaps every orphan.
# Debian keeps only its current package versions, so they are not pinned here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git tini \
    && rm -rf /var/lib/apt/lists/*

# The server runs as its own unprivileged user, gateway, uid 10001 (USER gives the number,
# which Kubernetes' runAsNonRoot can check); the code stays root's, read-only to it.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/gateway gateway

WORKDIR /app
# The README's install command, step by step: bubblewrap and socat (the turns' sandbox), then
# dependencies before code, for the layer cache.
COPY scripts ./scripts
RUN apt-get update \
    && scripts/install-system-packages \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    npm_config_cache=/tmp/npm-cache \
    PYTHONUNBUFFERED=1

COPY requirements.txt ./
RUN python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && rm -rf /tmp/npm-cache
COPY gunicorn.conf.py ./
COPY app ./app

# Served on every interface, so the server refuses to start without API_KEY or API_KEYS.
# Workspaces, state and the CLI's credentials (CLAUDE_CONFIG_DIR) live on volumes.
ENV HOST=0.0.0.0 \
    PORT=3000 \
    WORKSPACE_BASE_PATH=/data/workspaces \
    STATE_DIR=/data/state \
    CLAUDE_CONFIG_DIR=/data/claude \
    CLAUDE_PATH=/app/node_modules/.bin/claude \
    HOME=/home/gateway
RUN mkdir -p /data/workspaces /data/state /data/claude \
    && chown gateway:gateway /data/workspaces /data/state /data/claude
VOLUME ["/data/workspaces", "/data/state", "/data/claude"]

USER 10001:10001
EXPOSE 3000
# /health answers 503 when the CLI, the workspace base or the state is unusable.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD [".venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3000'), timeout=8)"]

ENTRYPOINT ["/usr/bin/tini", "--"]
# The README's start command; gunicorn reads ./gunicorn.conf.py from the working directory.
CMD [".venv/bin/gunicorn", "app:create_app()"]
