# tests/lib/live_servers.sh: start real servers on loopback for a test script
# (the test origin, fetchpoold) and stop them when the script exits. Source it
# from bash after `set -euo pipefail`:
#
#   source "$FETCHPOOL_SOURCE_DIR/tests/lib/live_servers.sh"
#   live_init my_test 120                  # name for logs, whole-test limit (s)
#   live_start_origin ORIGIN               # sets ORIGIN_PORT (127.0.0.1)
#   live_start_origin SLOW --response_delay_ms=50
#   live_start_fetchpoold FP --wait_timeout=2s   # sets FP_PORT, FP_METRICS_PORT,
#                                          # FP_PID, FP_ARGS
#   live_stop_fetchpoold FP                # SIGTERM; fails unless it exits 0
#   live_prometheus_or_skip               # PROMETHEUS, or exit 77 without one
#   live_start_prometheus prometheus.yml   # sets PROM_PORT, PROM_PID
#   live_start_secure_fetchpoolds my-caller   # TLS + token, and mTLS (TLS_PORT,
#                                          # MTLS_PORT, FETCHPOOL_* exports)
#   live_restart_fetchpoold FP 0.2         # SIGKILL, then the same again on
#                                          # the same port after 0.2 s (background)
#
# Binaries come from FETCHPOOL_BUILD_DIR (default: build/ under the source
# tree): server/fetchpoold and tests/origin/fetchpool_test_origin_server.
# fetchpoold listens on 127.0.0.1 (gRPC and /metrics, ephemeral ports) and may
# fetch from 127.0.0.0/8 and ::1 (loopback is denied by default). Logs go to
# $LIVE_WORK/<NAME>.{out,err}; on failure the last lines of each are printed.
# fail MESSAGE ends the test; exit 77 means skipped to ctest.

LIVE_SOURCE_DIR=${FETCHPOOL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LIVE_BUILD_DIR=${FETCHPOOL_BUILD_DIR:-$LIVE_SOURCE_DIR/build}
LIVE_FETCHPOOLD=${FETCHPOOLD:-$LIVE_BUILD_DIR/server/fetchpoold}
LIVE_ORIGIN=${FETCHPOOL_TEST_ORIGIN:-$LIVE_BUILD_DIR/tests/origin/fetchpool_test_origin_server}
LIVE_PIDS=()
LIVE_NAME=live
LIVE_DEADLINE=$((SECONDS + 300))
LIVE_WORK=''

log() { printf '[%s] %s\n' "$LIVE_NAME" "$*" >&2; }
fail() {
  log "FAIL: $*"
  exit 1
}
time_left() { ((SECONDS < LIVE_DEADLINE)); }

live_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${LIVE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  local give_up=$((SECONDS + 5))
  for pid in "${LIVE_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < give_up)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 && $rc -ne 77 && -n $LIVE_WORK ]]; then
    local f
    for f in "$LIVE_WORK"/*.out "$LIVE_WORK"/*.err; do
      [[ -s $f ]] || continue
      echo "---- ${f##*/} (last 40 lines) ----"
      tail -n 40 "$f"
    done
  fi
  [[ -n $LIVE_WORK && ${FETCHPOOL_KEEP_WORK:-0} != 1 ]] && rm -rf "$LIVE_WORK"
  exit "$rc"
}

