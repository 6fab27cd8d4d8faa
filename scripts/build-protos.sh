#!/usr/bin/env bash
# Builds build/envoy.binpb: a descriptor image of the Envoy/xDS protos presencelb speaks, from the .proto sources
# shipped inside the npm package @grpc/grpc-js-xds. Offline and idempotent (skips when the image is newer than
# this script and package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/envoy.binpb
if [ -f "$out" ] && [ "$out" -nt scripts/build-protos.sh ] && [ "$out" -nt package-lock.json ]; then exit 0; fi
deps=node_modules/@grpc/grpc-js-xds/deps
tree=build/protos
rm -rf "$tree" && mkdir -p "$tree"
for d in envoy-api xds googleapis; do cp -r "$deps/$d/." "$tree/"; done
cp -r "$deps/protoc-gen-validate/validate" "$tree/"
# The protoc-gen-validate copy shipped there predates the Envoy API beside it: StringRules lacks ignore_empty
# (field 26 upstream), which Envoy's annotations use. Validation rules are annotations only; add the field.
if ! grep -q 'ignore_empty' "$tree/validate/validate.proto"; then
  sed -i '/^message StringRules {/a\    optional bool ignore_empty = 26;' "$tree/validate/validate.proto"
fi
printf 'version: v2\n' > "$tree/buf.yaml"
paths=(
  envoy/service/discovery/v3/ads.proto
  envoy/service/ext_proc/v3/external_processor.proto
  envoy/service/status/v3/csds.proto
  envoy/config/cluster/v3/cluster.proto
  envoy/config/endpoint/v3/endpoint.proto
  envoy/config/listener/v3/listener.proto
  envoy/config/route/v3/route.proto
  envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto
  envoy/extensions/filters/http/router/v3/router.proto
  envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto
  envoy/type/matcher/v3/http_inputs.proto
  envoy/service/accesslog/v3/als.proto
  envoy/extensions/access_loggers/grpc/v3/als.proto
)
args=()
for p in "${paths[@]}"; do args+=(--path "$tree/$p"); done
npx --no-install buf build "$tree" "${args[@]}" -o "$out"
echo "built $out"
