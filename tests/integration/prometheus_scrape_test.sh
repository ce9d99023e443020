#!/usr/bin/env bash
# A real Prometheus server (Debian's `prometheus` package) scrapes a real
# fetchpoold on loopback, and a PromQL query sees the origin's idle keep-alive
# connection.
#
#   prometheus_scrape_test.sh FETCHPOOLD TEST_ORIGIN_SERVER FETCHPOOLCTL
#
# Starts, in a temporary directory: the test origin, fetchpoold (gRPC and
# /metrics on 127.0.0.1, ephemeral ports), makes 3 fetches with fetchpoolctl,
# then Prometheus with a 1 s scrape interval and the alert rules of
# deploy/prometheus/fetchpool-rules.yaml; waits for up == 1 and queries
#   fetchpool_idle_connections{host="http://127.0.0.1:<origin port>"}  -> 1
#   fetchpool_requests_total{host="http://127.0.0.1:<origin port>"}    -> 3
# checks that every rule evaluates on the real series without error (health
# ok), and after fetchpoold stops, that FetchpoolTargetDown goes pending
# (its for: 2m is promtool's to test: deploy/prometheus/tests).
# Everything it started is killed on exit, whatever the outcome
# (tests/lib/live_servers.sh). Needs only bash (HTTP through /dev/tcp).
# Exit 77 (ctest: skipped) when no prometheus binary is installed.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 FETCHPOOLD TEST_ORIGIN_SERVER FETCHPOOLCTL" >&2
  exit 2
fi
FETCHPOOLD=$1
ORIGIN=$2
CTL=$3

# Work dir, deadline, log/fail/time_left, wait_for_line, http_get, and
# stopping every process at exit: the shared test harness.
FETCHPOOL_TEST_ORIGIN=$ORIGIN
source "$(dirname "${BASH_SOURCE[0]}")/../lib/live_servers.sh"
live_prometheus_or_skip
live_init prometheus_scrape_test "${FETCHPOOL_PROM_TEST_LIMIT:-90}"
WORK=$LIVE_WORK

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

# --- the origin and fetchpoold (gRPC and /metrics on 127.0.0.1) ---------------
live_start_origin ORIGIN
HOST_LABEL="http://127.0.0.1:$ORIGIN_PORT"
# A long idle timeout: the idle connection must outlive Prometheus' start-up.
live_start_fetchpoold FETCHPOOLD --idle_timeout=600s
GRPC_PORT=$FETCHPOOLD_PORT
METRICS_PORT=$FETCHPOOLD_METRICS_PORT
[[ -n $METRICS_PORT ]] || fail "fetchpoold did not say its /metrics port"
log "origin on 127.0.0.1:$ORIGIN_PORT; fetchpoold: gRPC 127.0.0.1:$GRPC_PORT, /metrics 127.0.0.1:$METRICS_PORT"

# --- three fetches over one keep-alive connection -----------------------------
for i in 1 2 3; do
  timeout 20 "$CTL" --target="127.0.0.1:$GRPC_PORT" --timeout=10s fetch "$HOST_LABEL/echo?i=$i" \
    >>"$WORK/ctl.out" 2>&1 || fail "fetchpoolctl fetch $i failed"
done

# The exporter itself, before Prometheus: one idle connection to the origin.
http_get 127.0.0.1 "$METRICS_PORT" /metrics >"$WORK/metrics.out" || fail "GET /metrics failed"
grep -qxF "fetchpool_idle_connections{host=\"$HOST_LABEL\"} 1" "$WORK/metrics.out" ||
  fail "/metrics has no fetchpool_idle_connections{host=\"$HOST_LABEL\"} 1"

# --- Prometheus ---------------------------------------------------------------
RULES=$(realpath "$(dirname "${BASH_SOURCE[0]}")/../../deploy/prometheus/fetchpool-rules.yaml")
RULE_COUNT=$(grep -c '^ *- alert:' "$RULES")
# job fetchpoold: the job FetchpoolTargetDown watches (the ServiceMonitor's).
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES
scrape_configs:
  - job_name: fetchpoold
    static_configs:
      - targets: ['127.0.0.1:$METRICS_PORT']
EOF
live_start_prometheus "$WORK/prometheus.yml"

up=''
while time_left; do
  kill -0 "$PROM_PID" 2>/dev/null || fail "prometheus exited"
  up=$(single_value "$(promql 'up{job="fetchpoold"}' || true)")
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

# Every alert rule evaluated on the real series: health "ok" (an expression
# Prometheus cannot evaluate, e.g. a many-to-many match, is "err").
rules_json=''
while time_left; do
  rules_json=$(http_get 127.0.0.1 "$PROM_PORT" /api/v1/rules || true)
  ok=$(grep -o '"health":"ok"' <<<"$rules_json" | wc -l)
  [[ $ok -eq $RULE_COUNT ]] && break
  sleep 0.5
done
grep -q '"health":"err"' <<<"$rules_json" && fail "an alert rule failed to evaluate: $rules_json"
[[ $ok -eq $RULE_COUNT ]] || fail "$ok of $RULE_COUNT alert rules evaluated with health ok: $rules_json"
log "$RULE_COUNT alert rules loaded and evaluated (health ok)"

# fetchpoold drains and exits 0 on SIGTERM while Prometheus keeps scraping
# (sanitizer builds: no leak or error reports at exit either).
live_stop_fetchpoold FETCHPOOLD

# The scrapes now fail: up == 0, and the target-down alert is pending.
pending=''
while time_left; do
  pending=$(single_value "$(promql 'ALERTS{alertname="FetchpoolTargetDown",alertstate="pending"}' || true)")
  [[ $pending == 1 ]] && break
  sleep 0.5
done
[[ $pending == 1 ]] || fail "FetchpoolTargetDown did not go pending after fetchpoold stopped"
log "FetchpoolTargetDown pending"

log "PASS: idle_connections=$idle requests_total=$requests fetch p99=${p99}s; $RULE_COUNT alert rules ok, FetchpoolTargetDown pending once stopped"
