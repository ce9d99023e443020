#!/usr/bin/env bash
# A real Prometheus server (Debian's `prometheus` package) scrapes a real
# fetchpoold on loopback, and a PromQL query sees the origin's idle keep-alive
# connection.
#
#   prometheus_scrape_test.sh FETCHPOOLD TEST_ORIGIN_SERVER FETCHPOOLCTL
#
# Starts, in a temporary directory: the test origin, fetchpoold (gRPC and
# /metrics on 127.0.0.1, ephemeral ports), makes 3 fetches with fetchpoolctl,
# then Prometheus with a 1 s scrape interval; waits for up == 1 and queries
#   fetchpool_idle_connections{host="http://127.0.0.1:<origin port>"}  -> 1
#   fetchpool_requests_total{host="http://127.0.0.1:<origin port>"}    -> 3
# Everything it started is killed on exit, whatever the outcome. Needs only
# bash (HTTP through /dev/tcp) and iproute2's ss (to find the /metrics port).
# Exit 77 (ctest: skipped) when no prometheus binary is installed.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 FETCHPOOLD TEST_ORIGIN_SERVER FETCHPOOLCTL" >&2
  exit 2
fi
FETCHPOOLD=$1
ORIGIN=$2
CTL=$3
PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || true)}
if [[ -z $PROMETHEUS || ! -x $PROMETHEUS ]]; then
  echo "SKIP: no prometheus binary (apt-get install prometheus)"
  exit 77
fi

LIMIT_SECONDS=${FETCHPOOL_PROM_TEST_LIMIT:-90}
DEADLINE=$((SECONDS + LIMIT_SECONDS))
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fetchpool-prometheus.XXXXXX")
PIDS=()

log() { printf '[prometheus_scrape_test] %s\n' "$*" >&2; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Give them 5 s to exit, then SIGKILL.
  local give_up=$((SECONDS + 5))
  for pid in "${PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < give_up)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    local f
    for f in origin.out origin.err fetchpoold.err ctl.out metrics.txt prometheus.log; do
      [[ -s $WORK/$f ]] || continue
      echo "---- $f (last 40 lines) ----"
      tail -n 40 "$WORK/$f"
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  log "FAIL: $*"
  exit 1
}

time_left() { ((SECONDS < DEADLINE)); }

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
    sleep 0.1
  done
  fail "timed out waiting for $what"
}

