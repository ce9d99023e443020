#!/usr/bin/env bash
# bench/run.sh: fetchpool against an nginx keep-alive proxy, one command
# (`./dev.sh bench` runs it). Everything listens on 127.0.0.1 only; every
# process it starts is ended when it exits, however it exits.
#
#   bench/run.sh [--quick] [--no-build] [--no-ghz] [--perf] [--no-loops]
#                [--no-callgrind]
#
#   --quick     1 round, 3 s runs: checks the harness, not the numbers
#               (callgrind: 500 fetches per batch)
#   --no-build  use the binaries already in build-bench/
#   --no-ghz    skip the ghz cross-check (it needs Go to install ghz)
#   --perf      afterwards, profile fetchpoold under scenario E with perf
#               (bench/results/perf-E.txt)
#   --no-loops  skip the --event_loops=1 / =2 rows (run only when fetchpoold
#               has that flag; ~40 s)
#   --no-callgrind
#               skip the callgrind phase (instructions per fetch of E, S and
#               the nginx proxy B, ~60 s; bench/callgrind/run.sh runs it alone)
#
# One origin nginx (1 worker, 100-byte body, keep-alive), one nginx proxy
# (1 worker, upstream keepalive 64), one fetchpoold (Release build,
# --max_connections_per_host=64). At client concurrency 64:
#   A  wrk -> origin                               (the ceiling)
#   B  wrk -> nginx proxy -> origin                (the reference middle hop)
#   C  h2load -> fetchpoold grpc.health.v1.Health/Check (gRPC's own cost)
#   E  unary Fetch -> origin: h2load with a framed FetchRequest, and fetch_load
#      (ghz as a cross-check, once)
#   S  FetchStream -> origin: stream_load, 4 streams x 16 in flight
# The sequence A B C E S runs BENCH_ROUNDS times (interleaved, so drift hits
# all alike); then each scenario runs open loop at half its peak, followed by
# A at the same rate, for the added latency. Medians go to the table.
# Every E and S run also splits fetchpoold's CPU between its event-loop
# threads and the rest (gRPC's threads), from /proc/PID/task/*/stat.
# When fetchpoold has --event_loops, E (fetch_load) and S run once more with
# --event_loops=1 and with --event_loops=2. Last, the callgrind phase
# (bench/lib/callgrind.sh): instructions per fetch, counted, not timed.
#
# Environment: BENCH_DURATION (s per throughput run, default 8),
# BENCH_LAT_DURATION (s per latency run, default 4), BENCH_ROUNDS (default 2),
# BENCH_BUILD_DIR (default build-bench), BENCH_GHZ_VERSION (default latest),
# BENCH_FETCHPOOLD (measure this fetchpoold binary instead of the one built,
# e.g. one built from a patched tree; the report says so; the callgrind
# phase measures it too), BENCH_CG_COMPARE ("LABEL=BINARY ...": more
# fetchpoold builds for the callgrind phase, measured before this one, e.g.
# BENCH_CG_COMPARE=before=/tmp/fetchpoold.old), BENCH_CG_FETCHES,
# BENCH_CG_WARMUP, BENCH_CG_REPS, BENCH_CG_FP_FLAGS (see bench/lib/callgrind.sh).
# Output: the table on stdout and in bench/results/latest.md; its chart in
# bench/results/bench-chart.svg (data: bench-chart.tsv); raw values in
# bench/results/runs.tsv; every tool's output in bench/results/raw/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$ROOT/bench
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"
# shellcheck source=lib/nginx.sh
source "$BENCH_DIR/lib/nginx.sh"
# shellcheck source=lib/report.sh
source "$BENCH_DIR/lib/report.sh"
# shellcheck source=lib/callgrind.sh
source "$BENCH_DIR/lib/callgrind.sh"

DURATION=${BENCH_DURATION:-8}
LAT_DURATION=${BENCH_LAT_DURATION:-4}
ROUNDS=${BENCH_ROUNDS:-2}
BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build-bench}
GHZ_VERSION=${BENCH_GHZ_VERSION:-latest}
CONCURRENCY=64
BUILD=1
GHZ=1
PERF=0
LOOPS=1
CALLGRIND=1
QUICK=0

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) DURATION=3; LAT_DURATION=2; ROUNDS=1; QUICK=1 ;;
    --no-build) BUILD=0 ;;
    --no-ghz) GHZ=0 ;;
    --perf) PERF=1 ;;
    --no-loops) LOOPS=0 ;;
    --no-callgrind) CALLGRIND=0 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done

