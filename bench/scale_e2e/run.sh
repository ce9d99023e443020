#!/usr/bin/env bash
# bench/scale_e2e/run.sh: issue #5's scale targets, end to end through the
# real fetchpoold and gRPC, in one bounded command (about 90 s plus the build).
#
#   bench/scale_e2e/run.sh [--no-build]
#
# 1. Concurrency: a Go origin that answers each request after 1 s; for each
#    level (1,000, the most that fits the open-files limit, 10,000), a fresh
#    fetchpoold and that many unary Fetch calls started at once over 4 gRPC
#    channels. Target: 10,000 done in < 2 s, fetchpoold < 24 threads (gRPC's
#    included) whatever the concurrency, < 300 MB RSS.
# 2. Hosts: 10,000 distinct hosts 127.0.A.B (the origin listens on 0.0.0.0 and
#    answers loopback peers only), one GET each; then Stats latency with
#    10,000 pools, the idle connections closing (--idle_timeout) and the pools
#    being evicted (--evict_empty_pool_after), with RSS and live heap at each
#    step (heap_probe.so, LD_PRELOAD'ed) to derive the memory per idle
#    connection and per idle empty pool. Target: Stats < 50 ms.
#
# Every process gets the hard open-files limit; the fds fetchpoold needs per
# upstream connection are measured at the first level, and the harness says
# beforehand when a level cannot fit. Everything listens on loopback (the
# origin on 0.0.0.0, dropping non-loopback peers); every process it starts is
# ended when it exits, and a watchdog ends the run after SCALE_E2E_LIMIT s.
#
# Environment: SCALE_E2E_BUILD_DIR (default build-scale, configured like
# dev.sh), FETCHPOOL_JOBS (default 2), SCALE_E2E_LEVELS (default
# "1000 fit 10000"), SCALE_E2E_HOSTS (10000), SCALE_E2E_IDLE_TIMEOUT (30s),
# SCALE_E2E_EVICT_AFTER (45s), SCALE_E2E_LIMIT (420).
# Output: the tables on stdout and in bench/results/scale-e2e.md; every
# tool's output in bench/results/scale-e2e-raw/<time>/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

BUILD_DIR=${SCALE_E2E_BUILD_DIR:-$ROOT/build-scale}
JOBS=${FETCHPOOL_JOBS:-2}
LEVELS=${SCALE_E2E_LEVELS:-1000 fit 10000}
HOSTS=${SCALE_E2E_HOSTS:-10000}
IDLE_TIMEOUT=${SCALE_E2E_IDLE_TIMEOUT:-30s}
EVICT_AFTER=${SCALE_E2E_EVICT_AFTER:-45s}
LIMIT=${SCALE_E2E_LIMIT:-420}
CHANNELS=4
BUILD=1
case ${1:-} in
  --no-build) BUILD=0 ;;
  "") ;;
  *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$ROOT/bench/results
RAW=$RESULTS/scale-e2e-raw/$STAMP
mkdir -p "$RAW"
export NSTAT_HISTORY=$RAW/nstat.history  # our own: other users' nstat stays untouched

# ---- processes ---------------------------------------------------------------

WATCHDOG=
finish() {
  cleanup_tracked
  if [[ -n $WATCHDOG ]]; then kill -TERM "$WATCHDOG" 2>/dev/null || true; fi
}
trap finish EXIT
trap 'log "interrupted"; exit 1' TERM INT
# The watchdog ends the whole run after LIMIT s (its sleep ends with it).
( trap 'kill "$s" 2>/dev/null; exit 0' TERM
  sleep "$LIMIT" & s=$!
  wait "$s" && { echo "[scale_e2e] time limit ${LIMIT}s reached" >&2; kill -TERM $$; } ) &
WATCHDOG=$!

# start NAME CMD...: runs CMD in the background with the hard open-files
# limit, stdout/stderr in $RAW/NAME.out/.err; sets PID.
start() {
  local name=$1
  shift
  ( ulimit -n "$(ulimit -Hn)"; exec "$@" ) >"$RAW/$name.out" 2>"$RAW/$name.err" &
  PID=$!
  track_pid "$PID"
}

