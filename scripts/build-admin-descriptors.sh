#!/usr/bin/env bash
# Builds proto/reflection.binpb, the descriptor set the admin API's server reflection serves: presencelb.admin.v1
# (with comments, and its import google/protobuf/timestamp.proto) and grpc.health.v1 (from grpc-health-check), built
# by buf so that grpcurl resolves every type (proto-loader's own descriptors name no imports; grpc-node issue 2958).
# The file is checked in, so a clean clone and the Docker image need no build step; run this script after changing
# a .proto: test/admin/descriptors.test.ts fails while the file differs from a fresh build. Offline.
# Usage: bash scripts/build-admin-descriptors.sh [OUT]   (default proto/reflection.binpb)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-proto/reflection.binpb}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npx --no-install buf build proto -o "$tmp/admin.binpb"
npx --no-install buf build node_modules/grpc-health-check/proto -o "$tmp/health.binpb"
# Serialized FileDescriptorSets concatenate into one set holding both file lists (repeated fields merge).
cat "$tmp/admin.binpb" "$tmp/health.binpb" > "$out"
