# bench/tls/lib.sh: the pieces of bench/tls/run.sh and bench/h2/run.sh
# (sourced by them, after their settings): the build and the results dir,
# certificates, the nginx origin and proxy, fetchpoold, one measured run per
# scenario and the field rows (the report is in report.sh). Functions only;
# they read run.sh's globals when called.

# tls_settings: what bench/tls/run.sh and bench/h2/run.sh share, from the
# environment (their headers list it).
tls_settings() {
  DURATION=${BENCH_DURATION:-8}
  ROUNDS=${BENCH_ROUNDS:-2}
  BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build-tls}
  # The C++ sources built: this tree by default. BENCH_SRC_DIR=DIR builds
  # another tree (e.g. `git archive HEAD | tar -x -C DIR`, when the working
  # tree holds someone's half-done edits); the report says which.
  SRC_DIR=${BENCH_SRC_DIR:-$ROOT}
  KEY_TYPE=${BENCH_TLS_KEY:-ec}
  CONCURRENCY=64
  BUILD=1
  QUICK=0
}

# tls_options ARGS...: --quick, --no-build and --help; any other option goes
# to the caller's extra_option ARG, which fails for one it does not know.
tls_options() {
  while [[ $# -gt 0 ]]; do
    case $1 in
      --quick) DURATION=3; ROUNDS=1; QUICK=1 ;;
      --no-build) BUILD=0 ;;
      -h | --help) usage; exit 0 ;;
      *) extra_option "$1" || { usage >&2; exit 2; } ;;
    esac
    shift
  done
}

# bench_setup NAME [ffbench]: SRC_DESC; checks the tools; builds (unless
# BUILD=0) fetch_load, stream_load, fetchpoold (unless BENCH_FETCHPOOLD is
# set), tlsbench and, when asked, ffbench into BUILD_DIR; sets their paths;
# empties bench/results/NAME-raw (RAW: RUNS_TSV, NOTES_FILE and note) and
# makes the temp dir (BENCH_TMP).
bench_setup() {
  local name=$1 ff=${2:-} targets=(fetch_load stream_load)
  SRC_DESC="this tree"
  if [[ $SRC_DIR != "$ROOT" ]]; then
    SRC_DESC=$SRC_DIR
    if [[ -f $SRC_DIR/.source-rev ]]; then
      SRC_DESC+=" (a snapshot of $(cat "$SRC_DIR/.source-rev"))"
    fi
  fi
  local tool bin
  for tool in nginx wrk openssl curl ss go jq timeout; do
    command -v "$tool" >/dev/null || die "$tool is missing"
  done
  [[ -n ${BENCH_FETCHPOOLD:-} ]] || targets+=(fetchpoold)
  if ((BUILD)); then
    log "building ${targets[*]} in $BUILD_DIR (Release)"
    if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
      cmake -S "$SRC_DIR" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DFETCHPOOL_BUILD_TESTS=OFF >/dev/null
    fi
    ninja -C "$BUILD_DIR" -j"${FETCHPOOL_JOBS:-2}" "${targets[@]}" >&2 || die "build failed"
    log "building the Go tools (tlsbench${ff:+, ffbench})"
    (cd "$TLS_DIR/go" && go build -o "$BUILD_DIR/tlsbench" .) || die "tlsbench build failed"
    if [[ -n $ff ]]; then
      (cd "$BENCH_DIR/field-failures/go" && go build -o "$BUILD_DIR/ffbench" .) || die "ffbench build failed"
    fi
  fi
  FETCHPOOLD=${BENCH_FETCHPOOLD:-$BUILD_DIR/server/fetchpoold}
  FETCH_LOAD=$BUILD_DIR/bench/fetch_load
  STREAM_LOAD=$BUILD_DIR/bench/stream_load
  TLSBENCH=$BUILD_DIR/tlsbench
  FFBENCH=$BUILD_DIR/ffbench
  for bin in "$FETCHPOOLD" "$FETCH_LOAD" "$STREAM_LOAD" "$TLSBENCH" ${ff:+"$FFBENCH"}; do
    [[ -x $bin ]] || die "$bin is missing (run without --no-build)"
  done
  RESULTS=$BENCH_DIR/results
  mkdir -p "$RESULTS"
  bench_results_dir "$RESULTS/$name-raw" "$RESULTS/$name-raw/runs.tsv"
  [[ -n ${BENCH_FETCHPOOLD:-} ]] && note "fetchpoold under test is BENCH_FETCHPOOLD=$BENCH_FETCHPOOLD"
  bench_tmp_dir "fetchpool-$name-bench" "$RAW"
}

