#!/usr/bin/env bash
# Greedy callers are bounded (issue 11): STREAMS FetchStreams x FETCHES
# fetches of BODY-byte bodies from a loopback test origin, through a
# fetchpoold (a process of its own) started with --max_buffered_bytes=BUDGET.
# Prints the client's counts (every request answered: OK or
# BUFFER_BUDGET_EXCEEDED, none lost) and fetchpoold's peak RSS (VmHWM of
# /proc/PID/status, read before it is stopped), and checks
#   peak RSS <= BUDGET + RSS_SLACK_MB
# unless SANITIZED is set (ASan/TSan builds use several times the memory).
#
#   bench/budget/run.sh FETCHPOOLD TEST_ORIGIN_SERVER BUDGET_CLIENT
#   (defaults: build/server/fetchpoold build/tests/origin/fetchpool_test_origin_server
#    build/bench/budget_client)
#
# Environment: STREAMS=4 FETCHES=1000 BODY=1000000 BUDGET=268435456 (256 MiB)
#   RSS_SLACK_MB=200 EVENT_LOOPS=2 SANITIZED= (non-empty: skip the RSS check)
# The ctest budget_stream_test runs it with FETCHES=250.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FETCHPOOLD=${1:-$ROOT/build/server/fetchpoold}
ORIGIN=${2:-$ROOT/build/tests/origin/fetchpool_test_origin_server}
CLIENT=${3:-$ROOT/build/bench/budget_client}
STREAMS=${STREAMS:-4}
FETCHES=${FETCHES:-1000}
BODY=${BODY:-1000000}
BUDGET=${BUDGET:-268435456}
RSS_SLACK_MB=${RSS_SLACK_MB:-200}
EVENT_LOOPS=${EVENT_LOOPS:-2}
SANITIZED=${SANITIZED:-}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fetchpool-budget.XXXXXX")
PIDS=()
log() { printf '[budget] %s\n' "$*" >&2; }
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  local give_up=$((SECONDS + 10))
  for pid in "${PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < give_up)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 ]]; then
    local f
    for f in origin.err fetchpoold.err client.out client.err; do
      [[ -s $WORK/$f ]] || continue
      echo "---- $f (last 20 lines) ----"
      tail -n 20 "$WORK/$f"
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
  log "FAIL: $*"
  exit 1
}

# wait_for_line FILE REGEX PID WHAT: the first line of FILE matching REGEX.
wait_for_line() {
  local file=$1 regex=$2 pid=$3 what=$4 line give_up=$((SECONDS + 30))
  while ((SECONDS < give_up)); do
    line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
    if [[ -n $line ]]; then
      printf '%s\n' "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || fail "$what exited before it was ready"
    sleep 0.1
  done
  fail "timed out waiting for $what"
}

"$ORIGIN" --port=0 >"$WORK/origin.out" 2>"$WORK/origin.err" &
PIDS+=("$!")
line=$(wait_for_line "$WORK/origin.out" '^listening on 127\.0\.0\.1:[0-9]+' "${PIDS[0]}" "test origin")
ORIGIN_PORT=${line##*:}

# --wait_timeout: 4 streams x 256 in flight queue on one host's 64
# connections; under TSan a 1 MB fetch is slow enough that the default 5 s
# wait ends some with WAIT_TIMEOUT, which is not what this measures.
"$FETCHPOOLD" --listen=127.0.0.1:0 --metrics_listen= --allow_cidrs=127.0.0.0/8 \
  --event_loops="$EVENT_LOOPS" --max_buffered_bytes="$BUDGET" --shutdown_grace=1s \
  --wait_timeout=2m \
  2>"$WORK/fetchpoold.err" &
FETCHPOOLD_PID=$!
PIDS+=("$FETCHPOOLD_PID")
line=$(wait_for_line "$WORK/fetchpoold.err" '"event":"start"' "$FETCHPOOLD_PID" "fetchpoold")
GRPC_PORT=$(sed -E 's/.*"port":"([0-9]+)".*/\1/' <<<"$line")
[[ $GRPC_PORT =~ ^[0-9]+$ ]] || fail "no gRPC port in: $line"
BASE_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$FETCHPOOLD_PID/status")

log "origin 127.0.0.1:$ORIGIN_PORT, fetchpoold 127.0.0.1:$GRPC_PORT (budget $BUDGET bytes)," \
  "$STREAMS streams x $FETCHES fetches of $BODY bytes"
client_rc=0
"$CLIENT" --target="127.0.0.1:$GRPC_PORT" --url="http://127.0.0.1:$ORIGIN_PORT/bytes?n=$BODY" \
  --streams="$STREAMS" --fetches="$FETCHES" --expect_body="$BODY" \
  >"$WORK/client.out" 2>"$WORK/client.err" || client_rc=$?
HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$FETCHPOOLD_PID/status")
kill -0 "$FETCHPOOLD_PID" 2>/dev/null || fail "fetchpoold died during the run"

COUNTS=$(cat "$WORK/client.out")
LIMIT_KB=$((BUDGET / 1024 + RSS_SLACK_MB * 1024))
printf '{"streams":%s,"fetches_per_stream":%s,"body_bytes":%s,"budget_bytes":%s,' \
  "$STREAMS" "$FETCHES" "$BODY" "$BUDGET"
printf '"fetchpoold_rss_at_start_kb":%s,"fetchpoold_peak_rss_kb":%s,"peak_rss_limit_kb":%s,"client":%s}\n' \
  "$BASE_KB" "$HWM_KB" "$LIMIT_KB" "${COUNTS:-null}"

[[ $client_rc -eq 0 ]] || fail "the client saw lost, duplicated or unexpected answers (exit $client_rc)"
if [[ -n $SANITIZED ]]; then
  log "sanitizer build ($SANITIZED): peak RSS not checked"
elif ((HWM_KB > LIMIT_KB)); then
  fail "fetchpoold's peak RSS ${HWM_KB} kB is over budget + ${RSS_SLACK_MB} MB = ${LIMIT_KB} kB"
fi
log "ok"
