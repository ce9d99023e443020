#!/usr/bin/env bash
# bench/field-failures/run.sh: the field failures of ../shared/notes/seed-lessons.md,
# side by side. Each failure is replayed with the anchors' own clients (Go
# net/http, fasthttp; go/main.go) and with fetchpool (driven over gRPC by the
# same Go program) against the project's test origin, one fresh origin per
# row so counts cannot mix:
#
#   1. bursts of 256 concurrent GETs, 1 s apart: net/http default Transport
#      (MaxIdleConnsPerHost 2) vs fetchpool defaults;
#   2. a slow origin (50-300 ms) with a 150 ms client timeout: fasthttp
#      (closes on timeout) vs fetchpool --on_deadline=abort vs drain;
#   3. an origin that closes idle keep-alive connections after 1 s, requests
#      every 950-1050 ms from 16 callers (half GET, half POST): net/http,
#      fasthttp, fetchpool (and fetchpool when the origin sends a
#      Keep-Alive: timeout hint).
#
# Per row: connections opened (the origin's own accept() count, printed when
# it stops), TIME_WAIT sockets toward/from the origin's port (`ss`, both
# sides, taken the moment the workload ends), errors surfaced to the caller,
# retries the client made by itself.
#
# Usage: bench/field-failures/run.sh            (builds what it needs; ~1.5 min)
#   FF_SKIP_BUILD=1      use the binaries already in $FF_BUILD_DIR
#   FF_BUILD_DIR=DIR     build directory (default build-ff)
#   FETCHPOOLD=PATH      run another fetchpoold binary (e.g. a patched build)
#   FF_OUT=FILE          markdown output (default bench/results/field-failures.md);
#                        its chart goes beside it (field-failures-chart.svg, data .tsv)
#   FF_ONLY="1 3"        run only these scenarios
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${FF_BUILD_DIR:-$ROOT/build-ff}
OUT_MD=${FF_OUT:-$ROOT/bench/results/field-failures.md}
RAW_DIR=$ROOT/bench/results/field-failures-raw
ONLY=${FF_ONLY:-"1 2 3"}
ORIGIN_BIN=$BUILD/tests/origin/fetchpool_test_origin_server
FETCHPOOLD=${FETCHPOOLD:-$BUILD/server/fetchpoold}
FFBENCH=$BUILD/ffbench
ROW_TIMEOUT=90   # seconds; every workload is bounded (a stalled client is killed)

START_TS=$(date +%s.%N)
WORK=$(mktemp -d /tmp/field-failures.XXXXXX)
mkdir -p "$WORK/pids" "$WORK/rows"

log() { echo "[field-failures] $*" >&2; }

