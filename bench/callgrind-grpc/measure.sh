#!/usr/bin/env bash
# bench/callgrind-grpc/measure.sh: instructions (callgrind Ir) and context
# switches per fetch of fetchpoold, for comparing gRPC-side changes.
# Self-contained; everything listens on 127.0.0.1 and every process it starts
# is ended by pid when it exits.
#
#   bench/callgrind-grpc/measure.sh [--mode=fetch|stream] [--fetches=N]
#       [--native-fetches=N] [--cg-concurrency=N] [--label=NAME] [--no-native]
#       [--no-callgrind]
#       [-- extra fetchpoold flags...]
#
#   --mode=fetch   unary Fetch, driven by fetch_load (concurrency 16)
#   --mode=stream  FetchStream, driven by stream_load (4 streams x 16)
#   --fetches      fetches measured under callgrind (default 2000; stream mode
#                  runs for a time and counts fetches from Stats)
#   --cg-concurrency  fetch_load calls in flight under callgrind (default 16;
#                  1 gives the least run-to-run spread, no batching)
#   --native-fetches  fetches of the run without valgrind that counts context
#                  switches and CPU (default 20000, concurrency 64)
#
# One origin nginx (bench/nginx/origin.conf.in: 1 worker, 100-byte body).
# callgrind: fetchpoold under `valgrind --tool=callgrind --instr-atstart=no`,
# 200 fetches of warm-up, then instrumentation on (callgrind_control -i on),
# the measured fetches, off, dump; Ir/fetch = total Ir of the dump / fetches
# counted by fetchpoold's Stats (requests_total). The native run reports
# voluntary and all context switches of every fetchpoold thread per fetch and
# CPU µs per fetch (noisy on a shared machine; Ir is not), and with perf (as
# root) context switches and futex/write/sendmsg/epoll_wait calls per fetch.
# Columns of results.tsv: time label mode Ir/fetch voluntary-cs/fetch
# all-cs/fetch CPU-us/fetch perf-counts.
#
# Environment: CG_BUILD_DIR (default build), CG_FETCHPOOLD (binary under test,
# default $CG_BUILD_DIR/server/fetchpoold), CG_ENV (extra environment for
# fetchpoold, e.g. "GRPC_POLL_STRATEGY=poll"), CG_LOAD_ARGS (extra fetch_load
# flags, e.g. "--body_bytes=65536"), CG_OUT (result dir, default
# /tmp/callgrind-grpc). One line per run is appended to $CG_OUT/results.tsv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=$ROOT/bench
source "$BENCH_DIR/lib/common.sh"
source "$BENCH_DIR/lib/nginx.sh"

MODE=fetch
FETCHES=2000
CG_CONCURRENCY=16
NATIVE_FETCHES=20000
LABEL=run
NATIVE=1
CALLGRIND=1
FP_ARGS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --mode=*) MODE=${1#*=} ;;
    --fetches=*) FETCHES=${1#*=} ;;
    --cg-concurrency=*) CG_CONCURRENCY=${1#*=} ;;
    --native-fetches=*) NATIVE_FETCHES=${1#*=} ;;
    --label=*) LABEL=${1#*=} ;;
    --no-native) NATIVE=0 ;;
    --no-callgrind) CALLGRIND=0 ;;
    --) shift; FP_ARGS=("$@"); break ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
  shift
done

BUILD_DIR=${CG_BUILD_DIR:-$ROOT/build}
FETCHPOOLD=${CG_FETCHPOOLD:-$BUILD_DIR/server/fetchpoold}
FETCH_LOAD=$BUILD_DIR/bench/fetch_load
STREAM_LOAD=$BUILD_DIR/bench/stream_load
OUT_DIR=${CG_OUT:-/tmp/callgrind-grpc}
read -r -a EXTRA_ENV <<<"${CG_ENV:-}"
read -r -a LOAD_ARGS <<<"${CG_LOAD_ARGS:-}"
mkdir -p "$OUT_DIR"
for bin in "$FETCHPOOLD" "$FETCH_LOAD" "$STREAM_LOAD"; do
  [[ -x $bin ]] || die "$bin is missing"
done

BENCH_TMP=$(mktemp -d /tmp/callgrind-grpc.XXXXXX)
chmod 755 "$BENCH_TMP"
trap 'cleanup_tracked; rm -rf "$BENCH_TMP"' EXIT

ORIGIN_PORT=$(free_port)
FP_PORT=$(free_port)
FP_TARGET=127.0.0.1:$FP_PORT
ORIGIN_URL=http://127.0.0.1:$ORIGIN_PORT/
render_nginx "$BENCH_DIR/nginx/origin.conf.in" "$BENCH_TMP/origin.conf" "$ORIGIN_PORT"
track_pid "$(start_nginx "$BENCH_TMP/origin.conf")"
wait_for 10 curl -fsS -o /dev/null "$ORIGIN_URL" || die "origin nginx did not come up"

requests_total() {
  "$STREAM_LOAD" --mode=stats --target="$FP_TARGET" |
    sed -n 's/.*"requests_total":\([0-9]*\).*/\1/p'
}

