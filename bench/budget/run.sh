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

# Work dir, log/fail, wait_for_line, and stopping every process at exit (with
# the tails of their *.out/*.err on failure): the shared test harness.
FETCHPOOL_TEST_ORIGIN=$ORIGIN
source "$ROOT/tests/lib/live_servers.sh"
live_init budget 1800

live_start_origin ORIGIN
# --wait_timeout: 4 streams x 256 in flight queue on one host's 64
# connections; under TSan a 1 MB fetch is slow enough that the default 5 s
# wait ends some with WAIT_TIMEOUT, which is not what this measures.
# --metrics_listen= : no /metrics server in the RSS being measured.
live_start_fetchpoold FP --metrics_listen= --event_loops="$EVENT_LOOPS" \
  --max_buffered_bytes="$BUDGET" --shutdown_grace=1s --wait_timeout=2m
GRPC_PORT=$FP_PORT
FETCHPOOLD_PID=$FP_PID
WORK=$LIVE_WORK
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