# Every process we start registers its pid here; the trap ends exactly those.
track() { echo "$2" >"$WORK/pids/$1"; }
untrack() { rm -f "$WORK/pids/$1"; }
cleanup() {
  local f pid
  # Row subshells first, so none starts anything after this.
  for f in "$WORK"/pids/sub*; do
    [[ -e $f ]] && kill -TERM "$(cat "$f")" 2>/dev/null
  done
  for f in "$WORK"/pids/*; do
    [[ -e $f ]] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 0.3
  for f in "$WORK"/pids/*; do
    [[ -e $f ]] || continue
    pid=$(cat "$f")
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# Build

if [[ -z ${FF_SKIP_BUILD:-} ]]; then
  log "building fetchpoold and the test origin in $BUILD"
  if [[ ! -f $BUILD/build.ninja ]]; then
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DFETCHPOOL_BUILD_TESTS=ON -DFETCHPOOL_TEST_DIRS=origin >"$WORK/cmake.log" 2>&1 ||
      { cat "$WORK/cmake.log" >&2; exit 1; }
  fi
  ninja -C "$BUILD" -j2 fetchpoold fetchpool_test_origin_server >"$WORK/ninja.log" 2>&1 ||
    { tail -30 "$WORK/ninja.log" >&2; exit 1; }
  log "building the Go clients (net/http, fasthttp, fetchpool gRPC)"
  (cd "$HERE/go" && go build -o "$FFBENCH" .)
fi
for bin in "$ORIGIN_BIN" "$FETCHPOOLD" "$FFBENCH"; do
  [[ -x $bin ]] || { log "missing $bin (run without FF_SKIP_BUILD)"; exit 1; }
done
command -v ss >/dev/null || { log "needs ss (iproute2)"; exit 1; }
command -v nginx >/dev/null || { log "needs nginx (nginx-light)"; exit 1; }
command -v jq >/dev/null || { log "needs jq"; exit 1; }
command -v gnuplot >/dev/null || { log "needs gnuplot (gnuplot-nox) for the chart"; exit 1; }

# ---------------------------------------------------------------------------
# Processes

# wait_for_line FILE REGEX SECONDS: the first match, or fail.
wait_for_line() {
  local file=$1 regex=$2 limit=$3 i line
  for ((i = 0; i < limit * 20; i++)); do
    line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
    if [[ -n $line ]]; then echo "$line"; return 0; fi
    sleep 0.05
  done
  return 1
}

# pick_port: a free port below the ephemeral range (ip_local_port_range)
# with no socket at all, so `ss` filters on it match this row's connections
# only, never another process's (an ephemeral port can be any other socket's
# remote port; these cannot).
pick_port() {
  local low port
  low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range)
  while :; do
    port=$((10000 + RANDOM % (low - 10000)))
    [[ -z $(ss -Htan "( sport = :$port or dport = :$port )") ]] && break
  done
  echo "$port"
}

# start_origin NAME FLAGS...: the test origin; sets ORIGIN_PORT.
start_origin() {
  local name=$1; shift
  local attempt port pid line
  for ((attempt = 0; attempt < 8; attempt++)); do
    port=$(pick_port)
    "$ORIGIN_BIN" --port="$port" "$@" >"$WORK/$name.origin.out" 2>"$WORK/$name.origin.err" &
    pid=$!
    track "$name.origin" "$pid"
    if line=$(wait_for_line "$WORK/$name.origin.out" 'listening on' 5); then
      ORIGIN_PORT=${line##*:}
      return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    untrack "$name.origin"
  done
  log "$name: origin did not start"; cat "$WORK/$name.origin.err" >&2
  return 1
}

# start_front NAME BACKEND_PORT: nginx (one process) in front of the test
# origin; sets FRONT_PORT.
start_front() {
  local name=$1 backend=$2
  local prefix="$WORK/$name.nginx" port i
  mkdir -p "$prefix/temp"
  port=$(pick_port)
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$port|g" -e "s|@BACKEND_PORT@|$backend|g" \
    -e 's|^master_process on;|master_process off;|' \
    "$HERE/nginx/front.conf.in" >"$prefix/nginx.conf"
  nginx -e "$prefix/error.log" -p "$prefix" -c "$prefix/nginx.conf" &
  track "$name.nginx" $!
  for ((i = 0; i < 100; i++)); do
    [[ -n $(ss -Htln "( sport = :$port )") ]] && { FRONT_PORT=$port; return 0; }
    sleep 0.05
  done
  log "$name: nginx did not start"; cat "$prefix/error.log" >&2
  return 1
}

# stop_front NAME: prints the number of client connections nginx served
# (distinct connection serials in its access log).
stop_front() {
  local name=$1 pid i
  pid=$(cat "$WORK/pids/$name.nginx")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  untrack "$name.nginx"
  awk '{print $1}' "$WORK/$name.nginx/access.log" | sort -u | wc -l
}

# stop_origin NAME: prints "CONNECTIONS REQUESTS" (the origin's own counts).
stop_origin() {
  local name=$1 pid i
  pid=$(cat "$WORK/pids/$name.origin")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  untrack "$name.origin"
  sed -n 's/.*after \([0-9]*\) connections, \([0-9]*\) requests.*/\1 \2/p' "$WORK/$name.origin.err"
}