# A CA, and a server certificate for 127.0.0.1 and localhost signed by it.
make_certs() {
  local d=$BENCH_TMP/pki newkey=(-newkey "$KEY_TYPE")
  [[ $KEY_TYPE == ec ]] && newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
  mkdir -p "$d"
  openssl req -x509 "${newkey[@]}" -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
    -subj "/CN=fetchpool bench TLS CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$d/openssl.err" || die "openssl (CA): $(cat "$d/openssl.err")"
  openssl req "${newkey[@]}" -nodes -keyout "$d/server.key" -out "$d/server.csr" \
    -subj "/CN=127.0.0.1" 2>"$d/openssl.err" || die "openssl (server key): $(cat "$d/openssl.err")"
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/server.pem" -days 2 -extfile "$d/server.ext" 2>"$d/openssl.err" ||
    die "openssl (server certificate): $(cat "$d/openssl.err")"
  chmod 644 "$d"/*.pem
  CA=$d/ca.pem
  CERT=$d/server.pem
  KEY=$d/server.key
  KEY_DESC=$(openssl x509 -in "$CERT" -noout -text | sed -n 's/^ *Public Key Algorithm: //p' | head -n1)
  KEY_DESC+=" $(openssl x509 -in "$CERT" -noout -text | sed -n 's/^ *Public-Key: (\(.*\))/\1/p' | head -n1)"
}

# start_main_origin: the CA and certificate, the ports, the URLs and the
# origin every scenario shares (ORIGIN_HTTP2 as in render_tls); sets
# MAIN_ORIGIN_PIDS and body (the origin's answer, checked with curl).
# Listening ports below the ephemeral range: the Go client's thousands of
# connections (and their TIME_WAIT) cannot take them between restarts.
start_main_origin() {
  make_certs
  log "CA and server certificate ($KEY_DESC) in $BENCH_TMP/pki"
  ORIGIN_PORT=$(pick_low_port)
  STATUS_PORT=$(pick_low_port)
  PROXY_PORT=$(pick_low_port)
  FP_PORT=$(pick_low_port)
  ORIGIN_URL=https://127.0.0.1:$ORIGIN_PORT/
  POOL_KEY=https://127.0.0.1:$ORIGIN_PORT
  PROXY_URL=http://127.0.0.1:$PROXY_PORT/
  FP_TARGET=127.0.0.1:$FP_PORT
  start_origin origin "$ORIGIN_PORT" "$STATUS_PORT"
  MAIN_ORIGIN_PIDS=$ORIGIN_PIDS
  body=$(curl -fsS --cacert "$CA" "$ORIGIN_URL") || die "curl --cacert to the origin failed"
  [[ ${#body} -eq 100 ]] || die "origin body is not 100 bytes"
}

# render_tls TEMPLATE OUT PORT [ORIGIN_PORT] [STATUS_PORT]: ORIGIN_HTTP2
# ("http2" or empty, the default) fills @HTTP2@, a listen parameter.
render_tls() {
  local template=$1 out=$2 port=$3 origin_port=${4:-} status_port=${5:-}
  local name
  name=$(basename "$out" .conf)
  mkdir -p "$BENCH_TMP/$name-temp"
  sed -e "s|@PREFIX@|$BENCH_TMP|g" -e "s|@NAME@|$name|g" -e "s|@PORT@|$port|g" \
    -e "s|@ORIGIN_PORT@|$origin_port|g" -e "s|@STATUS_PORT@|$status_port|g" \
    -e "s|@BODY@|$ORIGIN_BODY|g" -e "s|@CERT@|$CERT|g" -e "s|@KEY@|$KEY|g" -e "s|@CA@|$CA|g" \
    -e "s|@HTTP2@|${ORIGIN_HTTP2:-}|g" \
    "$template" >"$out"
}

# wait_listen PORT SECONDS: until something listens on 127.0.0.1:PORT (no
# request is made: a readiness request would open a connection of its own).
wait_listen() {
  local deadline=$((SECONDS + $2))
  until [[ -n $(ss -Htln "( sport = :$1 )" 2>/dev/null) ]]; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# pick_low_port: a port below the ephemeral range with no socket at all
# (field scenario: `ss` filters on it then see that row's sockets only).
pick_low_port() {
  local low port
  low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range)
  while :; do
    port=$((10000 + RANDOM % (low - 10000)))
    [[ $BENCH_PORTS_TAKEN == *" $port "* ]] && continue
    [[ -z $(ss -Htan "( sport = :$port or dport = :$port )") ]] && break
  done
  BENCH_PORTS_TAKEN+="$port "
  echo "$port"
}

# start_origin NAME PORT STATUS_PORT: an HTTPS origin; sets ORIGIN_MASTER,
# ORIGIN_PIDS, ACCESS (its access log) and resets the log cursor.
start_origin() {
  local name=$1 port=$2 status_port=$3
  render_tls "$TLS_DIR/nginx/origin-tls.conf.in" "$BENCH_TMP/$name.conf" "$port" "" "$status_port"
  ORIGIN_MASTER=$(start_nginx "$BENCH_TMP/$name.conf")
  track_pid "$ORIGIN_MASTER"
  wait_listen "$port" 10 || die "origin nginx $name did not come up ($(tail -n 3 "$BENCH_TMP/$name-error.log" 2>/dev/null))"
  wait_listen "$status_port" 10 || die "origin nginx $name: no stub_status listener"
  sleep 0.1
  ORIGIN_PIDS=$(nginx_pids "$ORIGIN_MASTER")
  local pid
  for pid in $ORIGIN_PIDS; do [[ $pid == "$ORIGIN_MASTER" ]] || track_pid "$pid"; done
  ACCESS=$BENCH_TMP/$name-access.txt
  ORIGIN_STATUS_URL=http://127.0.0.1:$status_port/
  LOG_LINE=0
  SEEN=$BENCH_TMP/$name.seen
  : >"$SEEN"
}

# stop_nginx MASTER: the master and its workers (tracked), gracefully.
stop_nginx() {
  local master=$1 pid workers
  workers=$(pgrep -P "$master" 2>/dev/null || true)
  stop_pid "$master" 10
  for pid in $workers; do untrack_pid "$pid"; done
}

# accepts: the origin's stub_status accepts count (our own status request
# over plain HTTP, on its own listener, is one of them: subtracted).
accepts() {
  local a
  a=$(curl -fsS --max-time 5 "$ORIGIN_STATUS_URL" 2>/dev/null | awk 'NR == 3 { print $1 }')
  [[ $a =~ ^[0-9]+$ ]] && echo "$((a - 1))" || echo nan
}

# log_slice OUT_PREFIX: the access-log lines since the last call. Connections
# whose first line is in this slice are new: prints "NEW FULL RESUMED LINES
# PROTOCOLS"; writes OUT_PREFIX.conns ("conn reused requests protocol" per
# new connection) unless OUT_PREFIX is -.
log_slice() {
  local out=$1 total
  sleep 0.3 # the log phase runs after the response is sent
  total=$(wc -l <"$ACCESS")
  local detail=/dev/null
  [[ $out != - ]] && detail=$out.conns
  awk -v from="$LOG_LINE" -v to="$total" -v seenf="$SEEN" -v detail="$detail" '
    BEGIN { while ((getline l < seenf) > 0) seen[l] = 1; close(seenf) }
    NR > from && NR <= to {
      lines++; proto[$3 "/" $4]++
      if (!($1 in seen) && !($1 in first)) { first[$1] = $2; order[++n] = $1; p[$1] = $3 " " $4 }
      if ($1 in first) reqs[$1]++
    }
    END {
      for (i = 1; i <= n; i++) {
        c = order[i]
        if (first[c] == "r") r++; else f++
        print c, first[c], reqs[c], p[c] > detail
        print c >> seenf
      }
      ps = ""; for (k in proto) ps = ps (ps == "" ? "" : ",") k ":" proto[k]
      printf "%d %d %d %d %s\n", n, f, r, lines, (ps == "" ? "none" : ps)
    }' "$ACCESS"
  LOG_LINE=$total
}

start_proxy() {
  render_tls "$TLS_DIR/nginx/proxy-tls.conf.in" "$BENCH_TMP/proxy.conf" "$PROXY_PORT" "$ORIGIN_PORT"
  PROXY_MASTER=$(start_nginx "$BENCH_TMP/proxy.conf")
  track_pid "$PROXY_MASTER"
  wait_listen "$PROXY_PORT" 10 || die "proxy nginx did not come up"
  sleep 0.1
  PROXY_PIDS=$(nginx_pids "$PROXY_MASTER")
  local pid
  for pid in $PROXY_PIDS; do [[ $pid == "$PROXY_MASTER" ]] || track_pid "$pid"; done
}

stop_proxy() { stop_nginx "$PROXY_MASTER"; }

# start_fetchpoold [FLAGS...]: a fresh fetchpoold trusting the CA.
start_fetchpoold() {
  "$FETCHPOOLD" --listen="$FP_TARGET" --metrics_listen=127.0.0.1:0 --drain_delay=0s \
    --allow_cidrs=127.0.0.0/8 --ca_file="$CA" "$@" \
    >>"$BENCH_TMP/fetchpoold.log" 2>&1 </dev/null &
  FP_PID=$!
  track_pid "$FP_PID"
  wait_for 15 "$TLSBENCH" stats --target="$FP_TARGET" ||
    die "fetchpoold did not come up (log: $(tail -n 5 "$BENCH_TMP/fetchpoold.log"))"
}

stop_fetchpoold() { stop_pid "$FP_PID" 10; }

# measure KEY MID_PIDS COMMAND...: runs COMMAND (bounded), output in
# $RAW/KEY.rROUND.out; records the origin's view of the run (connections,
# handshakes, accepts) and sets OUT, MID_TICKS, ORIGIN_TICKS, RC.
measure() {
  local key=$1 mid=$2
  shift 2
  OUT=$RAW/$key.r$ROUND.out
  log_slice - >/dev/null # whatever came before belongs to no run
  local a0 o0 m0 slice new full resumed lines protos
  a0=$(accepts)
  o0=$(cpu_ticks $MAIN_ORIGIN_PIDS)
  m0=$(cpu_ticks $mid)
  RC=0
  timeout -k 5 "$TOOL_TIMEOUT" "$@" >"$OUT" 2>"$OUT.err" || RC=$?
  ORIGIN_TICKS=$(($(cpu_ticks $MAIN_ORIGIN_PIDS) - o0))
  MID_TICKS=$(($(cpu_ticks $mid) - m0))
  slice=$(log_slice "$RAW/$key.r$ROUND")
  local a1
  a1=$(accepts)
  read -r new full resumed lines protos <<<"$slice"
  record "$key.conns" "$new"
  record "$key.full" "$full"
  record "$key.resumed" "$resumed"
  record "$key.origin_lines" "$lines"
  record "$key.protocols" "$protos"
  if [[ $a0 != nan && $a1 != nan ]]; then
    # our own status request between a0 and a1 is one accept too
    record "$key.accepts" "$((a1 - a0 - 1))"
  else
    record "$key.accepts" nan
  fi
  ((RC == 0)) || note "round $ROUND $key: $1 exited $RC (see bench/results/tls-raw/$key.r$ROUND.out.err)"
}

# record_cpu KEY REQUESTS [MID_TICKS]
record_cpu() {
  record "$1.requests" "$2"
  record "$1.cpu_origin" "$(ticks_to_us_per_req "$ORIGIN_TICKS" "$2")"
  record "$1.cpu_mid" "$(ticks_to_us_per_req "${3:-$MID_TICKS}" "$2")"
  record "$1.accepts_per_1k" "$(awk -v c="$(this_round "$1.accepts")" -v n="$2" 'BEGIN { if (n > 0 && c ~ /^[0-9]+$/) printf "%.2f", c * 1000 / n; else print "nan" }')"
}

# this_round KEY: this round's value.
this_round() { awk -F'\t' -v r="$ROUND" -v k="$1" '$1 == r && $2 == k { v = $3 } END { print v }' "$RUNS_TSV"; }

# fp_stats_json: fetchpoold's Stats for the pool (empty when it has none).
fp_stats_json() { "$TLSBENCH" stats --target="$FP_TARGET" --host="$POOL_KEY" 2>/dev/null || true; }

# fp_stats KEY [BASELINE_JSON]: fetchpoold's own view of the run (its Stats
# for the pool, less the baseline taken before the run, if any), checked
# against the origin's.
fp_stats() {
  local key=$1 base=${2:-} json
  json=$("$TLSBENCH" stats --target="$FP_TARGET" --host="$POOL_KEY" 2>"$RAW/$key.r$ROUND.stats.err") || {
    note "round $ROUND $key: Stats failed: $(cat "$RAW/$key.r$ROUND.stats.err")"
    record "$key.fp_handshakes" nan
    record "$key.fp_resumed" nan
    record "$key.agree" "no (Stats failed)"
    return 0
  }
  printf '%s\n' "$json" >"$RAW/$key.r$ROUND.stats.json"
  local f
  for f in tls_handshakes_total tls_sessions_resumed_total connections_opened_total failures_total; do
    printf -v "fp_$f" '%s' "$(($(json_int "$f" <<<"$json") - $(json_int "$f" <<<"$base")))"
  done
  record "$key.fp_handshakes" "$fp_tls_handshakes_total"
  record "$key.fp_resumed" "$fp_tls_sessions_resumed_total"
  record "$key.fp_opened" "$fp_connections_opened_total"
  record "$key.fp_failures" "$fp_failures_total"
  if [[ $fp_tls_handshakes_total != "$(this_round "$key.conns")" ||
    $fp_tls_sessions_resumed_total != "$(this_round "$key.resumed")" ]]; then
    note "round $ROUND $key: fetchpoold's Stats (handshakes $fp_tls_handshakes_total, resumed $fp_tls_sessions_resumed_total) disagree with the origin's log (connections $(this_round "$key.conns"), full $(this_round "$key.full"), resumed $(this_round "$key.resumed"))"
    record "$key.agree" no
  else
    record "$key.agree" yes
  fi
}

# scenario_b KEY WARM: WARM=1 runs wrk for WARMUP_S s first (not measured),
# so the run sees the proxy's upstream connections already open.
scenario_b() {
  local key=$1 warm=$2
  start_proxy
  if ((warm)); then
    timeout -k 5 "$TOOL_TIMEOUT" wrk -t1 -c"$CONCURRENCY" -d"${WARMUP_S}s" --timeout 5s "$PROXY_URL" \
      >"$RAW/$key.r$ROUND.warmup.out" 2>&1 || note "round $ROUND $key: warm-up wrk failed"
  fi
  measure "$key" "$PROXY_PIDS" wrk -t1 -c"$CONCURRENCY" -d"${DURATION}s" --timeout 5s "$PROXY_URL"
  wrk_totals "$OUT"
  record "$key.rps" "${WRK_RPS:-nan}"
  # wrk's slowest request: "Latency  avg  stdev  max  +/-", with units
  record "$key.max_ms" "$(awk '$1 == "Latency" { v = $4; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
    printf "%.1f", v * (u == "us" ? 0.001 : u == "s" ? 1000 : u == "m" ? 60000 : 1); exit }' "$OUT")"
  record "$key.errors" "$WRK_ERRORS"
  record_cpu "$key" "${WRK_REQUESTS:-0}"
  stop_proxy
  log "$key: ${WRK_RPS:-?} req/s, $(this_round "$key.conns") connections ($(this_round "$key.full") full, $(this_round "$key.resumed") resumed)"
}

# start_fetchpoold_for KEY WARM [FLAGS...]: a fresh fetchpoold for an E or S
# run, FLAGS added to its command line; with
# WARM=1, 64 x 10 Fetch calls first (not measured; the pool is the same for
# Fetch and FetchStream), and BASE set to its Stats after them. A warm-up by
# duration would not do: fetchpoold's cold start can outlast it.
start_fetchpoold_for() {
  base=""
  local key=$1 warm=$2
  shift 2
  start_fetchpoold --max_connections_per_host="$CONCURRENCY" "$@"
  if ((warm)); then
    timeout -k 5 "$TOOL_TIMEOUT" "$FETCH_LOAD" --target="$FP_TARGET" --url="$ORIGIN_URL" \
      --requests=$((CONCURRENCY * 10)) --concurrency="$CONCURRENCY" --channels=4 --timeout=10s --json \
      >"$RAW/$key.r$ROUND.warmup.out" 2>&1 || note "round $ROUND $key: warm-up fetch_load failed"
    base=$(fp_stats_json)
  fi
}

# finish_fetchpoold_run KEY RPS JSON OK ERRORS LOG_EXTRA: records an E or S
# run (reads the caller's BASE), stops fetchpoold and logs the run.
finish_fetchpoold_run() {
  local key=$1 rps=$2 json=$3 ok=$4
  record "$key.rps" "${rps:-nan}"
  record "$key.max_ms" "$(calc "$(json_get max_us <<<"$json") / 1000")"
  record "$key.errors" "$5"
  record_cpu "$key" "${ok:-0}"
  fp_stats "$key" "$base"
  stop_fetchpoold
  log "$key: ${rps:-?} req/s$6, $(this_round "$key.conns") connections ($(this_round "$key.full") full, $(this_round "$key.resumed") resumed); Stats: $(this_round "$key.fp_handshakes") handshakes, $(this_round "$key.fp_resumed") resumed"
}

# scenario_e KEY WARM [FLAGS...]: WARM and FLAGS as in start_fetchpoold_for.
# The calls sent: the last req/s of this KEY (else of any E run) x DURATION.
declare -A E_RPS_OF=()
scenario_e() {
  local key=$1 warm=$2 n base=""
  shift 2
  n=$(awk -v r="${E_RPS_OF[$key]:-${E_RPS:-2500}}" -v d="$DURATION" 'BEGIN { n = int(r * d); print (n < 1000 ? 1000 : n) }')
  start_fetchpoold_for "$key" "$warm" "$@"
  measure "$key" "$FP_PID" "$FETCH_LOAD" --target="$FP_TARGET" --url="$ORIGIN_URL" \
    --requests="$n" --concurrency="$CONCURRENCY" --channels=4 --timeout=10s --json
  local json rps ok
  json=$(cat "$OUT")
  rps=$(json_get rps <<<"$json")
  ok=$(json_get ok <<<"$json")
  [[ $rps =~ ^[0-9.]+$ ]] && E_RPS=$rps && E_RPS_OF[$key]=$rps
  finish_fetchpoold_run "$key" "$rps" "$json" "$ok" \
    "$(($(json_int http_errors <<<"$json") + $(json_int rpc_errors <<<"$json")))" " ($n calls)"
}

# scenario_s KEY WARM [FLAGS...]: as scenario_e; 4 FetchStreams, CONCURRENCY
# fetches in flight in all.
scenario_s() {
  local key=$1 warm=$2 base=""
  shift 2
  start_fetchpoold_for "$key" "$warm" "$@"
  measure "$key" "$FP_PID" "$STREAM_LOAD" --mode=stream --target="$FP_TARGET" --url="$ORIGIN_URL" \
    --streams=4 --window=$((CONCURRENCY / 4)) --duration="${DURATION}s" --json
  local json rps ok
  json=$(cat "$OUT")
  rps=$(json_get rps <<<"$json")
  ok=$(json_get ok <<<"$json")
  finish_fetchpoold_run "$key" "$rps" "$json" "$ok" \
    "$(($(json_int errors <<<"$json") + $(json_int unanswered <<<"$json")))" ""
}

# scenario_g [KEY [ARGS...]]: tlsbench get (ARGS added, e.g. --proto=h2) at
# CONCURRENCY; KEY defaults to G-TLS.
scenario_g() {
  local key=${1:-G-TLS}
  (($#)) && shift
  # The Go client is the middle and the load: its CPU comes from its own
  # /proc/self/stat over the load loop (startup excluded).
  measure "$key" "" "$TLSBENCH" get --url="$ORIGIN_URL" --ca="$CA" \
    --concurrency="$CONCURRENCY" --duration="${DURATION}s" "$@"
  local json rps ok
  json=$(cat "$OUT")
  rps=$(json_get rps <<<"$json")
  ok=$(json_get ok <<<"$json")
  record "$key.rps" "${rps:-nan}"
  record "$key.max_ms" "$(calc "$(json_get max_us <<<"$json") / 1000")"
  record "$key.errors" "$(($(json_int errors <<<"$json") + $(json_int non2xx <<<"$json")))"
  record_cpu "$key" "${ok:-0}" "$(json_int cpu_ticks <<<"$json")"
  record "$key.client_handshakes" "$(json_int tls_handshakes <<<"$json")"
  record "$key.client_resumed" "$(json_int tls_resumed <<<"$json")"
  log "$key: ${rps:-?} req/s, $(this_round "$key.accepts") connections accepted, $(this_round "$key.conns") with requests ($(this_round "$key.full") full, $(this_round "$key.resumed") resumed); Go's own count: $(this_round "$key.client_handshakes") handshakes, $(this_round "$key.client_resumed") resumed"
}

# field_row ID LABEL CLIENT [FETCHPOOLD]: a fresh origin on a port below the
# ephemeral range; ffbench burst --ca; the origin's log for connections and
# handshakes; ffbench's own ss count of TIME_WAIT on the origin's port.
field_row() {
  local id=$1 label=$2 client=$3 port status target=() rc=0
  port=$(pick_low_port)
  status=$(pick_low_port)
  start_origin "field$id" "$port" "$status"
  if [[ $client == fetchpool ]]; then
    start_fetchpoold # fetchpool's defaults, plus --ca_file
    target=(--target="$FP_TARGET")
  fi
  local out=$RAW/field$id.json a0 a1
  a0=$(accepts)
  timeout -k 5 120 "$FFBENCH" burst --client="$client" --label="$label" --origin="127.0.0.1:$port" \
    --ca="$CA" "${target[@]}" --bursts=5 --size=256 --gap=1s --path=/ >"$out" 2>"$out.err" || rc=$?
  ((rc == 0)) || note "field $label: ffbench exited $rc: $(head -c 300 "$out.err")"
  local slice new full resumed lines protos
  slice=$(log_slice "$RAW/field$id")
  a1=$(accepts)
  read -r new full resumed lines protos <<<"$slice"
  local acc=null
  [[ $a0 != nan && $a1 != nan ]] && acc=$((a1 - a0 - 1))
  [[ $client == fetchpool ]] && stop_fetchpoold
  stop_nginx "$ORIGIN_MASTER"
  local json
  json=$(cat "$out" 2>/dev/null || echo '{}')
  [[ -n $json ]] || json='{}'
  jq -c --arg lbl "$label" --argjson new "$new" --argjson full "$full" --argjson resumed "$resumed" \
    --argjson lines "$lines" --arg protos "$protos" --argjson acc "$acc" \
    '. + {row_label: $lbl, origin_accepts: $acc, origin_connections: $new, origin_full: $full, origin_resumed: $resumed,
          origin_requests: $lines, origin_protocols: $protos}' <<<"$json" >>"$RAW/field.jsonl" ||
    note "field $label: ffbench output is not JSON"
  log "field $label: $acc connections accepted, $new with requests ($full full, $resumed resumed), TIME_WAIT $(jq -r '(.tw_client_side // 0) + (.tw_origin_side // 0)' <<<"$json"), errors $(jq -c '.errors // {}' <<<"$json")"
}

