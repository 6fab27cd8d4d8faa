#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs (scripts/setup.sh), type-checks, lints the protos and checks
# them for breaking changes against the released admin API (proto/admin.v1.binpb), then runs
# every ava test (unit tests beside the code in src/, system tests with real Kamailio, Envoy, SQLite and
# PostgreSQL in test/). Extra arguments go to ava (e.g. a file). Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p .tmp
if ! npx tsc -p tsconfig.json; then echo "type check failed"; echo "0 passed, 1 failed"; exit 1; fi
if ! npx buf lint; then echo "buf lint failed"; echo "0 passed, 1 failed"; exit 1; fi
# The admin API as released (proto/admin.v1.binpb, checked in, so this works offline on any clone) must not break.
if ! npx buf breaking --against proto/admin.v1.binpb; then echo "buf breaking failed"; echo "0 passed, 1 failed"; exit 1; fi
npx ava --tap "$@" | tee .tmp/ava.tap
rc=${PIPESTATUS[0]}
passed=$(grep -cE '^ok [0-9]+ ' .tmp/ava.tap || true)
failed=$(grep -cE '^not ok [0-9]+ ' .tmp/ava.tap || true)
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ "$rc" -ne 0 ] && [ "$#" -eq 0 ]; then
  # When ava's inactivity timeout fires, its TAP reporter can crash before naming the tests it gave up on
  # (TypeError in dumpError): name the test files that reported nothing at all.
  silent=()
  while IFS= read -r f; do
    grep -qF -- " - $(echo "${f%.test.ts}" | sed 's|/| › |g') › " .tmp/ava.tap || silent+=("$f")
  done < <(find src test -name '*.test.ts' | sort)
  if ((${#silent[@]})); then echo "test files with no result (hung or never started): ${silent[*]}"; fi
fi
echo "$passed passed, $failed failed"
exit "$rc"
