#!/usr/bin/env bash
# bench/soak/run.sh: soak test of the real fetchpoold, in one bounded command.
#
#   bench/soak/run.sh [--duration SECONDS] [--no-build]     (default 600 s; CI: 60)
#
# Starts on 127.0.0.1 only: three fault origins (tests/origin's
# fetchpool_test_origin_server: a plain one, one that closes idle connections
# after 1 s, one that adds 20 ms to every answer), fetchpoold with a config
# file that gives the third a pool of 4 connections (so it queues) and the
# first an idle cap and a connection lifetime, plus a port where nothing
# listens. Then bench/soak/soak_driver runs the mixed load (unary Fetch over
# faulty routes, FetchStream, Stats, WatchStats, caller cancels) for the
# duration, checks that every call gets exactly one answer, checks the Stats
# invariants in every StatsResponse, samples fetchpoold's RSS, descriptors and
# threads every 2 s, and compares the first and last windows (60 s each; a
# quarter of a run shorter than 4 minutes). Finally fetchpoold gets SIGTERM and
# must exit 0 within its shutdown grace.
#
# Output: the markdown report on stdout and in bench/results/soak.md; the
# samples, the config and every process's log in
# bench/results/soak-raw/<time>/. Exit status 0 on PASS, 1 on FAIL.
#
# Every process it starts is ended on exit (Ctrl-C included), by its own pid;
# a watchdog ends the run at duration + SOAK_SLACK (default 150) seconds.
# Environment: SOAK_BUILD_DIR (default build/, as ./dev.sh build makes it),
# FETCHPOOL_JOBS (default 1), SOAK_DRIVER_ARGS (extra soak_driver flags, e.g.
# "--unary_rate=50 --seed=7"), SOAK_SLACK.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"
log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

DURATION=600
BUILD=1
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) [[ $# -ge 2 ]] || usage; DURATION=$2; shift 2 ;;
    --duration=*) DURATION=${1#--duration=}; shift ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
done
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 20 ]] || die "--duration must be a whole number of seconds, at least 20"

BUILD_DIR=${SOAK_BUILD_DIR:-$ROOT/build}
JOBS=${FETCHPOOL_JOBS:-1}
SLACK=${SOAK_SLACK:-150}
LIMIT=$((DURATION + SLACK))
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$ROOT/bench/results
RAW=$RESULTS/soak-raw/$STAMP
mkdir -p "$RAW"

# ---- processes ---------------------------------------------------------------

WATCHDOG=
finish() {
  cleanup_tracked
  if [[ -n $WATCHDOG ]]; then kill -TERM "$WATCHDOG" 2>/dev/null || true; fi
}
trap finish EXIT
trap 'log "interrupted"; exit 1' TERM INT HUP
( trap 'kill "$s" 2>/dev/null; exit 0' TERM
  sleep "$LIMIT" & s=$!
  wait "$s" && { echo "[soak] time limit ${LIMIT}s reached" >&2; kill -TERM $$; } ) &
WATCHDOG=$!

# forget_pid PID: after it was reaped, so the exit trap cannot signal a reused pid.
forget_pid() {
  local kept=() p
  for p in "${BENCH_PIDS[@]}"; do [[ $p == "$1" ]] || kept+=("$p"); done
  BENCH_PIDS=("${kept[@]}")
}

# start NAME CMD...: CMD in the background, output in $RAW/NAME.out/.err; sets PID.
start() {
  local name=$1
  shift
  "$@" >"$RAW/$name.out" 2>"$RAW/$name.err" &
  PID=$!
  track_pid "$PID"
}

# origin NAME FLAGS...: a fault origin on 127.0.0.1 (ephemeral port); sets PORT.
origin() {
  local name=$1
  shift
  start "$name" "$BUILD_DIR/tests/origin/fetchpool_test_origin_server" --port=0 "$@"
  wait_for 10 grep -q '^listening on 127.0.0.1:' "$RAW/$name.out" ||
    die "$name did not start: $(tail -3 "$RAW/$name.err")"
  PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$RAW/$name.out")
}

# ---- build -------------------------------------------------------------------

for tool in cmake timeout ss; do
  command -v "$tool" >/dev/null || die "$tool is missing (./dev.sh deps installs it)"
done
if ((BUILD)); then
  [[ -f $BUILD_DIR/CMakeCache.txt ]] || die "$BUILD_DIR is not configured: run ./dev.sh build (or ./dev.sh soak)"
  log "building fetchpoold, fetchpool_test_origin_server, soak_driver in $BUILD_DIR (-j$JOBS)"
  cmake --build "$BUILD_DIR" --parallel "$JOBS" \
    --target fetchpoold fetchpool_test_origin_server soak_driver >"$RAW/build.log" 2>&1 ||
    die "build failed: $RAW/build.log"
fi
for f in server/fetchpoold tests/origin/fetchpool_test_origin_server bench/soak_driver; do
  [[ -x $BUILD_DIR/$f ]] || die "$BUILD_DIR/$f is missing (./dev.sh build)"
done

"$BUILD_DIR/bench/soak_driver" --self_test >"$RAW/self-test.txt" 2>&1 ||
  die "soak_driver --self_test failed: its checks do not catch what they should ($RAW/self-test.txt)"

# ---- origins, fetchpoold -------------------------------------------------------

origin origin-normal
NORMAL=$PORT
origin origin-idle-close --idle_close_ms=1000
IDLE=$PORT
origin origin-slow --response_delay_ms=20
SLOW=$PORT
REFUSED=$(free_port)
[[ -z $(ss -Htln "( sport = :$REFUSED )") ]] || die "port $REFUSED is taken"
log "origins on 127.0.0.1: normal :$NORMAL, idle-close (1 s) :$IDLE, slow (+20 ms) :$SLOW; nothing on :$REFUSED"