# drive N CONCURRENCY: N fetches (fetch mode) or about N (stream mode, by time).
drive() {
  local n=$1 conc=$2 secs
  if [[ $MODE == fetch ]]; then
    "$FETCH_LOAD" --target="$FP_TARGET" --url="$ORIGIN_URL" --requests="$n" \
      --concurrency="$conc" --timeout=120s "${LOAD_ARGS[@]}" >"$BENCH_TMP/load.out" 2>&1 ||
      die "fetch_load failed: $(cat "$BENCH_TMP/load.out")"
  else
    secs=$3
    "$STREAM_LOAD" --mode=stream --target="$FP_TARGET" --url="$ORIGIN_URL" --streams=4 \
      --window=16 --duration="${secs}s" --drain=120s >"$BENCH_TMP/load.out" 2>&1 ||
      die "stream_load failed: $(cat "$BENCH_TMP/load.out")"
  fi
}

# start_fp PREFIX...: starts fetchpoold (behind PREFIX, e.g. valgrind); sets FP_PID.
start_fp() {
  env "${EXTRA_ENV[@]}" "$@" "$FETCHPOOLD" --listen="$FP_TARGET" --metrics_listen= --drain_delay=0s \
    --allow_cidrs=127.0.0.0/8 --max_connections_per_host=64 "${FP_ARGS[@]}" \
    >"$BENCH_TMP/fp.log" 2>&1 </dev/null &
  FP_PID=$!
  track_pid "$FP_PID"
  wait_for 120 "$STREAM_LOAD" --mode=stats --target="$FP_TARGET" ||
    die "fetchpoold did not come up: $(tail -n 5 "$BENCH_TMP/fp.log")"
}

stop_fp() {
  kill -TERM "$FP_PID" 2>/dev/null || true
  wait "$FP_PID" 2>/dev/null || true
}

IR_PER=nan
SYSCALLS=-
PERF_EVENTS=context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_write,syscalls:sys_enter_sendmsg,syscalls:sys_enter_epoll_wait
CS_VOL=nan
CS_ALL=nan
CPU_US=nan
if ((NATIVE)); then
  start_fp
  # Threads the measured run uses (gRPC starts some on demand) exist after it.
  if [[ $MODE == fetch ]]; then drive 2000 64; else drive 0 0 1; fi
  r0=$(requests_total)
  vol0=$(cat /proc/"$FP_PID"/task/*/status | awk '/^voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }')
  all0=$(ctx_switches "$FP_PID")
  t0=$(cpu_ticks "$FP_PID")
  PERF_PID=
  if command -v perf >/dev/null; then
    perf stat -x, -o "$BENCH_TMP/perf.csv" -p "$FP_PID" -e "$PERF_EVENTS" 2>/dev/null &
    PERF_PID=$!
    sleep 0.5
  fi
  if [[ $MODE == fetch ]]; then drive "$NATIVE_FETCHES" 64; else drive 0 0 5; fi
  if [[ -n $PERF_PID ]]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
  fi
  t1=$(cpu_ticks "$FP_PID")
  vol1=$(cat /proc/"$FP_PID"/task/*/status | awk '/^voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }')
  all1=$(ctx_switches "$FP_PID")
  r1=$(requests_total)
  n=$((r1 - r0))
  CS_VOL=$(awk -v c=$((vol1 - vol0)) -v n=$n 'BEGIN { printf "%.2f", c / n }')
  CS_ALL=$(awk -v c=$((all1 - all0)) -v n=$n 'BEGIN { printf "%.2f", c / n }')
  CPU_US=$(awk -v t=$((t1 - t0)) -v n=$n -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
  if [[ -n $PERF_PID && -s $BENCH_TMP/perf.csv ]]; then
    SYSCALLS=$(awk -F, -v n=$n '$3 ~ /:/ || $3 ~ /switches/ { split($3, a, "sys_enter_"); name = (a[2] == "" ? "cs" : a[2]); printf "%s%s=%.2f", sep, name, $1 / n; sep = " " }' "$BENCH_TMP/perf.csv")
    log "native perf per fetch: $SYSCALLS"
  fi
  log "native: $n fetches, voluntary cs/fetch $CS_VOL, all cs/fetch $CS_ALL, CPU us/fetch $CPU_US"
  stop_fp
fi

if ((CALLGRIND)); then
  CG_FILE=$OUT_DIR/$LABEL.$MODE.cg
  rm -f "$CG_FILE" "$CG_FILE".*
  start_fp valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$CG_FILE"
  if [[ $MODE == fetch ]]; then drive 200 16; else drive 0 0 2; fi
  r0=$(requests_total)
  callgrind_control -z "$FP_PID" >/dev/null
  callgrind_control -i on "$FP_PID" >/dev/null
  if [[ $MODE == fetch ]]; then drive "$FETCHES" "$CG_CONCURRENCY"; else drive 0 0 $((FETCHES / 200)); fi
  callgrind_control -i off "$FP_PID" >/dev/null
  callgrind_control -d "$FP_PID" >/dev/null
  r1=$(requests_total)
  n=$((r1 - r0))
  dump=$(ls -t "$CG_FILE".* | head -n 1)
  ir=$(awk '/^totals:/ { print $2; exit }' "$dump")
  IR_PER=$(awk -v i="$ir" -v n="$n" 'BEGIN { printf "%.0f", i / n }')
  log "callgrind: $n fetches, $ir Ir, Ir/fetch $IR_PER (dump $dump)"
  stop_fp
fi

printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date +%H:%M:%S)" "$LABEL" "$MODE" "$IR_PER" "$CS_VOL" \
  "$CS_ALL" "$CPU_US" "$SYSCALLS" | tee -a "$OUT_DIR/results.tsv"
