# presencelb's image: the control plane (ext_proc server on 18001, xDS/ADS server on 18000, /metrics on 9464), run from its
# TypeScript sources through its own loader (src/runtime/register-ts.mjs, esbuild), as bin/presencelb.mjs does everywhere
# else. docker-compose.yml builds it; to build it alone: docker build -t presencelb .
#
# Stage 1 installs every dependency (sqlite3 compiles with node-gyp when no prebuilt binary can be fetched, hence
# python3/make/g++), builds build/envoy.binpb (the descriptor image of Envoy's protos, scripts/build-protos.sh,
# which needs the dev dependency @bufbuild/buf) and then drops the dev dependencies. Stage 2 has no compiler.

FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY scripts/build-protos.sh scripts/
RUN bash scripts/build-protos.sh && rm -rf build/protos
RUN npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/build/envoy.binpb ./build/envoy.binpb
COPY package.json package-lock.json ./
COPY bin ./bin
COPY proto ./proto
COPY src ./src
# A default configuration (the compose one); mount another directory over /etc/presencelb to replace it.
COPY deploy/presencelb/ /etc/presencelb/
# The SQLite store of the compose configuration, and the flow log's directory (docker-compose.yml, volume
# presencelb-flows, shared with Envoy running as the same uid): a named volume mounted here starts with this ownership.
RUN install -d -o node -g node -m 0750 /var/lib/presencelb /var/log/presencelb-flows
# The node image's unprivileged user (uid 1000).
USER node
EXPOSE 18000 18001 9464
# V8 options: src/cli/node-flags.ts (NODE_FLAGS) says why; test/deploy/compose.test.ts keeps them the same.
ENTRYPOINT ["node", "--max-semi-space-size=32", "bin/presencelb.mjs"]
CMD ["serve", "-c", "/etc/presencelb/presencelb.yaml"]