# http_get HOST PORT PATH: the body of a 200 response on stdout; non-zero
# for a transport error or another status. HTTP/1.0, so the server closes.
http_get() {
  local host=$1 port=$2 path=$3 fd response status
  # (Braces: a redirection on exec itself would stay on the shell.)
  { exec {fd}<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nAccept: */*\r\n\r\n' "$path" "$host" "$port" >&"$fd"
  response=$(timeout 10 cat <&"$fd" | tr -d '\r') || true
  exec {fd}>&-
  status=$(head -n1 <<<"$response" | cut -d' ' -f2)
  [[ $status == 200 ]] || return 1
  printf '%s\n' "${response#*$'\n\n'}"
}

urlencode() {
  local s=$1 out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [a-zA-Z0-9._~-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

# promql QUERY: the API's JSON answer for an instant query.
promql() {
  http_get 127.0.0.1 "$PROM_PORT" "/api/v1/query?query=$(urlencode "$1")"
}

# The single sample value of an instant query's answer ("" when the result
# is not exactly one series).
single_value() {
  local json=$1
  [[ $json == *'"status":"success"'* ]] || return 0
  local series
  series=$(grep -o '"metric":' <<<"$json" | wc -l)
  [[ $series -eq 1 ]] || return 0
  grep -o '"value":\[[^]]*\]' <<<"$json" | sed -E 's/.*,"([^"]*)"\]$/\1/'
}

# listening_ports PID: the TCP ports PID listens on, one a line.
listening_ports() {
  ss -Hltnp 2>/dev/null | grep -F "pid=$1," | awk '{print $4}' | sed -E 's/.*:([0-9]+)$/\1/' | sort -u
}

# --- the origin ---------------------------------------------------------------
"$ORIGIN" --port=0 >"$WORK/origin.out" 2>"$WORK/origin.err" &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
line=$(wait_for_line "$WORK/origin.out" '^listening on 127\.0\.0\.1:[0-9]+' "$ORIGIN_PID" "test origin")
ORIGIN_PORT=${line##*:}
HOST_LABEL="http://127.0.0.1:$ORIGIN_PORT"
log "origin on 127.0.0.1:$ORIGIN_PORT"

# --- fetchpoold ---------------------------------------------------------------
# A long idle timeout: the idle connection must outlive Prometheus' start-up.
"$FETCHPOOLD" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --allow_cidrs=127.0.0.0/8 \
  --idle_timeout=600s 2>"$WORK/fetchpoold.err" &
FETCHPOOLD_PID=$!
PIDS+=("$FETCHPOOLD_PID")
line=$(wait_for_line "$WORK/fetchpoold.err" '"event":"start"' "$FETCHPOOLD_PID" "fetchpoold")
GRPC_PORT=$(sed -E 's/.*"port":"([0-9]+)".*/\1/' <<<"$line")
[[ $GRPC_PORT =~ ^[0-9]+$ ]] || fail "no gRPC port in: $line"
METRICS_PORT=''
if [[ $line =~ \"metrics_port\":\"([0-9]+)\" ]]; then
  METRICS_PORT=${BASH_REMATCH[1]}
else
  # The listening port of fetchpoold that is not the gRPC one.
  while time_left && [[ -z $METRICS_PORT ]]; do
    METRICS_PORT=$(listening_ports "$FETCHPOOLD_PID" | grep -vx "$GRPC_PORT" | head -n1 || true)
    [[ -n $METRICS_PORT ]] || sleep 0.1
  done
fi
[[ -n $METRICS_PORT ]] || fail "cannot find fetchpoold's /metrics port (is ss from iproute2 installed?)"
log "fetchpoold: gRPC 127.0.0.1:$GRPC_PORT, /metrics 127.0.0.1:$METRICS_PORT"

# --- three fetches over one keep-alive connection -----------------------------
for i in 1 2 3; do
  timeout 20 "$CTL" --target="127.0.0.1:$GRPC_PORT" --timeout=10s fetch "$HOST_LABEL/echo?i=$i" \
    >>"$WORK/ctl.out" 2>&1 || fail "fetchpoolctl fetch $i failed"
done

# The exporter itself, before Prometheus: one idle connection to the origin.
http_get 127.0.0.1 "$METRICS_PORT" /metrics >"$WORK/metrics.txt" || fail "GET /metrics failed"
grep -qxF "fetchpool_idle_connections{host=\"$HOST_LABEL\"} 1" "$WORK/metrics.txt" ||
  fail "/metrics has no fetchpool_idle_connections{host=\"$HOST_LABEL\"} 1"

# --- Prometheus ---------------------------------------------------------------
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: fetchpool
    static_configs:
      - targets: ['127.0.0.1:$METRICS_PORT']
EOF
"$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address=127.0.0.1:0 --log.level=info >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
PIDS+=("$PROM_PID")
line=$(wait_for_line "$WORK/prometheus.log" 'msg="Listening on" address=[^ ]*:[0-9]+' "$PROM_PID" "prometheus")
PROM_PORT=$(sed -E 's/.*msg="Listening on" address=[^ ]*:([0-9]+).*/\1/' <<<"$line")
[[ $PROM_PORT =~ ^[0-9]+$ ]] || fail "no Prometheus port in: $line"
log "prometheus on 127.0.0.1:$PROM_PORT"

up=''
while time_left; do
  kill -0 "$PROM_PID" 2>/dev/null || fail "prometheus exited"
  up=$(single_value "$(promql 'up{job="fetchpool"}' || true)")
  [[ $up == 1 ]] && break
  sleep 0.5
done
[[ $up == 1 ]] || fail "the fetchpool target never came up (up=${up:-none})"
log "target up"

idle=''
requests=''
while time_left; do
  idle=$(single_value "$(promql "fetchpool_idle_connections{host=\"$HOST_LABEL\"}" || true)")
  requests=$(single_value "$(promql "fetchpool_requests_total{host=\"$HOST_LABEL\"}" || true)")
  [[ $idle == 1 && $requests == 3 ]] && break
  sleep 0.5
done
[[ $idle == 1 ]] || fail "fetchpool_idle_connections{host=\"$HOST_LABEL\"} = '${idle}', want 1"
[[ $requests == 3 ]] || fail "fetchpool_requests_total{host=\"$HOST_LABEL\"} = '${requests}', want 3"

# A dashboard-style query over the histogram must evaluate to one series too.
p99=$(single_value "$(promql "histogram_quantile(0.99, sum by (le) (fetchpool_fetch_seconds_bucket{host=\"$HOST_LABEL\"}))" || true)")
[[ -n $p99 && $p99 != NaN ]] || fail "histogram_quantile over fetchpool_fetch_seconds_bucket gave '${p99}'"

# fetchpoold drains and exits 0 on SIGTERM while Prometheus keeps scraping
# (sanitizer builds: no leak or error reports at exit either).
stop_started=$SECONDS
kill -TERM "$FETCHPOOLD_PID"
while kill -0 "$FETCHPOOLD_PID" 2>/dev/null && time_left; do sleep 0.1; done
kill -0 "$FETCHPOOLD_PID" 2>/dev/null && fail "fetchpoold still running after SIGTERM"
rc=0
wait "$FETCHPOOLD_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "fetchpoold exited with $rc after SIGTERM"
log "fetchpoold stopped in $((SECONDS - stop_started)) s"

log "PASS: idle_connections=$idle requests_total=$requests fetch p99=${p99}s"