# stop PID: SIGTERM, up to 10 s, SIGKILL; then forgets it (no later signal
# can reach a reused pid).
stop() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local kept=() p
  for p in "${BENCH_PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
  BENCH_PIDS=("${kept[@]}")
}

# client NAME SECONDS ARGS...: scale_client, bounded; its JSON in $RAW/NAME.json.
client() {
  local name=$1 secs=$2
  shift 2
  timeout --kill-after=5 "$secs" "$BUILD_DIR/bench/scale_client" --target="127.0.0.1:$GRPC_PORT" \
    "$@" >"$RAW/$name.json" 2>"$RAW/$name.err" || log "$name: scale_client exit $? (see $RAW/$name.err)"
  cat "$RAW/$name.json"
}

proc_field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# thread_names PID: "name×count ..." of the process's threads.
thread_names() {
  cat /proc/"$1"/task/*/comm 2>/dev/null | sort | uniq -c |
    awk '{ n = $1; $1 = ""; sub(/^ /, ""); s = s (s ? ", " : "") $0 "×" n } END { print s }'
}
fmt0() { [[ $1 =~ ^-?[0-9.]+$ ]] && printf '%.0f' "$1" || printf 'n/a'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
kernel_drops() {
  nstat 2>/dev/null | awk '$1 ~ /ListenOverflows|ListenDrops|TCPSynRetrans/ { s = s $1 "=" $2 " " } END { print s }'
}

# fetchpoold NAME FLAGS...: a fresh fetchpoold on 127.0.0.1 (port from its
# start log line), with the environment FP_ENV (VAR=value...); sets FP_PID
# and GRPC_PORT.
FP_ENV=()
fetchpoold() {
  local name=$1
  shift
  start "$name" env "${FP_ENV[@]}" "$BUILD_DIR/server/fetchpoold" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --drain_delay=0s \
    --allow_cidrs=127.0.0.0/8 --shutdown_grace=1s "$@"
  FP_PID=$PID
  wait_for 20 grep -q '"event":"start"' "$RAW/$name.err" || die "$name did not start: $(tail -3 "$RAW/$name.err")"
  GRPC_PORT=$(grep '"event":"start"' "$RAW/$name.err" | grep -o '"port":"[0-9]*"' | grep -o '[0-9]*')
}

# ---- build -------------------------------------------------------------------

for tool in cmake ninja go nghttp nstat timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing (./dev.sh deps installs the Debian ones)"
done
if ((BUILD)); then
  if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
    log "configuring $BUILD_DIR (RelWithDebInfo, Ninja, as dev.sh does)"
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$RAW/cmake.log"
  fi
  log "building fetchpoold, scale_client, heap_probe, curl_conn_cost in $BUILD_DIR (-j$JOBS)"
  cmake --build "$BUILD_DIR" --parallel "$JOBS" --target fetchpoold scale_client heap_probe curl_conn_cost \
    >"$RAW/build.log" 2>&1 || die "build failed: $RAW/build.log"
  log "building the Go origin (standard library only)"
  (cd "$ROOT/bench/scale_e2e/origin" &&
    GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod go build -o "$BUILD_DIR/bench/scaleorigin" .) ||
    die "go build failed"
fi
for f in server/fetchpoold bench/scale_client bench/heap_probe.so bench/curl_conn_cost bench/scaleorigin; do
  [[ -e $BUILD_DIR/$f ]] || die "$BUILD_DIR/$f is missing (run without --no-build)"
done

NOFILE=$(ulimit -Hn)
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
# The checkout is shared: name what the built service code had uncommitted.
DIRTY=$(git -C "$ROOT" status --porcelain -- engine pool server proto client-sdk 2>/dev/null |
  awk '{ print $2 }' | paste -sd' ' -)
[[ -z $DIRTY ]] || GIT_REV+=" + uncommitted changes in $DIRTY"

start origin "$BUILD_DIR/bench/scaleorigin" --listen=0.0.0.0:0 --lifetime="${LIMIT}s"
ORIGIN_PID=$PID
wait_for 10 grep -q '^port ' "$RAW/origin.out" || die "origin did not start"
ORIGIN_PORT=$(awk '/^port / { print $2 }' "$RAW/origin.out")
log "origin on 0.0.0.0:$ORIGIN_PORT (pid $ORIGIN_PID); open-files hard limit $NOFILE; load $LOAD_AT_START"

# ---- scenario 1: concurrency --------------------------------------------------

FDS_PER_CONN=
S1_ROWS=
S1_NOTES=
declare -A R  # R[level.kind.what]: scenario 1 values for the verdicts
LEVELS_RUN=
MAX_LEVEL=0
for level in $LEVELS; do [[ $level =~ ^[0-9]+$ ]] && ((level > MAX_LEVEL)) && MAX_LEVEL=$level; done
# A cap and a queue big enough that neither limits the burst.
S1_FLAGS=(--max_connections_per_host="$MAX_LEVEL" --max_waiters_per_host=$((2 * MAX_LEVEL))
  --wait_timeout=10s)

# burst LEVEL KIND: LEVEL calls at once on the running fetchpoold (KIND cold:
# a fresh one; warm: the same again, its connections pooled); one table row.
burst() {
  local level=$1 kind=$2 name=s1-$1-$2 json fp_ticks origin_ticks fp_cpu origin_cpu drops load
  local opened_before=${OPENED:-0} in_engine timing rss_before
  rss_before=$(proc_field "$FP_PID" VmRSS)
  load=$(cut -d' ' -f1 /proc/loadavg)
  nstat -n
  fp_ticks=$(cpu_ticks "$FP_PID")
  origin_ticks=$(cpu_ticks "$ORIGIN_PID")
  log "scenario 1: $level concurrent fetches of /sleep?ms=1000 ($kind)"
  json=$(client "$name" 60 --mode=burst --url="http://127.0.0.1:$ORIGIN_PORT/sleep?ms=1000" \
    --requests="$level" --channels="$CHANNELS" --watch_pid="$FP_PID" --timeout=20s)
  fp_cpu=$(calc "($(cpu_ticks "$FP_PID") - $fp_ticks) / $CLK_TCK")
  origin_cpu=$(calc "($(cpu_ticks "$ORIGIN_PID") - $origin_ticks) / $CLK_TCK")
  drops=$(kernel_drops)
  sleep 2  # idle: every answer is in, the connections stay pooled
  OPENED=$(json_int after_opened_total <<<"$json")
  IDLE_CONNS=$(json_int after_idle <<<"$json")
  in_engine=$(($(json_int probe_busy <<<"$json") + $(json_int probe_connecting <<<"$json") + $(json_int probe_waiting <<<"$json")))
  S1_ROWS+="| $level $kind | $(fmt0 "$(json_get wall_ms <<<"$json")") | $(json_int ok <<<"$json") | $(json_get errors <<<"$json") \
| $in_engine at $(fmt0 "$(json_get probe_at_ms <<<"$json")") ms | $(json_int server_threads_max <<<"$json") / $(proc_field "$FP_PID" Threads) \
| $(mib "$(json_int server_hwm_kib <<<"$json")") | $(mib "$(proc_field "$FP_PID" VmRSS)") | $(fd_count "$FP_PID") | $((OPENED - opened_before)) \
| $fp_cpu / $origin_cpu / $(calc "$(json_get client_cpu_s <<<"$json") + 0") | $load |"$'\n'
  R[$level.$kind.wall]=$(fmt0 "$(json_get wall_ms <<<"$json")")
  R[$level.$kind.ok]=$(json_int ok <<<"$json")
  R[$level.$kind.threads]=$(json_int server_threads_max <<<"$json")
  R[$level.$kind.hwm]=$(mib "$(json_int server_hwm_kib <<<"$json")")
  timing=$(awk -v j="$json" 'BEGIN {
    n = split("queue_wait connect first_byte server_total", k, " ")
    for (i = 1; i <= n; i++) {
      p50 = j; sub(".*\"" k[i] "_p50_ms\":", "", p50); sub(/[,}].*/, "", p50)
      mx = j; sub(".*\"" k[i] "_max_ms\":", "", mx); sub(/[,}].*/, "", mx)
      if (p50 != j) s = s sprintf("%s %.0f / %.0f, ", k[i], p50, mx)
    }
    print s }')
  S1_NOTES+="- $level $kind: fetchpool's timing of the OK fetches, p50 / max ms: ${timing}caller's latency $(fmt0 "$(json_get p50_ms <<<"$json")") / $(fmt0 "$(json_get max_ms <<<"$json")")."
  if ((IDLE_CONNS > 0)) && [[ $kind == cold ]]; then
    S1_NOTES+=" RSS per pooled connection: $(calc "($(proc_field "$FP_PID" VmRSS) - $rss_before) / $IDLE_CONNS") KiB ((idle after − before) / idle connections)."
  fi
  S1_NOTES+=" Kernel (whole host): ${drops:-no listen drops or SYN retransmits}."$'\n'
}

