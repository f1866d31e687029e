# syntax=docker/dockerfile:1
# shardline worker image: `docker run … shardline-image --table orders --processor /app/processor.mjs`
# (the entrypoint is `shardline run`; every flag also works as a SHARDLINE_<FLAG> variable).

# ---- build: install everything (the test kit included: the CLI's dev commands are typed against
# it), compile every workspace.
FROM node:20-slim AS build
WORKDIR /app
ENV AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
# Manifests first, so the dependency layer is cached until a package.json or the lock changes.
COPY package.json package-lock.json ./
COPY packages/core/package.json packages/core/
COPY packages/streams/package.json packages/streams/
COPY packages/leases/package.json packages/leases/
COPY packages/worker/package.json packages/worker/
COPY packages/testkit/package.json packages/testkit/
COPY apps/shardline/package.json apps/shardline/
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json turbo.json ./
COPY packages packages
COPY apps apps
RUN npx turbo run build --output-logs=errors-only

# ---- deps: production dependencies of the worker and the CLI only. @shardline/testkit (DynamoDB
# Local's jar, testcontainers) is an optional peer of the CLI, needed by `shardline local`,
# `simulate` and `demo` alone, never by `run` or `status`. Its manifest is left out here, so the
# workspace glob does not find it and `npm ci` installs neither it nor its dependencies: a
# workspace is always installed with its dependencies, whatever --omit says, so pruning the
# build stage's node_modules would keep them.
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/core/package.json packages/core/
COPY packages/streams/package.json packages/streams/
COPY packages/leases/package.json packages/leases/
COPY packages/worker/package.json packages/worker/
COPY apps/shardline/package.json apps/shardline/
RUN npm ci --omit=dev --no-audit --no-fund

# ---- runtime: compiled output and production dependencies only, as an unprivileged user. The dev
# commands say in one line (exit 2) that they need @shardline/testkit; `run` is the entrypoint.
FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true \
    SHARDLINE_HEALTH_HOST=0.0.0.0 \
    SHARDLINE_HEALTH_PORT=9464
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/packages/core/package.json packages/core/
COPY --from=build /app/packages/core/dist packages/core/dist
COPY --from=build /app/packages/streams/package.json packages/streams/
COPY --from=build /app/packages/streams/dist packages/streams/dist
COPY --from=build /app/packages/leases/package.json packages/leases/
COPY --from=build /app/packages/leases/dist packages/leases/dist
COPY --from=build /app/packages/worker/package.json packages/worker/
COPY --from=build /app/packages/worker/dist packages/worker/dist
COPY --from=build /app/apps/shardline/package.json apps/shardline/
COPY --from=build /app/apps/shardline/dist apps/shardline/dist
COPY examples examples
RUN ln -s /app/apps/shardline/dist/cli.js /usr/local/bin/shardline
# The `node` user (uid 1000) of the base image; never root.
USER node
EXPOSE 9464
# Health and metrics (the server binds 0.0.0.0 here, see SHARDLINE_HEALTH_HOST).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SHARDLINE_HEALTH_PORT||9464)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and shardline handles SIGTERM/SIGINT itself: first = graceful, second = force.
ENTRYPOINT ["node", "/app/apps/shardline/dist/cli.js", "run"]