bench_provenance

for tool in nginx wrk h2load protoc cmake ninja curl ss pgrep timeout gnuplot; do
  command -v "$tool" >/dev/null || die "$tool is missing (./dev.sh deps installs it)"
done

# ---- build -------------------------------------------------------------------

BUILD_SECONDS=0
if ((BUILD)); then
  log "building fetchpoold and the load tools in $BUILD_DIR (Release)"
  if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DFETCHPOOL_BUILD_TESTS=OFF >/dev/null
  fi
  ninja -C "$BUILD_DIR" -j"${FETCHPOOL_JOBS:-2}" fetchpoold fetch_load stream_load http_open_loop >&2 ||
    die "build failed"
  BUILD_SECONDS=$((SECONDS - HARNESS_START))
fi
FETCHPOOLD=${BENCH_FETCHPOOLD:-$BUILD_DIR/server/fetchpoold}
FETCH_LOAD=$BUILD_DIR/bench/fetch_load
STREAM_LOAD=$BUILD_DIR/bench/stream_load
HTTP_OPEN_LOOP=$BUILD_DIR/bench/http_open_loop
for bin in "$FETCHPOOLD" "$FETCH_LOAD" "$STREAM_LOAD" "$HTTP_OPEN_LOOP"; do
  [[ -x $bin ]] || die "$bin is missing (run without --no-build)"