for level in $LEVELS; do
  if [[ $level == fit ]]; then
    [[ -n $FDS_PER_CONN ]] || continue
    level=$(awk -v l="$NOFILE" -v f="$FDS_PER_CONN" 'BEGIN { print int((l - 100) / f / 500) * 500 }')
    ((level < MAX_LEVEL)) || continue
  fi
  LEVELS_RUN+=${LEVELS_RUN:+, }$level
  fetchpoold "fetchpoold-s1-$level" "${S1_FLAGS[@]}"
  fds_before=$(fd_count "$FP_PID")
  if [[ -n $FDS_PER_CONN ]]; then
    need=$(awk -v n="$level" -v f="$FDS_PER_CONN" -v b="$fds_before" 'BEGIN { printf "%.0f", n * f + b + 64 }')
    if ((need > NOFILE)); then
      log "fd headroom: $level connections need ~$need fds at $FDS_PER_CONN per connection, limit $NOFILE: expect failures"
    fi
  fi
  # The SETTINGS frame fetchpoold sends (nghttp prints its own too).
  [[ -n ${MAX_STREAMS:-} ]] || MAX_STREAMS=$({ timeout 10 nghttp -nv "http://127.0.0.1:$GRPC_PORT/" 2>&1 || true; } |
    awk '/recv SETTINGS/ { on = 1; next } /(send|recv) [A-Z_]+ frame/ { on = 0 }
      on && /SETTINGS_MAX_CONCURRENT_STREAMS/ { sub(/.*:/, ""); sub(/\]$/, ""); print; exit }')
  MAX_STREAMS=${MAX_STREAMS:-none advertised (unlimited)}
  OPENED=0
  burst "$level" cold
  if [[ -z $FDS_PER_CONN ]] && ((IDLE_CONNS > 0)); then
    FDS_PER_CONN=$(awk -v a="$(fd_count "$FP_PID")" -v b="$fds_before" -v c="$CHANNELS" -v n="$IDLE_CONNS" \
      'BEGIN { printf "%.2f", (a - b - c) / n }')
  fi
  burst "$level" warm
  S1_NOTES+="- $level: fetchpoold's threads after: $(thread_names "$FP_PID")."$'\n'
  stop "$FP_PID"