# start_fetchpoold NAME FLAGS...: sets FP_PORT.
start_fetchpoold() {
  local name=$1; shift
  "$FETCHPOOLD" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --drain_delay=0s \
    --allow_cidrs=127.0.0.0/8 --shutdown_grace=1s "$@" \
    >"$WORK/$name.fetchpoold.log" 2>&1 &
  track "$name.fetchpoold" $!
  local line
  line=$(wait_for_line "$WORK/$name.fetchpoold.log" '"event":"start"' 10) ||
    { log "$name: fetchpoold did not start"; cat "$WORK/$name.fetchpoold.log" >&2; return 1; }
  FP_PORT=$(sed -n 's/.*"port":"\([0-9]*\)".*/\1/p' <<<"$line")
}

# stop_fetchpoold NAME: prints "clean" or "hung" (needed SIGKILL).
stop_fetchpoold() {
  local name=$1 pid i
  pid=$(cat "$WORK/pids/$name.fetchpoold")
  kill -TERM "$pid" 2>/dev/null || true
  # --shutdown_grace=1s: a healthy daemon is gone well within 4 s.
  for ((i = 0; i < 80; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    echo hung
  else
    echo clean
  fi
  wait "$pid" 2>/dev/null || true
  untrack "$name.fetchpoold"
}

# row ID SCENARIO LABEL "ORIGIN FLAGS" "FETCHPOOLD FLAGS|-" WORKLOAD CLIENT ARGS...
# One fresh origin (and fetchpoold) per row; writes rows/ID.json. ORIGIN
# FLAGS starting with "front" put nginx (nginx/front.conf.in) in front of
# the test origin; the clients then talk to nginx, and the connection count
# is nginx's.
row() {
  local id=$1 scenario=$2 label=$3 origin_flags=$4 fp_flags=$5 workload=$6 client=$7
  shift 7
  local name="row$id" target=() rc=0 front=
  if [[ $origin_flags == front* ]]; then front=1; origin_flags=${origin_flags#front}; fi
  # shellcheck disable=SC2086
  start_origin "$name" $origin_flags
  local port=$ORIGIN_PORT
  if [[ -n $front ]]; then
    start_front "$name" "$ORIGIN_PORT"
    port=$FRONT_PORT
  fi
  if [[ $fp_flags != - ]]; then
    # shellcheck disable=SC2086
    start_fetchpoold "$name" $fp_flags
    target=(--target="127.0.0.1:$FP_PORT")
  fi
  timeout -k 2 "$ROW_TIMEOUT" "$FFBENCH" "$workload" --client="$client" --label="$label" \
    --origin="127.0.0.1:$port" "${target[@]}" "$@" \
    >"$WORK/$name.json" 2>"$WORK/$name.ffbench.err" &
  track "$name.ffbench" $!
  wait $! || rc=$?
  untrack "$name.ffbench"
  local counts shutdown=n/a conns
  if [[ -n $front ]]; then conns=$(stop_front "$name"); fi
  counts=$(stop_origin "$name"); [[ $counts == *" "* ]] || counts="-1 -1"
  conns=${conns:-${counts%% *}}
  if [[ $fp_flags != - ]]; then shutdown=$(stop_fetchpoold "$name"); fi
  if [[ $rc -ne 0 || ! -s $WORK/$name.json ]]; then
    log "$label: ffbench failed (rc=$rc): $(head -c 400 "$WORK/$name.ffbench.err")"
    echo '{"requests":0,"errors":{"ffbench failed":1}}' >"$WORK/$name.json"
  fi
  jq -c --arg sc "$scenario" --arg lb "$label" --arg flags "$fp_flags" \
    --arg oflags "${front:+nginx front; }test origin $origin_flags" --arg shutdown "$shutdown" \
    --argjson conns "$conns" --argjson reqs "${counts##* }" \
    '. + {"scenario": $sc, "label": $lb, "fetchpoold_flags": $flags, "origin_flags": $oflags,
          "fetchpoold_shutdown": $shutdown, "origin_connections": $conns, "origin_requests": $reqs}' \
    "$WORK/$name.json" >"$WORK/rows/$id.json"
  if [[ $fp_flags != - ]]; then cp "$WORK/$name.fetchpoold.log" "$WORK/rows/$id.fetchpoold.log"; fi
  log "$(jq -r '"\(.scenario) | \(.label): origin saw \(.origin_connections) connections, TIME_WAIT \(.tw_client_side)+\(.tw_origin_side), errors \(.errors)"' "$WORK/rows/$id.json")"
}

has() { [[ " $ONLY " == *" $1 "* ]]; }

# ---------------------------------------------------------------------------
# Scenarios

S1="1. bursts: 5 x 256 concurrent GET, 1 s apart"
if has 1; then
  BURST=(--bursts=5 --size=256 --gap=1s --path='/bytes?n=100')
  row 11 "$S1" "Go net/http, default Transport (MaxIdleConnsPerHost 2)" "" - burst nethttp "${BURST[@]}"
  row 12 "$S1" "fetchpool defaults (64 per host, idle cap = cap)" "" "" burst fetchpool "${BURST[@]}"
fi

S2="2. slow origin 50-300 ms, client timeout 150 ms"
if has 2; then
  SLOW=(--callers=32 --per=20 --min_ms=50 --max_ms=300 --timeout=150ms --seed=42)
  row 21 "$S2" "fasthttp (closes on timeout)" "" - slow fasthttp "${SLOW[@]}"
  row 22 "$S2" "fetchpool --on_deadline=abort" "" "--on_deadline=abort" slow fetchpool "${SLOW[@]}"
  row 23 "$S2" "fetchpool --on_deadline=drain" "" "--on_deadline=drain" slow fetchpool "${SLOW[@]}"
fi

S2B="2b. the same, origin behind nginx (closes at once when a client leaves)"
if has 2; then
  row 24 "$S2B" "fasthttp (closes on timeout)" "front" - slow fasthttp "${SLOW[@]}"
  row 25 "$S2B" "fetchpool --on_deadline=abort" "front" "--on_deadline=abort" slow fetchpool "${SLOW[@]}"
  row 26 "$S2B" "fetchpool --on_deadline=drain" "front" "--on_deadline=drain" slow fetchpool "${SLOW[@]}"
fi

S3="3. origin closes idle after 1 s, 16 callers every 950-1050 ms"
if has 3; then
  # These rows are idle most of the time, so they run side by side (each
  # with its own origin and port); the bursty rows above run alone.
  # 39 rounds: the gaps sweep 950..1050 ms twice, denser near 1000 ms (see
  # --gaps_ms); 16 callers, caller i waiting i*50us more, so each round puts
  # many connections at the origin's idle-close moment.
  IDLE=(--callers=16 --sweeps=2 --caller_offset=50us)
  OCLOSE="--idle_close_ms=1000"
  row 31 "$S3" "Go net/http, default Transport (MaxIdleConnsPerHost 2)" "$OCLOSE" - idle nethttp "${IDLE[@]}" &
  track sub31 $!
  row 32 "$S3" "Go net/http, MaxIdleConnsPerHost 16" "$OCLOSE" - idle nethttp --go_max_idle_per_host=16 "${IDLE[@]}" &
  track sub32 $!
  row 33 "$S3" "fasthttp defaults" "$OCLOSE" - idle fasthttp "${IDLE[@]}" &
  track sub33 $!
  row 34 "$S3" "fetchpool defaults (no hint from origin)" "$OCLOSE" "" idle fetchpool "${IDLE[@]}" &
  track sub34 $!
  row 35 "$S3" "fetchpool, origin also sends Keep-Alive: timeout=1" "$OCLOSE --keep_alive_hint_s=1" "" idle fetchpool "${IDLE[@]}" &
  track sub35 $!
  wait
  rm -f "$WORK"/pids/sub3?
fi

# ---------------------------------------------------------------------------
# Report

ROWS="$WORK/rows.jsonl"
cat "$WORK"/rows/*.json >"$ROWS"  # the glob sorts: rows keep their ids' order
WALL=$(awk -v s="$START_TS" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
mkdir -p "$(dirname "$OUT_MD")" "$RAW_DIR"
cp "$ROWS" "$RAW_DIR/rows.jsonl"
cp "$WORK"/rows/*.fetchpoold.log "$RAW_DIR/" 2>/dev/null || true
{
  echo "# Field failures, side by side"
  echo
  rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)
  if [[ -n $(git -C "$ROOT" status --porcelain -- engine pool server proto 2>/dev/null) ]]; then
    rev="$rev + uncommitted changes in engine/pool/server/proto"
  fi
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) · commit $rev" \
    "· $(nproc) cores · kernel $(uname -r) · fetchpoold $FETCHPOOLD · wall time ${WALL}s" \
    "· \`bench/field-failures/run.sh\`"
  echo
  "$FFBENCH" table "$ROWS"
  echo
  cat <<'NOTES'
How to read it:
- *Connections opened*: the origin's own accept() count (one fresh origin per row); in 2b, the
  client connections nginx served (distinct `$connection` in its access log).
- *TIME_WAIT*: `ss -tan state time-wait` on the origin's port 300 ms after the workload ends (closes
  it started finish their FIN exchange), before anything is stopped: client side (dport) + origin
  side (sport). The side that closes first keeps it.
- *Errors*: what the caller got back; `timeout` is the caller's own 150 ms limit (about 405 of the 640
  responses in scenario 2 are slower than that, by construction). *Retries*: extra attempts the
  client made on its own (net/http: one GetConn per attempt; fasthttp: RoundTrip calls;
  fetchpool: `FetchResponse.attempts`, replays of a request that failed on a reused connection).
- Scenario 2 vs 2b: a client that closes on timeout leaves TIME_WAIT only if the origin then closes
  without writing (nginx, 2b). The bare test origin (2) writes its late response into the closed
  socket and gets an RST instead: no TIME_WAIT anywhere, but the same reconnect per timeout.
- Scenario 3: the connection counts depend on how many requests of a round overlap, which depends
  on each client's latency, so compare them loosely; the errors and retries are the point.
NOTES
  echo
  echo "## Details per row"
  echo
  jq -r '"- **\(.scenario) · \(.label)**: \(.workload // "?"); \(.ok // 0)/\(.requests) ok in \(.elapsed_s // 0 | . * 10 | round / 10) s;" +
         " client dials \(.dials // -1)" +
         (if .dials_per_burst then " (per burst \(.dials_per_burst | map(tostring) | join("/")))" else "" end) +
         (if .bursts then "; burst ok/seconds \(.bursts | map("\(.ok)/\(.seconds * 100 | round / 100)") | join(", "))" else "" end) +
         (if .responses_slower_than_timeout then "; \(.responses_slower_than_timeout) responses slower than the timeout" else "" end) +
         (if .client == "fetchpool" then
            "; fetchpoold flags `\(.fetchpoold_flags)`; shutdown \(.fetchpoold_shutdown); Stats: " +
            (.client_extra | to_entries | map("\(.key)=\(.value | tostring)") | join(" "))
          else "; " + (.client_extra | to_entries | map("\(.key)=\(.value | tostring)") | join(" ")) end)' \
    "$ROWS"
} >"$OUT_MD"
cat "$OUT_MD"
# The table's picture: connections opened and TIME_WAIT per client, one
# panel per scenario (bench/lib/charts.sh, gnuplot), beside the markdown.
CHART=${OUT_MD%.md}-chart
"$ROOT/bench/lib/charts.sh" ff-data "$ROWS" >"$CHART.tsv"
"$ROOT/bench/lib/charts.sh" ff "$CHART.tsv" "$CHART.svg"
log "wrote $OUT_MD and $CHART.svg (raw rows in $RAW_DIR) in ${WALL}s"
