#!/usr/bin/env bash
# Installs grpcurl (used by the admin API tests and handy by hand: `grpcurl -plaintext 127.0.0.1:18002 list`) with
# `go install` through the Go module proxy, into $(go env GOPATH)/bin. Idempotent: does nothing when that version
# is already there. Prints the binary's path on its last line.
set -euo pipefail
GRPCURL_VERSION=v1.9.4
if ! command -v go >/dev/null; then
  echo "install-grpcurl: Go is not installed (needed to build grpcurl $GRPCURL_VERSION)" >&2
  exit 1
fi
bin="$(go env GOPATH)/bin/grpcurl"
if [ ! -x "$bin" ] || ! go version -m "$bin" 2>/dev/null | grep -q "github.com/fullstorydev/grpcurl[[:space:]]*$GRPCURL_VERSION"; then
  echo "install-grpcurl: go install grpcurl $GRPCURL_VERSION (a few minutes the first time)" >&2
  go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
fi
echo "$bin"