done

# libcurl alone, each connection held the way fetchpool holds one (one shared
# multi, a connection cache of its own per connection), and for comparison
# the previous way (a multi handle per connection).
CURL_COST=$(timeout 60 "$BUILD_DIR/bench/curl_conn_cost" --layout=shared_multi --url="http://127.0.0.1:$ORIGIN_PORT/" \
  --connections=2000 2>"$RAW/curl_conn_cost.err" | tee "$RAW/curl_conn_cost.json" || true)
CURL_COST_OLD=$(timeout 60 "$BUILD_DIR/bench/curl_conn_cost" --layout=multi_per_connection --url="http://127.0.0.1:$ORIGIN_PORT/" \
  --connections=2000 2>"$RAW/curl_conn_cost_old.err" | tee "$RAW/curl_conn_cost_old.json" || true)

# ---- scenario 2: many hosts --------------------------------------------------

PROBE_DIR=$RAW/heap-probe
mkdir -p "$PROBE_DIR"
# probe stat|trim: one line from heap_probe.so inside fetchpoold.
probe() {
  rm -f "$PROBE_DIR/reply"
  echo "$1" >"$PROBE_DIR/request"
  wait_for 10 test -f "$PROBE_DIR/reply" || { echo "in_use=0 free=0 mmap=0 rss_kib=0"; return; }
  cat "$PROBE_DIR/reply"
}
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