# live_init NAME LIMIT_SECONDS: work dir, deadline, cleanup trap.
live_init() {
  LIVE_NAME=$1
  LIVE_DEADLINE=$((SECONDS + $2))
  LIVE_WORK=$(mktemp -d "${TMPDIR:-/tmp}/fetchpool-$LIVE_NAME.XXXXXX")
  [[ -x $LIVE_FETCHPOOLD ]] || fail "no fetchpoold at $LIVE_FETCHPOOLD (build first)"
  trap live_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# wait_for_line FILE REGEX PID WHAT: polls FILE until a line matches; fails if
# the process exits first or the deadline passes. Prints the line.
wait_for_line() {
  local file=$1 regex=$2 pid=$3 what=$4 line
  while time_left; do
    line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
    if [[ -n $line ]]; then
      printf '%s\n' "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || fail "$what exited before it was ready"
    sleep 0.05
  done
  fail "timed out waiting for $what"
}

# live_start_origin NAME [origin flags...]: sets NAME_PORT and NAME_PID.
live_start_origin() {
  local name=$1
  shift
  [[ -x $LIVE_ORIGIN ]] || fail "no test origin at $LIVE_ORIGIN (build first)"
  "$LIVE_ORIGIN" --port=0 "$@" >"$LIVE_WORK/$name.out" 2>"$LIVE_WORK/$name.err" &
  local pid=$!
  LIVE_PIDS+=("$pid")
  local line
  # 127.0.0.1 unless the flags give another --bind (loopback too: 127.0.1.1, [::1]).
  line=$(wait_for_line "$LIVE_WORK/$name.out" '^listening on [^ ]+:[0-9]+$' "$pid" "origin $name")
  printf -v "${name}_PORT" '%s' "${line##*:}"
  printf -v "${name}_PID" '%s' "$pid"
}

# _live_run_fetchpoold NAME LISTEN ARGS...: starts it, waits for its start line.
_live_run_fetchpoold() {
  local name=$1 listen=$2
  shift 2
  # --drain_delay=0s: a test stops it with SIGTERM and needs no endpoint
  # to move away first (the drain tests pass their own, later flags win).
  "$LIVE_FETCHPOOLD" --listen="$listen" --metrics_listen=127.0.0.1:0 --drain_delay=0s \
    --allow_cidrs=127.0.0.0/8,::1/128 "$@" >>"$LIVE_WORK/$name.out" 2>>"$LIVE_WORK/$name.err" &
  local pid=$!
  LIVE_PIDS+=("$pid")
  printf -v "${name}_PID" '%s' "$pid"
}

# live_start_fetchpoold NAME [fetchpoold flags...]: sets NAME_PORT (gRPC),
# NAME_METRICS_PORT (/metrics), NAME_PID and NAME_ARGS (the flags, for a
# restart).
live_start_fetchpoold() {
  local name=$1
  shift
  : >"$LIVE_WORK/$name.err"
  _live_run_fetchpoold "$name" 127.0.0.1:0 "$@"
  local pid_var="${name}_PID" line port
  line=$(wait_for_line "$LIVE_WORK/$name.err" '"event":"start"' "${!pid_var}" "fetchpoold $name")
  port=$(sed -E 's/.*"port":"([0-9]+)".*/\1/' <<<"$line")
  [[ $port =~ ^[0-9]+$ ]] || fail "no gRPC port in: $line"
  printf -v "${name}_PORT" '%s' "$port"
  # Empty when the flags turned /metrics off (--metrics_listen=).
  local metrics_port=''
  [[ $line =~ \"metrics_port\":\"([0-9]+)\" ]] && metrics_port=${BASH_REMATCH[1]}
  printf -v "${name}_METRICS_PORT" '%s' "$metrics_port"
  local -a args=("$@")
  declare -g -a "${name}_ARGS=()"
  local -n arr="${name}_ARGS"
  arr=("${args[@]}")
}

# live_start_secure_fetchpoolds CALLER [fetchpoold flags...]: test
# certificates (tests/integration/make_test_certs.sh) in $LIVE_WORK/certs, a
# random bearer token for the caller CALLER, and two more fetchpoolds with
# the flags given: TLS that requires the token (TLS_PORT), and mTLS
# (MTLS_PORT). Exports what the SDK tests and interop runners read:
# FETCHPOOL_TLS_TARGET, FETCHPOOL_MTLS_TARGET, FETCHPOOL_CA_FILE,
# FETCHPOOL_TOKEN, FETCHPOOL_CLIENT_CERT, FETCHPOOL_CLIENT_KEY; and
# FETCHPOOL_CERTS, the folder.
live_start_secure_fetchpoolds() {
  local caller=$1
  shift
  local certs=$LIVE_WORK/certs
  mkdir -p "$certs"
  sh "$LIVE_SOURCE_DIR/tests/integration/make_test_certs.sh" "$certs"
  local token
  token=$caller-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s %s\n' "$caller" "$token" >"$LIVE_WORK/tokens"
  live_start_fetchpoold TLS "$@" --tls_cert_file="$certs/server.pem" \
    --tls_key_file="$certs/server.key" --auth_tokens_file="$LIVE_WORK/tokens"
  live_start_fetchpoold MTLS "$@" --tls_cert_file="$certs/server.pem" \
    --tls_key_file="$certs/server.key" --tls_client_ca_file="$certs/ca.pem"
  export FETCHPOOL_TLS_TARGET=127.0.0.1:$TLS_PORT FETCHPOOL_MTLS_TARGET=127.0.0.1:$MTLS_PORT
  export FETCHPOOL_CERTS=$certs FETCHPOOL_CA_FILE=$certs/ca.pem FETCHPOOL_TOKEN=$token
  export FETCHPOOL_CLIENT_CERT=$certs/spiffe.pem FETCHPOOL_CLIENT_KEY=$certs/spiffe.key
}

# live_restart_fetchpoold NAME DELAY_SECONDS: SIGKILL (no drain: calls in
# flight break as in a crash), then after DELAY_SECONDS the same fetchpoold
# again on the same port, in the background. Returns once the old one is gone.
live_restart_fetchpoold() {
  local name=$1 delay=$2
  local pid_var="${name}_PID" port_var="${name}_PORT"
  local -n args="${name}_ARGS"
  kill -KILL "${!pid_var}" 2>/dev/null || true
  wait "${!pid_var}" 2>/dev/null || true
  sleep "$delay"
  _live_run_fetchpoold "$name" "127.0.0.1:${!port_var}" "${args[@]}"
}

# live_stop_fetchpoold NAME: SIGTERM, then fails unless it exits 0 before
# the deadline (a drain that hangs, or a sanitizer report at exit, fails).
live_stop_fetchpoold() {
  local pid_var="${1}_PID"
  local pid=${!pid_var} started=$SECONDS rc=0
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null && time_left; do sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "fetchpoold $1 still running after SIGTERM"
  wait "$pid" || rc=$?
  [[ $rc -eq 0 ]] || fail "fetchpoold $1 exited with $rc after SIGTERM"
  log "fetchpoold $1 stopped in $((SECONDS - started)) s"
}

# live_prometheus_or_skip: sets PROMETHEUS (env, else Debian's prometheus
# on PATH), or exits 77 (ctest: skipped) when there is none.
live_prometheus_or_skip() {
  PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || true)}
  if [[ -z $PROMETHEUS || ! -x $PROMETHEUS ]]; then
    echo "SKIP: no prometheus binary (apt-get install prometheus)"
    exit 77
  fi
}

# live_start_prometheus CONFIG: Prometheus with CONFIG, its data and log in
# $LIVE_WORK, its web API on 127.0.0.1 (an ephemeral port). Sets PROM_PORT
# and PROM_PID.
live_start_prometheus() {
  "$PROMETHEUS" --config.file="$1" --storage.tsdb.path="$LIVE_WORK/data" \
    --web.listen-address=127.0.0.1:0 --log.level=info >"$LIVE_WORK/prometheus.err" 2>&1 &
  PROM_PID=$!
  LIVE_PIDS+=("$PROM_PID")
  local line
  line=$(wait_for_line "$LIVE_WORK/prometheus.err" 'msg="Listening on" address=[^ ]*:[0-9]+' "$PROM_PID" "prometheus")
  PROM_PORT=$(sed -E 's/.*msg="Listening on" address=[^ ]*:([0-9]+).*/\1/' <<<"$line")
  [[ $PROM_PORT =~ ^[0-9]+$ ]] || fail "no Prometheus port in: $line"
  log "prometheus on 127.0.0.1:$PROM_PORT"
}

# http_get HOST PORT PATH: the body of a 200 response on stdout; non-zero
# for a transport error or another status. HTTP/1.0, so the server closes.
http_get() {
  local host=$1 port=$2 path=$3 fd response status
  { exec {fd}<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nAccept: */*\r\n\r\n' "$path" "$host" "$port" >&"$fd"
  response=$(timeout 10 cat <&"$fd" | tr -d '\r') || true
  exec {fd}>&-
  status=$(head -n1 <<<"$response" | cut -d' ' -f2)
  [[ $status == 200 ]] || return 1
  printf '%s\n' "${response#*$'\n\n'}"
}
