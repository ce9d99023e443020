#!/usr/bin/env bash
# Every panel of the Grafana dashboard
# (deploy/k8s/components/dashboard/fetchpool-dashboard.json) asked of a real
# Prometheus (Debian's `prometheus`) scraping a real fetchpoold under a small
# mixed load, all on loopback. dashboard_panels_check.py does the asking and
# says what "proven" means; it prints one line per panel target.
#
# Env: FETCHPOOL_SOURCE_DIR, FETCHPOOL_BUILD_DIR, or each binary's own:
# FETCHPOOLD, FETCHPOOL_TEST_ORIGIN, FETCHPOOLCTL (tests/lib/live_servers.sh).
#
# fetchpoold: 2 connections and 3 waiters per host, 2 s wait timeout, 2 s
# idle timeout, 3 s connection lifetime, 3 s connect timeout,
# --on_deadline=abort. Once Prometheus has scraped it, the load starts: each
# a loop of fetchpoolctl calls in the background until the script ends:
#   FAST   /echo: OK fetches, reuse, lifetime closes; /close now and then
#          (the origin closes); /sleep?ms=2000 with a 300 ms caller deadline
#          (aborted in flight: fetchpool closes first, TIME_WAIT)
#   SLOW   6 loops of /sleep?ms=3000: 2 busy, 3 waiting, the rest QUEUE_FULL;
#          waiters time out at 2 s (WAIT_TIMEOUT)
#   RESET  /reset: the origin resets (CONNECTION_RESET, closed on error); and
#          /echo, so a /reset also lands on a reused connection: replayed
#          once on a fresh one (retries, stale connections)
#   QUIET  by host name (DNS lookups), every 3 s: idle-timeout closes
#   HANG   a listener that never accepts: 2 loops keep both connections
#          connecting until CONNECT_TIMEOUT; a third caller waits and is
#          killed after 1 s (cancelled waiters)
# Exit 77 (ctest: skipped) when no prometheus binary is installed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# FETCHPOOL_DASHBOARD: another dashboard file (to see the test fail on a broken one).
DASHBOARD=${FETCHPOOL_DASHBOARD:-$HERE/../../deploy/k8s/components/dashboard/fetchpool-dashboard.json}

source "$HERE/../lib/live_servers.sh"
CTL=${FETCHPOOLCTL:-$LIVE_BUILD_DIR/client-sdk/cpp/fetchpoolctl}
live_prometheus_or_skip
live_init dashboard_panels_test "${FETCHPOOL_PANELS_TEST_LIMIT:-150}"
WORK=$LIVE_WORK
[[ -x $CTL ]] || fail "no fetchpoolctl at $CTL (build first)"