declare -A P  # P[phase.key]
S2_ROWS=
# measure PHASE LABEL [STATS_JSON]: one row of the scenario 2 table.
measure() {
  local phase=$1 label=$2 stats=${3:-} raw trimmed pools idle
  raw=$(probe stat)
  trimmed=$(probe trim)
  local now
  now=$(client "$phase-now" 20 --mode=stats --repeat=1)
  pools=$(json_int pools <<<"$now")
  idle=$(json_int idle <<<"$now")
  P[$phase.rss]=$(kv "$raw" rss_kib)
  P[$phase.trim]=$(kv "$trimmed" rss_kib)
  P[$phase.heap]=$(kv "$trimmed" in_use)
  P[$phase.pools]=$pools
  P[$phase.idle]=$idle
  local stats_cell="—"
  if [[ -n $stats ]]; then
    stats_cell=$(awk -v m="$(json_get median_ms <<<"$stats")" -v x="$(json_get max_ms <<<"$stats")" \
      -v b="$(json_int response_bytes <<<"$stats")" -v p="$(json_get client_parse_ms <<<"$stats")" \
      'BEGIN { printf "%.1f / %.1f (%.1f MB; decoding it: %.1f ms)", m, x, b / 1e6, p }')
  fi
  S2_ROWS+="| $label | $pools | $idle | $(fd_count "$FP_PID") | $(ss -Htan state time-wait | wc -l) | $(cut -d' ' -f1 /proc/loadavg) \
| $(mib "${P[$phase.rss]}") | $(mib "${P[$phase.trim]}") \
| $(awk -v b="${P[$phase.heap]}" 'BEGIN { printf "%.1f", b / 1048576 }') | $stats_cell |"$'\n'
}

FDS_PER_CONN=${FDS_PER_CONN:-3}
CLOSED_PORT=$(free_port)
FP_ENV=("HEAP_PROBE_DIR=$PROBE_DIR" "LD_PRELOAD=$BUILD_DIR/bench/heap_probe.so")
fetchpoold fetchpoold-s2 --idle_timeout="$IDLE_TIMEOUT" --evict_empty_pool_after="$EVICT_AFTER" \
  --max_pools=$((HOSTS + 1000)) --max_new_pools_per_caller_per_minute=0  # one caller asks for every host
# One warm-up fetch (its pool is evicted along with the others).
client s2-warmup 30 --mode=burst --url="http://127.0.0.1:$ORIGIN_PORT/" --requests=1 --probe_after=0 >/dev/null
LIVE=$(awk -v l="$NOFILE" -v f="$FDS_PER_CONN" -v b="$(fd_count "$FP_PID")" -v h="$HOSTS" \
  'BEGIN { n = int((l - b - 300) / f / 500) * 500; print (n < h ? n : h) }')
if ((LIVE < HOSTS)); then
  log "fd headroom: $HOSTS idle connections need ~$((HOSTS * ${FDS_PER_CONN%.*})) fds, limit $NOFILE: $LIVE hosts get the origin's port, the other $((HOSTS - LIVE)) a closed one (empty pools)"
fi
measure p0 "baseline (after 1 warm-up fetch)"
log "scenario 2: one GET to each of $HOSTS hosts 127.0.A.B ($LIVE on the origin's port)"
hosts_json=$(client s2-hosts 150 --mode=hosts --hosts="$HOSTS" --port="$ORIGIN_PORT" \
  --live_hosts="$LIVE" --closed_port="$CLOSED_PORT" --concurrency=200 --channels="$CHANNELS" \
  --watch_pid="$FP_PID")
threads_s2=$(proc_field "$FP_PID" Threads)
stats1=$(client s2-stats-pools-conns 60 --mode=stats --repeat=20)
measure p1 "after the fetches" "$stats1"
log "waiting for the idle connections to close (--idle_timeout=$IDLE_TIMEOUT)"
client s2-wait-idle 120 --mode=wait --until=idle_connections --at_most=0 --wait_max=100s >/dev/null
stats2=$(client s2-stats-pools 60 --mode=stats --repeat=20)
measure p2 "idle connections closed, pools kept" "$stats2"
log "waiting for the pools to be evicted (--evict_empty_pool_after=$EVICT_AFTER, swept every 5 s)"
wait_json=$(client s2-wait-pools 120 --mode=wait --until=pools --at_most=0 --wait_max=100s)
measure p3 "pools evicted ($(fmt0 "$(json_get waited_ms <<<"$wait_json")") ms later)"
stop "$FP_PID"
stop "$ORIGIN_PID"