done
# --event_loops=N (N loop threads, named fp-loop-0, fp-loop-1, ...): only
# newer builds have it.
FP_HAS_LOOPS=0
if { "$FETCHPOOLD" --helpfull 2>&1 || true; } | grep -q 'event_loops'; then FP_HAS_LOOPS=1; fi
CG_SPECS=()
if ((CALLGRIND)); then
  read -r -a CG_SPECS <<<"${BENCH_CG_COMPARE:-}"
  for spec in "${CG_SPECS[@]}"; do
    [[ $spec == ?*=?* && -x ${spec#*=} ]] || die "BENCH_CG_COMPARE: $spec is not LABEL=EXECUTABLE"
  done
  CG_SPECS+=("$([[ -n ${BENCH_FETCHPOOLD:-} ]] && echo BENCH_FETCHPOOLD || echo this-tree)=$FETCHPOOLD")
  if ! cg_ensure_tools; then
    log "valgrind is missing and could not be installed: skipping the callgrind phase"
    CALLGRIND=0
    CG_SKIPPED="valgrind is missing (apt-get install valgrind)"
  fi
fi

GHZ_BIN=$BENCH_DIR/.tools/bin/ghz
if ((GHZ)) && [[ ! -x $GHZ_BIN ]]; then
  if command -v go >/dev/null; then
    log "installing ghz@$GHZ_VERSION into bench/.tools/bin"
    mkdir -p "$BENCH_DIR/.tools/bin"
    GOBIN=$BENCH_DIR/.tools/bin GOFLAGS=-mod=mod timeout 300 \
      go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION" >&2 || log "ghz install failed"
  fi
  [[ -x $GHZ_BIN ]] || { log "ghz unavailable: skipping the cross-check"; GHZ=0; }
fi

# ---- results and temp dir ------------------------------------------------------

RESULTS=$BENCH_DIR/results
mkdir -p "$RESULTS"
bench_results_dir "$RESULTS/raw" "$RESULTS/runs.tsv"
if [[ -n ${BENCH_FETCHPOOLD:-} ]]; then
  note "fetchpoold under test is BENCH_FETCHPOOLD=$BENCH_FETCHPOOLD, not this tree's build"
fi

bench_tmp_dir fetchpool-bench "$RAW"

# ---- servers -------------------------------------------------------------------

ORIGIN_PORT=$(free_port)
PROXY_PORT=$(free_port)
FP_PORT=$(free_port)
METRICS_PORT=$(free_port)
ORIGIN_URL=http://127.0.0.1:$ORIGIN_PORT/
PROXY_URL=http://127.0.0.1:$PROXY_PORT/
FP_TARGET=127.0.0.1:$FP_PORT

render_nginx "$BENCH_DIR/nginx/origin.conf.in" "$BENCH_TMP/origin.conf" "$ORIGIN_PORT"
render_nginx "$BENCH_DIR/nginx/proxy.conf.in" "$BENCH_TMP/proxy.conf" "$PROXY_PORT" "$ORIGIN_PORT"

ORIGIN_MASTER=$(start_nginx "$BENCH_TMP/origin.conf")
track_pid "$ORIGIN_MASTER"
PROXY_MASTER=$(start_nginx "$BENCH_TMP/proxy.conf")
track_pid "$PROXY_MASTER"
wait_for 10 curl -fsS -o /dev/null "$ORIGIN_URL" || die "origin nginx did not come up"
wait_for 10 curl -fsS -o /dev/null "$PROXY_URL" || die "proxy nginx did not come up"
ORIGIN_PIDS=$(nginx_pids "$ORIGIN_MASTER")
PROXY_PIDS=$(nginx_pids "$PROXY_MASTER")
for pid in $ORIGIN_PIDS $PROXY_PIDS; do
  [[ $pid == "$ORIGIN_MASTER" || $pid == "$PROXY_MASTER" ]] || track_pid "$pid"
done
[[ $(curl -fsS "$ORIGIN_URL" | wc -c) -eq 100 ]] || die "origin body is not 100 bytes"
[[ $(curl -fsS "$PROXY_URL") == "$(curl -fsS "$ORIGIN_URL")" ]] || die "proxy answers differ from the origin's"
log "origin nginx :$ORIGIN_PORT (pids $ORIGIN_PIDS), proxy nginx :$PROXY_PORT (pids $PROXY_PIDS)"

FP_STARTS=0
FP_FLAGS=()  # extra flags (the --event_loops rows)
start_fetchpoold() {
  FP_STARTS=$((FP_STARTS + 1))
  "$FETCHPOOLD" --listen="$FP_TARGET" --metrics_listen="127.0.0.1:$METRICS_PORT" --drain_delay=0s \
    --allow_cidrs=127.0.0.0/8 --max_connections_per_host="$CONCURRENCY" ${FP_FLAGS[@]+"${FP_FLAGS[@]}"} \
    >>"$BENCH_TMP/fetchpoold.log" 2>&1 </dev/null &
  FP_PID=$!
  track_pid "$FP_PID"
  wait_for 15 "$STREAM_LOAD" --mode=stats --target="$FP_TARGET" ||
    die "fetchpoold did not come up (log: $(tail -n 5 "$BENCH_TMP/fetchpoold.log"))"
  log "fetchpoold $FP_TARGET (pid $FP_PID${FP_FLAGS[*]:+, ${FP_FLAGS[*]}}; threads: $(fp_thread_names))"
}

# fp_thread_names: fetchpoold's threads by name, "name×count, ...".
fp_thread_names() {
  cat /proc/"$FP_PID"/task/*/comm 2>/dev/null | sort | uniq -c |
    awk '{ c = $1; $1 = ""; sub(/^ /, ""); s = s (s == "" ? "" : ", ") $0 "×" c } END { print s }'
}

# A fetchpoold that stops answering Stats is hung: every later gRPC run would
# only time out. Note it, end it (SIGKILL: a hung loop cannot drain) and
# start a fresh one so the rest of the run still measures something.
restart_hung_fetchpoold() {
  note "round $ROUND $1: fetchpoold (pid $FP_PID) stopped answering (Stats timed out); killed and restarted; see raw/fetchpoold-stacks-$FP_PID.txt"
  if command -v gdb >/dev/null; then
    timeout 60 gdb -p "$FP_PID" -batch -ex 'thread apply all bt 20' \
      >"$RAW/fetchpoold-stacks-$FP_PID.txt" 2>&1 || true
  fi
  kill -KILL "$FP_PID" 2>/dev/null || true
  wait "$FP_PID" 2>/dev/null || true
  start_fetchpoold
}
start_fetchpoold

# ---- request bodies and smoke checks --------------------------------------------

# grpc.health.v1.HealthCheckRequest{} is empty: the frame is 00 00000000.
printf '\x00\x00\x00\x00\x00' >"$BENCH_TMP/health.bin"
printf 'url: "%s"\n' "$ORIGIN_URL" |
  protoc --encode=fetchpool.v1.FetchRequest -I "$ROOT/proto" -I /usr/include \
    "$ROOT/proto/fetchpool/v1/fetchpool.proto" >"$BENCH_TMP/fetch.pb" ||
  die "protoc --encode of the FetchRequest failed"
grpc_frame "$BENCH_TMP/fetch.pb" "$BENCH_TMP/fetch.bin"

# grpc_check PATH BODY: one call with curl over h2c; gRPC status must be 0.
grpc_check() {
  local headers
  headers=$(curl -sS --http2-prior-knowledge -o "$BENCH_TMP/check.out" -D - \
    -H 'content-type: application/grpc' -H 'te: trailers' --data-binary "@$2" \
    "http://$FP_TARGET$1") || die "curl $1 failed"
  grep -qi '^grpc-status: *0' <<<"$headers" ||
    die "$1 did not answer grpc-status 0: $(tr -d '\r' <<<"$headers" | tr '\n' ' ')"
}
grpc_check /grpc.health.v1.Health/Check "$BENCH_TMP/health.bin"
grpc_check /fetchpool.v1.FetchPool/Fetch "$BENCH_TMP/fetch.bin"
grep -q "$ORIGIN_BODY" "$BENCH_TMP/check.out" || die "Fetch did not return the origin's body"
log "smoke checks passed (origin, proxy, Health/Check, Fetch over h2c)"

# ---- measuring -----------------------------------------------------------------

ROUND=0
TOOL_TIMEOUT=$((DURATION * 3 + 15))

# run_measured NAME MID_PIDS COMMAND...: runs COMMAND (bounded by timeout),
# its stdout in $RAW/NAME.rROUND.out; sets OUT, MID_TICKS, MID_SWITCHES,
# ORIGIN_TICKS, RC, and THREAD_SNAP (when the middle hop is fetchpoold:
# per-thread CPU before and after, in THREAD_SNAP.0 and THREAD_SNAP.1).
run_measured() {
  local name=$1 mid=$2
  shift 2
  OUT=$RAW/$name.r$ROUND.out
  THREAD_SNAP=""
  [[ $mid == "${FP_PID:-}" ]] && THREAD_SNAP=$RAW/$name.r$ROUND.threads
  local o0 m0 c0
  [[ -n $THREAD_SNAP ]] && thread_ticks "$mid" >"$THREAD_SNAP.0"
  o0=$(cpu_ticks $ORIGIN_PIDS)
  m0=$(cpu_ticks $mid)
  c0=$(ctx_switches $mid)
  RC=0
  timeout -k 5 "$TOOL_TIMEOUT" "$@" >"$OUT" 2>"$OUT.err" || RC=$?
  ORIGIN_TICKS=$(($(cpu_ticks $ORIGIN_PIDS) - o0))
  MID_TICKS=$(($(cpu_ticks $mid) - m0))
  MID_SWITCHES=$(($(ctx_switches $mid) - c0))
  [[ -n $THREAD_SNAP ]] && thread_ticks "$mid" >"$THREAD_SNAP.1"
  ((RC == 0)) || note "round $ROUND $name: $1 exited $RC (see bench/results/raw/$name.r$ROUND.out.err)"
}

# record_cpu PREFIX REQUESTS [mid]: CPU per request of the origin (and the middle hop).
record_cpu() {
  # C never reaches the origin.
  [[ $1 == C* ]] || record "$1.cpu_origin" "$(ticks_to_us_per_req "$ORIGIN_TICKS" "$2")"
  if [[ ${3:-} == mid ]]; then
    record "$1.cpu_mid" "$(ticks_to_us_per_req "$MID_TICKS" "$2")"
    record "$1.cs_mid" "$(awk -v c="$MID_SWITCHES" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", c / n; else print "nan" }')"
    [[ -n ${THREAD_SNAP:-} && -s $THREAD_SNAP.1 ]] && record_thread_split "$1" "$2"
  fi
  return 0
}

# record_thread_split PREFIX REQUESTS: fetchpoold's CPU per fetch on its
# loop thread(s) and on the rest (gRPC's threads), see thread_split.
record_thread_split() {
  local split
  split=$(thread_split "$THREAD_SNAP.0" "$THREAD_SNAP.1" "$FP_PID" "$MID_TICKS" "$2")
  printf '%s\n' "$split" >"$THREAD_SNAP.split"
  record "$1.loops" "$(kv loops <<<"$split")"
  record "$1.cpu_loop" "$(kv loop_us <<<"$split")"
  record "$1.cpu_per_loop" "$(kv per_loop <<<"$split")"
  record "$1.cpu_rest" "$(kv rest_us <<<"$split")"
  record "$1.rest_share" "$(kv rest_share <<<"$split")"
  record "$1.loop_naming" "$(kv naming <<<"$split")"
  record "$1.cpu_by_name" "$(kv by_name <<<"$split")"
}

# fetchpoold's own books: failures_total (CANCELLED excluded) must not move.
# A fetchpoold that no longer answers Stats is hung: it is restarted, and the
# run that hung it counts for nothing (its numbers would only measure
# timeouts).
FP_FAILURES=0
FP_HUNG=0
stats_snapshot() {
  local json
  FP_HUNG=0
  json=$("$STREAM_LOAD" --mode=stats --target="$FP_TARGET" 2>/dev/null) || {
    FP_FAILURES=nan
    FP_HUNG=1
    restart_hung_fetchpoold "${1:-}"
    return 0
  }
  FP_FAILURES=$(json_int failures_not_cancelled <<<"$json")
}

# grpc_run KEY COMMAND...: a measured run against fetchpoold, between two
# Stats snapshots. Sets FP_NEW_FAILURES; returns 1 if fetchpoold hung.
grpc_run() {
  local key=$1
  shift
  stats_snapshot "$key"
  local f0=$FP_FAILURES
  run_measured "$key" "$FP_PID" "$@"
  stats_snapshot "$key"
  if ((FP_HUNG)); then
    record "$key.rps" hung
    record "$key.hung" 1
    log "$key: fetchpoold hung; this run does not count"
    return 1
  fi
  FP_NEW_FAILURES=0
  [[ $f0 != nan ]] && FP_NEW_FAILURES=$((FP_FAILURES - f0))
  return 0
}

# wrk_scenario KEY URL MID_PIDS
wrk_scenario() {
  local key=$1 url=$2 mid=$3
  run_measured "$key" "$mid" wrk -t1 -c"$CONCURRENCY" -d"${DURATION}s" --timeout 5s "$url"
  wrk_totals "$OUT"
  record "$key.rps" "${WRK_RPS:-nan}"
  record "$key.errors" "$WRK_ERRORS"
  record_cpu "$key" "${WRK_REQUESTS:-0}" ${mid:+mid}
  log "$key: ${WRK_RPS:-?} req/s"
}

# h2load_scenario KEY PATH BODY MIN_DATA_BYTES_PER_ANSWER
h2load_scenario() {
  local key=$1 path=$2 body=$3 min_data=$4
  grpc_run "$key" h2load -t1 -c4 -m16 -D "$DURATION" \
    -H 'content-type: application/grpc' -H 'te: trailers' -d "$body" "http://$FP_TARGET$path" ||
    return 0
  local rps ok failed data per errors=$FP_NEW_FAILURES
  rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$OUT")
  ok=$(awk '/^requests:/ { print $8 }' "$OUT")
  failed=$(awk '/^requests:/ { print $10 + $12 + $14 }' "$OUT")
  data=$(sed -n 's/^traffic:.*(\([0-9]*\)) data$/\1/p' "$OUT")
  per=$(calc "${data:-0} / (${ok:-0} > 0 ? ${ok:-0} : 1)")
  # h2load counts HTTP 200s; a gRPC error is a 200 too, but carries no
  # message, so the bytes per answer show whether the answers were real.
  if [[ $per == nan ]] || awk -v p="$per" -v m="$min_data" 'BEGIN { exit !(p < m) }'; then
    note "round $ROUND $key: $per data bytes per answer (< $min_data): answers were not real"
    errors=$((errors + ${ok:-0}))
  fi
  record "$key.rps" "${rps:-nan}"
  record "$key.errors" "$((errors + ${failed:-0}))"
  record_cpu "$key" "${ok:-0}" mid
  log "$key: ${rps:-?} req/s ($per data bytes per answer)"
}

# fetch_load takes a request count, not a duration: size it from the last
# rate it measured (or h2load's) so that the run lasts about DURATION.
# fetch_load_scenario [KEY]: KEY defaults to E_fetch_load.
E_FETCH_LOAD_RPS=""
fetch_load_scenario() {
  local key=${1:-E_fetch_load}
  local guess=${E_FETCH_LOAD_RPS:-$(median E_h2load.rps)}
  [[ $guess =~ ^[0-9.]+$ ]] || guess=3000
  local n
  n=$(awk -v r="$guess" -v d="$DURATION" 'BEGIN { n = int(r * d); print (n < 1000 ? 1000 : n) }')
  grpc_run "$key" "$FETCH_LOAD" --target="$FP_TARGET" --url="$ORIGIN_URL" \
    --requests="$n" --concurrency="$CONCURRENCY" --channels=4 --timeout=10s --json || return 0
  local json rps ok
  json=$(cat "$OUT")
  rps=$(json_get rps <<<"$json")
  ok=$(json_get ok <<<"$json")
  [[ $key == E_fetch_load && $rps =~ ^[0-9.]+$ ]] && E_FETCH_LOAD_RPS=$rps
  record "$key.rps" "${rps:-nan}"
  record "$key.errors" \
    "$(($(json_int http_errors <<<"$json") + $(json_int rpc_errors <<<"$json") + FP_NEW_FAILURES))"
  record_cpu "$key" "${ok:-0}" mid
  log "$key: ${rps:-?} req/s ($n calls)"
}

# stream_load_scenario KEY MODE: S (FetchStream) or C_grpc (Health/Check with
# the same C++ gRPC client library as fetch_load and S).
stream_load_scenario() {
  local key=$1 mode=$2
  grpc_run "$key" "$STREAM_LOAD" --mode="$mode" --target="$FP_TARGET" --url="$ORIGIN_URL" \
    --streams=4 --window=16 --duration="${DURATION}s" --json || return 0
  local json rps ok
  json=$(cat "$OUT")
  rps=$(json_get rps <<<"$json")
  ok=$(json_get ok <<<"$json")
  record "$key.rps" "${rps:-nan}"
  record "$key.errors" \
    "$(($(json_int errors <<<"$json") + $(json_int unanswered <<<"$json") + FP_NEW_FAILURES))"
  record_cpu "$key" "${ok:-0}" mid
  log "$key: ${rps:-?} req/s"
}

ghz_scenario() {
  grpc_run E_ghz "$GHZ_BIN" --insecure \
    --proto "$ROOT/proto/fetchpool/v1/fetchpool.proto" --import-paths "$ROOT/proto,/usr/include" \
    --call fetchpool.v1.FetchPool.Fetch -d "{\"url\":\"$ORIGIN_URL\"}" \
    -c "$CONCURRENCY" --connections 4 -z "${DURATION}s" -O json "$FP_TARGET" || return 0
  local json rps count okc closing
  json=$(cat "$OUT")
  rps=$(json_get rps <<<"$json")
  count=$(json_int count <<<"$json")
  okc=$({ grep -o '"statusCodeDistribution":{[^}]*}' <<<"$json" || true; } |
    { grep -o '"OK":[0-9]*' || true; } | cut -d: -f2)
  # ghz closes its connections when -z is up: the calls still in flight then
  # fail with "transport is closing". They are not fetchpool's errors.
  closing=$({ grep -o '"errorDistribution":{[^}]*}' <<<"$json" || true; } |
    { grep -o 'transport is closing":[0-9]*' || true; } | cut -d: -f2)
  closing=${closing:-0}
  ((closing > CONCURRENCY)) && closing=$CONCURRENCY
  record E_ghz.rps "$(calc "${rps:-nan} * 1")"
  record E_ghz.errors "$((count - ${okc:-0} - closing + FP_NEW_FAILURES))"
  record_cpu E_ghz "${okc:-0}" mid
  log "E_ghz: ${rps:-?} req/s"
}

# ---- open-loop latency -------------------------------------------------------------

# lat_result JSON_FILE: sets LAT_P50, LAT_P99, LAT_RPS, LAT_ERRORS.
lat_result() {
  local json
  json=$(cat "$1" 2>/dev/null || true)
  LAT_P50=$(json_get p50_us <<<"$json")
  LAT_P99=$(json_get p99_us <<<"$json")
  LAT_RPS=$(json_get rps <<<"$json")
  LAT_P50=${LAT_P50:-nan}
  LAT_P99=${LAT_P99:-nan}
  LAT_RPS=${LAT_RPS:-nan}
  LAT_ERRORS=$(($(json_int errors <<<"$json") + $(json_int rpc_errors <<<"$json") +
    $(json_int http_errors <<<"$json") + $(json_int unanswered <<<"$json")))
}

# open_loop KEY RATE OUT: one open-loop run of scenario KEY at RATE.
open_loop() {
  local key=$1 rate=$2 out=$3
  local rc=0
  case $key in
    A | B)
      local url=$ORIGIN_URL
      [[ $key == B ]] && url=$PROXY_URL
      timeout -k 5 "$TOOL_TIMEOUT" "$HTTP_OPEN_LOOP" --url="$url" --rate="$rate" \
        --duration="${LAT_DURATION}s" --connections="$CONCURRENCY" --json >"$out" 2>"$out.err" || rc=$?
      ;;
    C)
      timeout -k 5 "$TOOL_TIMEOUT" "$STREAM_LOAD" --mode=health --target="$FP_TARGET" --streams=4 \
        --rate="$rate" --duration="${LAT_DURATION}s" --json >"$out" 2>"$out.err" || rc=$?
      ;;
    E)
      timeout -k 5 "$TOOL_TIMEOUT" "$FETCH_LOAD" --target="$FP_TARGET" --url="$ORIGIN_URL" \
        --rate="$rate" --requests="$((rate * LAT_DURATION))" --channels=4 --timeout=10s --json \
        >"$out" 2>"$out.err" || rc=$?
      ;;
    S)
      timeout -k 5 "$TOOL_TIMEOUT" "$STREAM_LOAD" --mode=stream --target="$FP_TARGET" \
        --url="$ORIGIN_URL" --streams=4 --rate="$rate" --duration="${LAT_DURATION}s" --json \
        >"$out" 2>"$out.err" || rc=$?
      ;;
  esac
  ((rc == 0)) || note "round $ROUND $(basename "$out" .r$ROUND.out): client exited $rc (see raw/$(basename "$out").err)"
  lat_result "$out"
}

# latency_scenario KEY PEAK_KEY: KEY open loop at half of PEAK_KEY's rate
# (this round's), then A at the same rate; records the difference.
latency_scenario() {
  local key=$1 peak rate
  peak=$(awk -F'\t' -v r="$ROUND" -v k="$2.rps" '$1 == r && $2 == k { print $3 }' "$RUNS_TSV")
  if ! [[ $peak =~ ^[0-9.]+$ ]]; then
    note "round $ROUND lat.$key: no peak measured ($2); skipped"
    return 0
  fi
  rate=$(awk -v p="$peak" 'BEGIN { printf "%.0f", p / 2 }')
  ((rate > 0)) || return 0
  open_loop "$key" "$rate" "$RAW/lat_$key.r$ROUND.out"
  case $key in
    C | E | S)
      stats_snapshot "lat.$key"
      if ((FP_HUNG)); then
        record "lat.$key.hung" 1
        log "lat.$key: fetchpoold hung; this run does not count"
        return 0
      fi
      ;;
  esac
  local p50=$LAT_P50 p99=$LAT_P99 errs=$LAT_ERRORS
  record "lat.$key.rate" "$rate"
  record "lat.$key.achieved" "$LAT_RPS"
  record "lat.$key.p50" "$p50"
  record "lat.$key.p99" "$p99"
  if [[ $key == A ]]; then
    record lat.A.errors "$errs"
    log "lat.A at $rate/s: p50 $p50 us, p99 $p99 us"
    return 0
  fi
  open_loop A "$rate" "$RAW/lat_A_for_$key.r$ROUND.out"
  record "lat.$key.errors" "$((errs + LAT_ERRORS))"
  record "lat.$key.base_p50" "$LAT_P50"
  record "lat.$key.base_p99" "$LAT_P99"
  record "lat.$key.add_p50" "$(calc "$p50 - $LAT_P50")"
  record "lat.$key.add_p99" "$(calc "$p99 - $LAT_P99")"
  log "lat.$key at $rate/s: p50 $p50 us, p99 $p99 us; A at that rate: p50 $LAT_P50, p99 $LAT_P99"
}

# ---- the rounds --------------------------------------------------------------------

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  log "round $ROUND/$ROUNDS: throughput, ${DURATION} s each"
  wrk_scenario A "$ORIGIN_URL" ""
  wrk_scenario B "$PROXY_URL" "$PROXY_PIDS"
  h2load_scenario C /grpc.health.v1.Health/Check "$BENCH_TMP/health.bin" 7
  stream_load_scenario C_grpc health
  h2load_scenario E_h2load /fetchpool.v1.FetchPool/Fetch "$BENCH_TMP/fetch.bin" 105
  fetch_load_scenario
  stream_load_scenario S stream
  log "round $ROUND/$ROUNDS: open-loop latency at 50% of peak, ${LAT_DURATION} s each"
  latency_scenario A A
  latency_scenario B B
  latency_scenario C C_grpc
  latency_scenario E E_fetch_load
  latency_scenario S S
  if ((ROUND == 1 && GHZ)); then ghz_scenario; fi
done

# ---- profile (optional) ---------------------------------------------------------------

if ((PERF)); then
  if command -v perf >/dev/null; then
    log "profiling fetchpoold under E (fetch_load, closed loop) for ${DURATION} s"
    ROUND=perf
    perf_top() {
      local n=${*: -1}
      perf report -i "$RAW/perf-E.data" --no-children -g none --stdio "${@:1:$#-1}" 2>/dev/null |
        grep -E '^ +[0-9]' | sed 's/ *$//' | head -n "$n" || true
    }
    perf record -F 999 -g -o "$RAW/perf-E.data" -p "$FP_PID" -- sleep "$DURATION" \
      >"$RAW/perf-record.log" 2>&1 &
    perf_pid=$!
    track_pid "$perf_pid"
    timeout -k 5 "$TOOL_TIMEOUT" "$FETCH_LOAD" --target="$FP_TARGET" --url="$ORIGIN_URL" \
      --requests="$(awk -v r="${E_FETCH_LOAD_RPS:-2000}" -v d="$DURATION" 'BEGIN { print int(r * d) }')" \
      --concurrency="$CONCURRENCY" --channels=4 --json >"$RAW/perf-E.load.out" 2>&1 || true
    wait "$perf_pid" || true
    {
      echo "# fetchpoold under scenario E (fetch_load, closed loop, 64 in flight), perf -F 999"
      echo "# $(json_get rps <"$RAW/perf-E.load.out") req/s during the profile"
      echo
      echo "## top symbols (self time, all threads)"
      perf_top --sort dso,sym 30
      echo
      echo "## by shared object"
      perf_top --sort dso 15
      echo
      echo "## by thread name"
      perf_top --sort comm 10
    } >"$RESULTS/perf-E.txt"
    log "profile: bench/results/perf-E.txt"
  else
    note "--perf: perf is not installed (Debian package linux-perf)"
  fi
fi

# ---- --event_loops rows ---------------------------------------------------------------------

# restart_fetchpoold_with FLAGS...: a fresh fetchpoold with these extra flags.
restart_fetchpoold_with() {
  stop_pid "$FP_PID"
  FP_FLAGS=("$@")
  start_fetchpoold
}

LOOPS_STATUS="skipped (--no-loops)"
if ((LOOPS)); then
  if ((FP_HAS_LOOPS)); then
    LOOPS_STATUS=measured
    for n in 1 2; do
      ROUND=loops$n
      log "--event_loops=$n: E (fetch_load) and S, ${DURATION} s each"
      restart_fetchpoold_with --event_loops="$n"
      named=$(cat /proc/"$FP_PID"/task/*/comm 2>/dev/null | grep -c '^fp-loop-[0-9]*$' || true)
      if ((named == 0)); then
        note "--event_loops=$n: no thread is named fp-loop-N; the CPU split takes the busiest thread named like the process as the one loop (threads: $(fp_thread_names))"
      elif ((named != n)); then
        note "--event_loops=$n: $named threads named fp-loop-N, not $n (threads: $(fp_thread_names))"
      fi
      fetch_load_scenario "E_loops$n"
      stream_load_scenario "S_loops$n" stream
    done
    # Back to the defaults, for anything that follows.
    restart_fetchpoold_with
  else
    LOOPS_STATUS="skipped: this fetchpoold has no --event_loops flag (\`$FETCHPOOLD --helpfull\` does not mention it)"
    log "--event_loops rows $LOOPS_STATUS"
  fi
fi

# ---- callgrind: instructions per fetch -------------------------------------------------------

CG_DONE=0
if ((CALLGRIND)); then
  ROUND=callgrind
  if ((QUICK)); then cg_init 500 100; else cg_init; fi
  log "callgrind: E and S of ${CG_SPECS[*]}, then the nginx proxy B; $CG_FETCHES requests per batch, $CG_REPS batches each"
  cg_run_all "${CG_SPECS[@]}"
  CG_DONE=1
fi

# ---- report --------------------------------------------------------------------------------

# fetchpoold must still be the process we measured.
kill -0 "$FP_PID" 2>/dev/null || note "fetchpoold exited during the run (log: raw/fetchpoold.log)"
WALL_TIME=$((SECONDS - HARNESS_START))
write_report | tee "$RESULTS/latest.md"
# The tables' picture: throughput and CPU per request of A B C E S side by
# side, and the latency at half load (bench/lib/charts.sh, gnuplot).
"$BENCH_DIR/lib/charts.sh" bench-data "$RUNS_TSV" >"$RESULTS/bench-chart.tsv" &&
  "$BENCH_DIR/lib/charts.sh" bench "$RESULTS/bench-chart.tsv" "$RESULTS/bench-chart.svg" ||
  die "the chart failed (the table in bench/results/latest.md is complete)"
log "done in ${WALL_TIME} s; table in bench/results/latest.md, chart in bench/results/bench-chart.svg, raw output in bench/results/raw/"