CONFIG=$RAW/fetchpoold.textproto
cat >"$CONFIG" <<EOF
# bench/soak: a cap of 32 by default; the slow origin's pool is small so it queues
# (and its waiters time out); the plain origin's pool has a low idle cap and a
# short connection lifetime, so those closes happen too (its faulty routes end
# most connections within seconds).
max_connections_per_host: 32
host { pool_key: "http://127.0.0.1:$SLOW" max_connections_per_host: 4 max_waiters_per_host: 48 wait_timeout: "600ms" }
host { pool_key: "http://127.0.0.1:$NORMAL" max_idle_connections_per_host: 6 max_connection_lifetime: "5s" }
EOF

start fetchpoold "$BUILD_DIR/server/fetchpoold" --config="$CONFIG" --listen=127.0.0.1:0 --metrics_listen= --drain_delay=0s \
  --allow_cidrs=127.0.0.0/8 --shutdown_grace=2s
FP_PID=$PID
wait_for 20 grep -q '"event":"start"' "$RAW/fetchpoold.err" ||
  die "fetchpoold did not start: $(tail -3 "$RAW/fetchpoold.err")"
GRPC_PORT=$(grep '"event":"start"' "$RAW/fetchpoold.err" | grep -o '"port":"[0-9]*"' | grep -o '[0-9]*')
[[ -n $GRPC_PORT ]] || die "no port in fetchpoold's start line"
log "fetchpoold pid $FP_PID on 127.0.0.1:$GRPC_PORT; load for ${DURATION}s (watchdog ${LIMIT}s)"

# ---- the soak ------------------------------------------------------------------

SETUP="fetchpoold on 127.0.0.1 (default cap 32; small pool: cap 4, 48 waiters, wait_timeout 600ms; \
plain pool: idle cap 6, lifetime 5s); origins: plain, idle-close after 1 s, +20 ms per answer, refused port."
rc=0
# The first and last windows of a short run hold too few 2-second samples to
# judge flatness: sample every second below a minute.
SAMPLING=()
((DURATION < 60)) && SAMPLING=(--sample_interval=1s)
# In the background with `wait`, so that a signal to this script is handled at
# once (the exit trap ends the driver too); its progress lines go to stderr.
# shellcheck disable=SC2086
timeout -k 10 $((DURATION + 90)) "$BUILD_DIR/bench/soak_driver" \
  --target="127.0.0.1:$GRPC_PORT" --pid="$FP_PID" \
  --normal_origin="http://127.0.0.1:$NORMAL" --idle_origin="http://127.0.0.1:$IDLE" \
  --slow_origin="http://127.0.0.1:$SLOW" --refused_origin="http://127.0.0.1:$REFUSED" \
  --duration="${DURATION}s" --report="$RAW/report.md" --samples="$RAW/samples.tsv" \
  --setup="$SETUP" "${SAMPLING[@]}" ${SOAK_DRIVER_ARGS:-} >"$RAW/report.stdout" 2>"$RAW/soak_driver.err" &
DRIVER=$!
track_pid "$DRIVER"
tail -n +1 --pid="$DRIVER" -f "$RAW/soak_driver.err" >&2 &
TAIL=$!
track_pid "$TAIL"
wait "$DRIVER" || rc=$?
wait "$TAIL" 2>/dev/null || true
forget_pid "$DRIVER"
forget_pid "$TAIL"
cat "$RAW/report.stdout"
[[ -f $RAW/report.md ]] || { tail -20 "$RAW/soak_driver.err" >&2; die "soak_driver wrote no report (exit $rc)"; }
case $rc in
  0 | 1) ;;
  124 | 137) log "soak_driver timed out"; rc=1 ;;
  *) log "soak_driver exit $rc: $(tail -3 "$RAW/soak_driver.err")"; rc=1 ;;
esac

# ---- orderly stop --------------------------------------------------------------

stop_note=
if ! kill -0 "$FP_PID" 2>/dev/null; then
  stop_note="**fetchpoold had exited before the end of the run** (see fetchpoold.err)."
  rc=1
else
  t0=$SECONDS
  kill -TERM "$FP_PID"
  fp_rc=
  for _ in $(seq 100); do kill -0 "$FP_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$FP_PID" 2>/dev/null; then
    stop_note="**fetchpoold did not exit within 10 s of SIGTERM** (shutdown grace 2 s)."
    rc=1
  else
    fp_rc=0
    wait "$FP_PID" || fp_rc=$?
    forget_pid "$FP_PID"
    if [[ $fp_rc -eq 0 ]]; then
      stop_note="fetchpoold exited 0 within $((SECONDS - t0 + 1)) s of SIGTERM."
    else
      stop_note="**fetchpoold exited $fp_rc after SIGTERM.**"
      rc=1
    fi
  fi
fi
errors=$(grep -c '"level":"error"' "$RAW/fetchpoold.err" || true)
{
  echo
  echo "$stop_note fetchpoold logged ${errors:-0} error line(s). Raw files: \`${RAW#"$ROOT"/}/\`."
} | tee -a "$RAW/report.md"
if [[ $rc -ne 0 ]] && ! grep -q '^# fetchpool soak: FAIL' "$RAW/report.md"; then
  sed -i '1s/.*/# fetchpool soak: FAIL/' "$RAW/report.md"
fi
cp "$RAW/report.md" "$RESULTS/soak.md"
log "report: bench/results/soak.md; $(head -1 "$RESULTS/soak.md" | sed 's/^# //')"
exit "$rc"