# per KEY FROM TO COUNT_KEY UNIT: (FROM - TO) / (count FROM - count TO) / UNIT
# (heap is in bytes, RSS in KiB).
per() {
  awk -v a="${P[$2.$1]}" -v b="${P[$3.$1]}" -v n="$((${P[$2.$4]} - ${P[$3.$4]}))" -v unit="$5" \
    'BEGIN { if (n <= 0) { print "n/a"; exit } printf "%.1f", (a - b) / n / unit }'
}

# ---- report ------------------------------------------------------------------

# met VALUE LIMIT: "met" when VALUE < LIMIT.
met() { awk -v v="$1" -v l="$2" 'BEGIN { print (v ~ /^[0-9.]+$/ && v + 0 < l + 0) ? "met" : "**missed**" }'; }

verdicts() {
  local top=$MAX_LEVEL k threads=() t lo hi
  for k in "${!R[@]}"; do [[ $k == *.threads ]] && threads+=("${R[$k]}"); done
  lo=$(printf '%s\n' "${threads[@]}" | sort -n | head -1)
  hi=$(printf '%s\n' "${threads[@]}" | sort -n | tail -1)
  local ok=${R[$top.cold.ok]:-0} time_verdict
  t=${R[$top.cold.wall]:-n/a}
  time_verdict=$(met "$t" 2000)
  ((ok == top)) || time_verdict="**missed**"
  echo "- $top concurrent in < 2 s, all OK: $time_verdict: cold $t ms with $ok of $top OK; warm ${R[$top.warm.wall]:-n/a} ms with ${R[$top.warm.ok]:-0} OK"
  echo "- threads < 24 whatever the concurrency: $(met "$hi" 24): $lo to $hi at every level (1 s answers, $LEVELS_RUN concurrent)"
  echo "- RSS < 300 MB at $top concurrent: $(met "${R[$top.cold.hwm]:-n/a}" 300): peak ${R[$top.cold.hwm]:-n/a} MB with ${R[$top.cold.ok]:-?} connections"
  local s1 s2
  s1=$(json_get max_ms <<<"$stats1")
  s2=$(json_get max_ms <<<"$stats2")
  echo "- Stats with $HOSTS pools < 50 ms: $(met "$(json_get median_ms <<<"$stats1")" 50) (median): median $(fmt0 "$(json_get median_ms <<<"$stats1")") / max $(fmt0 "$s1") ms with idle connections, $(fmt0 "$(json_get median_ms <<<"$stats2")") / $(fmt0 "$s2") ms without"
  echo "- pools created on demand and evicted when idle: ${P[p1.pools]} pools after the fetches, ${P[p3.pools]} after eviction"
}