live_start_origin FAST
live_start_origin SLOW
live_start_origin RESET
# QUIET is reached by a name, so its pool resolves it: not "localhost",
# which curl answers itself without a lookup, but this machine's host name
# when /etc/hosts puts it on loopback (Debian: 127.0.1.1; containers:
# 127.0.0.1). Read from /etc/hosts itself, so no DNS server is ever asked.
# Elsewhere: localhost, and no lookup to check.
QUIET_NAME=${HOSTNAME:-localhost}
QUIET_ADDR=$(awk -v name="$QUIET_NAME" '$1 ~ /^127\./ {
    for (i = 2; i <= NF && $i !~ /^#/; i++) if ($i == name) { print $1; exit } }' /etc/hosts 2>/dev/null || true)
if [[ $QUIET_ADDR == 127.* ]]; then
  live_start_origin QUIET --bind="$QUIET_ADDR"
else
  QUIET_NAME=localhost
  live_start_origin QUIET
fi
# A listener that never accepts, with a backlog of 0, and its accept queue
# filled by its own first connection: the kernel drops every later SYN, so
# fetchpool's connects hang until --connect_timeout (CONNECT_TIMEOUT) and
# the scrapes see them connecting.
python3 -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
filler = socket.create_connection(s.getsockname())
print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
while True:
    time.sleep(60)
' >"$WORK/HANG.out" 2>"$WORK/HANG.err" &
HANG_PID=$!
LIVE_PIDS+=("$HANG_PID")
line=$(wait_for_line "$WORK/HANG.out" '^listening on' "$HANG_PID" "the listener that never accepts")
HANG_PORT=${line##*:}
live_start_fetchpoold FP --max_connections_per_host=2 --max_waiters_per_host=3 \
  --wait_timeout=2s --idle_timeout=2s --max_connection_lifetime=3s --on_deadline=abort \
  --connect_timeout=3s
[[ -n $FP_METRICS_PORT ]] || fail "fetchpoold did not say its /metrics port"
log "fetchpoold: gRPC 127.0.0.1:$FP_PORT, /metrics 127.0.0.1:$FP_METRICS_PORT"

# --- Prometheus, 1 s scrapes (as prometheus_scrape_test.sh) -------------------
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fetchpoold
    static_configs:
      - targets: ['127.0.0.1:$FP_METRICS_PORT']
EOF
START=$(date +%s)
live_start_prometheus "$WORK/prometheus.yml"

# The load starts once Prometheus has scraped: a counter's first step (a
# pool's one DNS lookup) must land between two samples for rate() to see it.
while time_left; do
  kill -0 "$PROM_PID" 2>/dev/null || fail "prometheus exited"
  up=$(http_get 127.0.0.1 "$PROM_PORT" '/api/v1/query?query=up' || true)
  [[ $up == *'"value":['*',"1"]'* ]] && break
  sleep 0.2
done
[[ $up == *'"value":['*',"1"]'* ]] || fail "Prometheus never scraped fetchpoold: $up"
log "target up; starting the load"

# loop PAUSE TIMEOUT URL [KILL_AFTER]: fetches URL until the script ends,
# PAUSE seconds apart, each call with a TIMEOUT caller deadline, and its
# fetchpoolctl killed after KILL_AFTER seconds (its call cancelled: no race
# with a deadline timer in fetchpoold). Failed fetches are the point for
# some loops, so they do not stop it. The loop passes a TERM on to its fetch
# in flight (live_cleanup stops the loops with the servers).
loop() {
  local pause=$1 deadline=$2 url=$3 kill_after=${4:-30} child=''
  trap 'kill "$child" 2>/dev/null; exit 0' TERM
  while time_left; do
    timeout "$kill_after" "$CTL" --target="127.0.0.1:$FP_PORT" --timeout="$deadline" fetch "$url" \
      >/dev/null 2>>"$WORK/load.err" &
    child=$!
    wait "$child" || true
    sleep "$pause" &
    child=$!
    wait "$child" || true
  done
}
background() {
  loop "$@" &
  LIVE_PIDS+=($!)
}
background 0.2 10s "http://127.0.0.1:$FAST_PORT/echo"
background 1 10s "http://127.0.0.1:$FAST_PORT/close"
background 0.5 300ms "http://127.0.0.1:$FAST_PORT/sleep?ms=2000"
for _ in 1 2 3 4 5 6; do
  background 0.2 10s "http://127.0.0.1:$SLOW_PORT/sleep?ms=3000"
done
background 0.5 10s "http://127.0.0.1:$RESET_PORT/reset"
background 0.3 10s "http://127.0.0.1:$RESET_PORT/echo"
background 3 10s "http://$QUIET_NAME:$QUIET_PORT/echo"
background 0.2 10s "http://127.0.0.1:$HANG_PORT/echo"
background 0.2 10s "http://127.0.0.1:$HANG_PORT/echo"
background 0.2 10s "http://127.0.0.1:$HANG_PORT/echo" 1

# Every panel target, asked until each has data (or the limit passes).
left=$((LIVE_DEADLINE - SECONDS - 10))
((left > 10)) || fail "no time left for the panel queries"
python3 "$HERE/dashboard_panels_check.py" "$DASHBOARD" "$PROM_PORT" \
  "127.0.0.1:$FP_METRICS_PORT" "$START" "$left" | tee "$WORK/panels.out" >&2 ||
  fail "dashboard panels not proven (above)"
# The DNS panel's rate() cannot see a pool's one lookup a minute (see the
# checker's ZERO_OK); the counter under it must have counted it.
if [[ $QUIET_NAME != localhost ]]; then
  dns=$(http_get 127.0.0.1 "$PROM_PORT" "/api/v1/query?query=fetchpool_dns_lookups_total%7Bhost%3D%22http%3A%2F%2F$QUIET_NAME%3A$QUIET_PORT%22%7D" || true)
  [[ $dns == *'"value":['*',"1"]'* ]] ||
    fail "fetchpool_dns_lookups_total for http://$QUIET_NAME:$QUIET_PORT is not 1: $dns"
  log "fetchpool_dns_lookups_total{host=\"http://$QUIET_NAME:$QUIET_PORT\"} = 1"
fi
kill -0 "$FP_PID" 2>/dev/null || fail "fetchpoold died under the load"

# fetchpoold drains and exits 0 on SIGTERM with the load still running
# (sanitizer builds: nothing reported at exit either).
live_stop_fetchpoold FP
log "PASS: $(tail -n1 "$WORK/panels.out") in $SECONDS s"
