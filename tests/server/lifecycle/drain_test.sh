#!/usr/bin/env bash
# ctest drain_complete / drain_cut (issue 13, "Drain, proven"): the real
# fetchpoold under load gets SIGTERM from drain_client, which checks what
# callers see (see drain_client.cc); this script checks what fetchpoold did:
# its exit code, its "stopped" line, and that it left no thread or
# descriptor behind (LeakSanitizer checks memory in the ASan build).
#
#   drain_test.sh complete   200 two-second unary fetches + 2 FetchStreams of
#                            100 in flight, a 1 s drain delay: all OK, exit 0
#   drain_test.sh cut        fetches longer than the grace period: the queued
#                            ones fail SHUTTING_DOWN, the running ones (sent
#                            already) ABORTED_AFTER_SEND, nothing hangs, exit 3
#
# Environment: FETCHPOOL_SOURCE_DIR, FETCHPOOL_BUILD_DIR (the binaries),
# FETCHPOOL_SANITIZE (thread / address / empty: the build's sanitizer),
# DRAIN_CLIENT (the driver). Figures are appended to $FETCHPOOL_BUILD_DIR/drain-results.jsonl.
set -euo pipefail
scenario=${1:?usage: drain_test.sh complete|cut}
source "${FETCHPOOL_SOURCE_DIR:?}/tests/lib/live_servers.sh"
live_init "drain_$scenario" 150
client=${DRAIN_CLIENT:-$LIVE_BUILD_DIR/tests/server/drain_client}
[[ -x $client ]] || fail "no drain_client at $client"

live_start_origin ORIGIN
case $scenario in
  complete)
    # Every fetch gets a connection at once (400 in flight); the delay is
    # shorter than a fetch, so fetches are still running when fetchpoold
    # stops taking calls, and must complete all the same. (1 s of delay
    # leaves a sanitizer build time to make its call inside it.)
    delay_ms=1000
    live_start_fetchpoold FP --drain_delay=${delay_ms}ms --shutdown_grace=20s \
      --max_connections_per_host=450 --max_stream_inflight=256
    client_args=(--unary=200 --streams=2 --per_stream=100 --fetch_ms=2000)
    want_exit=0
    ;;
  cut)
    delay_ms=100
    # 10 connections for 30 fetches: 10 running (sent) and 20 queued when
    # the grace ends (the wait timeout, 5 s, is longer than the grace).
    live_start_fetchpoold FP --drain_delay=${delay_ms}ms --shutdown_grace=1s \
      --max_connections_per_host=10
    client_args=(--unary=20 --streams=1 --per_stream=10 --fetch_ms=20000 --max_seconds=10
      --connections=10)
    want_exit=3
    ;;
  *) fail "unknown scenario $scenario" ;;
esac

start=$SECONDS
"$client" --scenario="$scenario" --target="127.0.0.1:$FP_PORT" --pid="$FP_PID" \
  --origin="127.0.0.1:$ORIGIN_PORT" --drain_delay_ms=$delay_ms "${client_args[@]}" \
  >"$LIVE_WORK/client.out" 2>"$LIVE_WORK/client.err" || {
  cat "$LIVE_WORK/client.err" >&2
  fail "drain_client found problems (above)"
}
figures=$(tail -n 1 "$LIVE_WORK/client.out")
log "client: $figures"

# fetchpoold exits by itself: within the grace period plus a little.
rc=0
while kill -0 "$FP_PID" 2>/dev/null; do
  ((SECONDS - start < 40)) || fail "fetchpoold did not exit within 40 s of SIGTERM"
  sleep 0.05
done
wait "$FP_PID" || rc=$?
[[ $rc -eq $want_exit ]] || fail "fetchpoold exited $rc, want $want_exit"

stopped=$(grep '"event":"stopped"' "$LIVE_WORK/FP.err" || true)
[[ -n $stopped ]] || fail "no \"stopped\" line in fetchpoold's log"
log "fetchpoold: $stopped"
field() { sed -E "s/.*\"$1\":\"([^\"]*)\".*/\\1/" <<<"$2"; }
cut_off=$(field fetches_cut_off "$stopped")
threads=$(field threads "$stopped")
fds=$(field open_fds "$stopped")
fds_at_start=$(field open_fds_before_start "$(grep '"event":"start"' "$LIVE_WORK/FP.err")")
if [[ $scenario == complete ]]; then
  [[ $cut_off == 0 ]] || fail "fetchpoold cut off $cut_off fetches"
else
  [[ $cut_off -gt 0 ]] || fail "fetchpoold reports no fetch cut off"
fi
# The threads at start (1), plus, under TSan, its runtime's background
# thread, which it starts with the process's second thread and never ends.
threads_at_start=$(field threads_before_start "$(grep '"event":"start"' "$LIVE_WORK/FP.err")")
allowed=$threads_at_start
[[ ${FETCHPOOL_SANITIZE:-} == thread ]] && allowed=$((allowed + 1))
((threads <= allowed)) ||
  fail "$threads threads were still running at exit ($(field other_threads "$stopped") besides main), $threads_at_start before start"
# Left open may be only gRPC's process-wide poller, which gRPC keeps for the
# process's life (see server/main.cc): no socket, pipe or file.
opened=$(field fds_opened_since_start "$stopped")
leftover=$(tr ',' '\n' <<<"$opened" | grep -v -E '^[0-9]+:anon_inode:\[(eventpoll|eventfd)\]$' | grep -v '^$' || true)
[[ -z $leftover ]] || fail "descriptors left open at exit: $leftover"
(($(tr ',' '\n' <<<"$opened" | grep -c . || true) <= 2)) || fail "more than gRPC's poller left open: $opened"

results=${FETCHPOOL_BUILD_DIR:-$LIVE_BUILD_DIR}/drain-results.jsonl
printf '%s %s\n' "${figures%\}}" ",\"exit\":$rc,\"stopped\":$stopped}" >>"$results" 2>/dev/null || true
log "ok: $scenario (exit $rc, threads $threads, descriptors $fds, $fds_at_start at start; opened since: $opened)"