REPORT=$RAW/table.md
{
  echo "## fetchpool scale, end to end ($(date '+%Y-%m-%d %H:%M'), $GIT_REV)"
  echo
  echo "2 shared cores (load at start $LOAD_AT_START), open-files hard limit $NOFILE for each process;"
  echo "fetchpoold RelWithDebInfo from $(basename "$BUILD_DIR"); HTTP/2 max concurrent streams fetchpoold"
  echo "advertises: $MAX_STREAMS; fds per upstream connection in fetchpoold: $FDS_PER_CONN (measured)."
  echo
  echo "### 1. N concurrent unary Fetch (origin answers after 1 s), $CHANNELS gRPC channels"
  echo
  echo "cold: a fresh fetchpoold, every fetch opens its connection; warm: the same N again at once,"
  echo "on the connections the cold round left pooled. Flags: ${S1_FLAGS[*]}."
  echo
  echo "| concurrent | wall ms (first send → last answer) | OK | errors | in fetchpool's pools at | threads max / idle | peak RSS MB (VmHWM) | RSS MB idle after | fds idle after | connections opened | CPU s fetchpoold / origin / client | load (1 min) before |"
  echo "|---|---:|---:|---|---|---|---:|---:|---:|---:|---|---:|"
  printf '%s' "$S1_ROWS"
  echo
  printf '%s' "$S1_NOTES"
  echo
  echo "### 2. $HOSTS distinct hosts, one GET each ($LIVE to the origin, $((HOSTS - LIVE)) to a closed port)"
  echo
  echo "Fetches: $(fmt0 "$(json_get wall_ms <<<"$hosts_json")") ms at 200 in flight, OK $(json_int ok <<<"$hosts_json"), errors: $(json_get errors <<<"$hosts_json"); fetchpoold threads max $(json_int server_threads_max <<<"$hosts_json") (heap_probe adds 1), $threads_s2 after."
  echo
  echo "| phase | pools | idle connections | fds | TIME_WAIT on host | load (1 min) | RSS MB | RSS MB after malloc_trim | heap in use MB | Stats RPC ms, median / max of 20 |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  printf '%s' "$S2_ROWS"
  echo
  echo "How the costs are derived: heap = glibc's bytes in use (mallinfo2, read inside fetchpoold by"
  echo "heap_probe.so), exact for live memory; RSS is read before and after malloc_trim(0) at each phase."
  echo "Freed connection memory sits between live pool allocations, so trimmed RSS drops only partly when"
  echo "the connections close and the rest when the pools go: the RSS split between the two is approximate,"
  echo "the heap split is not."
  echo
  echo "- per idle connection: $(per heap p1 p2 idle 1024) KiB heap, $(per trim p1 p2 idle 1) KiB RSS"
  echo "  ((after the fetches − idle connections closed) / connections closed)"
  echo "- per idle empty pool: $(per heap p2 p3 pools 1024) KiB heap, $(per trim p2 p3 pools 1) KiB RSS"
  echo "  ((idle connections closed − pools evicted) / pools evicted)"
  echo "- RSS growth without trimming, baseline → after the fetches: $(calc "(${P[p1.rss]} - ${P[p0.rss]}) / 1024") MB"
  echo "  for $((${P[p1.pools]} - ${P[p0.pools]})) pools and $((${P[p1.idle]} - ${P[p0.idle]})) idle connections"
  echo "- libcurl alone per idle connection as fetchpool holds it now (curl_conn_cost, $(json_int connections <<<"$CURL_COST") connections: one"
  echo "  shared multi handle driven by curl_multi_socket_action, each easy handle with a connection cache of"
  echo "  its own, as engine/curl_multi.cc and engine/curl_connection.cc do): $(json_get total_kib <<<"$CURL_COST") KiB heap = connection"
  echo "  cache $(json_get share_kib <<<"$CURL_COST") (a CURLSH, with its internal easy handle) + easy handle $(json_get easy_kib <<<"$CURL_COST") + first transfer"
  echo "  $(json_get after_transfer_kib <<<"$CURL_COST"); $(json_get fds_per_connection <<<"$CURL_COST") fds per connection; a second GET reused the connection on"
  echo "  $(json_int reused_second_round <<<"$CURL_COST") of $(json_int connections <<<"$CURL_COST") (the shared multi itself: $(json_get fixed_kib <<<"$CURL_COST") KiB, fixed)"
  echo "- for comparison, the previous layout (a multi handle per connection, one DNS/TLS-session share for"
  echo "  all): $(json_get total_kib <<<"$CURL_COST_OLD") KiB heap per idle connection = multi handle $(json_get multi_kib <<<"$CURL_COST_OLD") + easy handle $(json_get easy_kib <<<"$CURL_COST_OLD")"
  echo "  + first transfer $(json_get after_transfer_kib <<<"$CURL_COST_OLD") (the multi's socket hash is allocated then); $(json_get fds_per_connection <<<"$CURL_COST_OLD") fds per connection"
  echo
  echo "### Targets (issue #5)"
  echo
  verdicts
} >"$REPORT"
cp "$REPORT" "$RESULTS/scale-e2e.md"
cat "$REPORT"
log "done in $((SECONDS))s; raw output in $RAW"
