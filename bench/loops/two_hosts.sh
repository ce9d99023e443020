#!/usr/bin/env bash
# bench/loops/two_hosts.sh: does a second event loop take work? Two origin
# hosts (nginx on two loopback ports), one fetchpoold, two fetch_load clients
# at once (one per host), for each --event_loops value given (default: 1 2 1 2,
# interleaved). Prints fetches/s and each fetchpoold thread group's CPU per
# fetch (utime + stime from /proc). Everything listens on 127.0.0.1 and every
# process it starts is ended when it exits.
#
#   bench/loops/two_hosts.sh [LOOPS...]
#
# Uses the Release binaries of build-bench/ (bench/run.sh builds them).
# Environment: TWO_HOSTS_FETCHES (per client, default 60000).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../lib/common.sh
source "$ROOT/bench/lib/common.sh"
BIN=$ROOT/build-bench
FETCHES=${TWO_HOSTS_FETCHES:-60000}
[[ $# -gt 0 ]] || set -- 1 2 1 2
for f in server/fetchpoold bench/fetch_load; do
  [[ -x $BIN/$f ]] || { echo "missing $BIN/$f: run bench/run.sh first" >&2; exit 1; }
done
bench_tmp_dir fetchpool-two-hosts "$(mktemp -d)"

start_origin() {  # PORT: a one-worker nginx answering 100 bytes
  local port=$1
  cat >"$BENCH_TMP/o$port.conf" <<CONF
worker_processes 1; daemon off; pid $BENCH_TMP/o$port.pid; error_log $BENCH_TMP/o$port.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$port; keepalive_requests 1000000;
  location / { return 200 "$(printf '%0100d' 0)"; } } }
CONF
  nginx -c "$BENCH_TMP/o$port.conf" -p "$BENCH_TMP" &
  track_pid $!
}

# CPU ticks by thread name ("fp-loop-0 1234").
cpu_by_thread() {
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s\n' "$(cat "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"
  done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort
}

P1=$(free_port)
P2=$(free_port)
start_origin "$P1"
start_origin "$P2"
sleep 0.5
ticks=$(getconf CLK_TCK)
for loops in "$@"; do
  FP=$(free_port)
  "$BIN/server/fetchpoold" --listen=127.0.0.1:"$FP" --metrics_listen= --drain_delay=0s --allow_cidrs=127.0.0.0/8 \
    --event_loops="$loops" 2>"$BENCH_TMP/fetchpoold.log" &
  fp=$!
  track_pid "$fp"
  sleep 1
  load() {  # URL REQUESTS
    "$BIN/bench/fetch_load" --target=127.0.0.1:"$FP" --url="$1" --requests="$2" --concurrency=32 --channels=2
  }
  load "http://127.0.0.1:$P1/" 2000 >/dev/null && load "http://127.0.0.1:$P2/" 2000 >/dev/null  # warm-up
  cpu_by_thread "$fp" >"$BENCH_TMP/before"
  start=$(date +%s.%N)
  load "http://127.0.0.1:$P1/" "$FETCHES" >"$BENCH_TMP/load1.log" 2>&1 &
  a=$!
  load "http://127.0.0.1:$P2/" "$FETCHES" >"$BENCH_TMP/load2.log" 2>&1 &
  b=$!
  wait "$a" "$b"
  end=$(date +%s.%N)
  cpu_by_thread "$fp" >"$BENCH_TMP/after"
  total=$((2 * FETCHES))
  printf -- '--event_loops=%s: %d fetches in %.2f s, %.0f fetches/s; CPU µs per fetch by thread:' \
    "$loops" "$total" "$(echo "$end - $start" | bc)" "$(echo "$total / ($end - $start)" | bc -l)"
  join "$BENCH_TMP/before" "$BENCH_TMP/after" |
    awk -v n="$total" -v hz="$ticks" '{d = $3 - $2; if (d > 0) printf " %s %.1f", $1, d * 1e6 / hz / n}'
  echo
  stop_pid "$fp"
done
