#!/usr/bin/env bash
# ctest reload (issue 13, "Live reload"): the real fetchpoold reloads its
# config file with 200 fetches in flight each time (reload_client.cc checks
# the cap in Stats and that every fetch succeeds):
#   FP, SIGHUP:   cap 20 -> 60 applied; a file that does not parse, refused
#                 (the cap stays 60); a change of a restart-only setting
#                 (max_watch_streams) with a new cap, refused whole (60)
#   FP2, --watch_config, no signal: cap 60 -> 10 with 60 busy (100 in
#                 flight): applied, no busy connection killed, every fetch
#                 succeeds
# Then each refusal's log line names the setting, and
# fetchpool_config_reloads_total counts ok and rejected.
set -euo pipefail
source "${FETCHPOOL_SOURCE_DIR:?}/tests/lib/live_servers.sh"
live_init reload 150
client=${RELOAD_CLIENT:-$LIVE_BUILD_DIR/tests/server/reload_client}
[[ -x $client ]] || fail "no reload_client at $client"

live_start_origin ORIGIN
cfg=$LIVE_WORK/fetchpoold.textproto
cfg2=$LIVE_WORK/watched/fetchpoold.textproto
mkdir -p "$LIVE_WORK/watched"
printf 'max_connections_per_host: 20\n' >"$cfg"
printf 'max_connections_per_host: 60\n' >"$cfg2"
live_start_fetchpoold FP --config="$cfg"
# A wait timeout the queue behind the shrunk cap cannot reach: the test is
# that every fetch succeeds, not how long the queue waits.
live_start_fetchpoold FP2 --config="$cfg2" --watch_config --wait_timeout=30s

# make_step NAME FILE LOG PID CONTENT: a script that replaces FILE with
# CONTENT (write, then rename: what editors and ConfigMap volumes do),
# sends SIGHUP to PID unless PID is "-", and returns once LOG has one more
# config_reload line (fails after 10 s).
make_step() {
  local name=$1 file=$2 log=$3 pid=$4 content=$5
  cat >"$LIVE_WORK/$name.sh" <<STEP
set -eu
before=\$(grep -c '"event":"config_reload"' "$log" || true)
printf '%s\n' '$content' >"$file.tmp"
mv "$file.tmp" "$file"
[ "$pid" = - ] || kill -HUP "$pid"
for _ in \$(seq 200); do
  [ "\$(grep -c '"event":"config_reload"' "$log" || true)" -gt "\$before" ] && exit 0
  sleep 0.05
done
echo "no config_reload line in $log" >&2
exit 1
STEP
}
make_step raise "$cfg" "$LIVE_WORK/FP.err" "$FP_PID" 'max_connections_per_host: 60'
make_step broken "$cfg" "$LIVE_WORK/FP.err" "$FP_PID" 'max_connections_per_host: "lots"'
make_step restart_only "$cfg" "$LIVE_WORK/FP.err" "$FP_PID" 'max_connections_per_host: 80 max_watch_streams: 7'
make_step shrink "$cfg2" "$LIVE_WORK/FP2.err" - 'max_connections_per_host: 10'

run_client() {
  local port=$1
  shift
  "$client" --target="127.0.0.1:$port" --origin="127.0.0.1:$ORIGIN_PORT" "$@" \
    >>"$LIVE_WORK/client.out" 2>>"$LIVE_WORK/client.err" || {
    cat "$LIVE_WORK/client.err" >&2
    fail "reload_client found problems (above)"
  }
}
run_client "$FP_PORT" --steps="$LIVE_WORK/raise.sh:60,$LIVE_WORK/broken.sh:60,$LIVE_WORK/restart_only.sh:60"
run_client "$FP2_PORT" --steps="$LIVE_WORK/shrink.sh:10" --fetches=100
while read -r line; do log "client: $line"; done <"$LIVE_WORK/client.out"

# The log: one line per reload, naming the bad setting when refused.
mapfile -t reloads < <(grep '"event":"config_reload"' "$LIVE_WORK/FP.err")
[[ ${#reloads[@]} -eq 3 ]] || fail "want 3 config_reload lines from FP, got ${#reloads[@]}"
[[ ${reloads[0]} == *'"result":"ok"'*'"trigger":"SIGHUP"'*'"max_connections_per_host":"60"'* ]] ||
  fail "first reload: ${reloads[0]}"
[[ ${reloads[1]} == *'"result":"rejected"'*'max_connections_per_host'* ]] ||
  fail "the unparsable file's reload does not name the setting: ${reloads[1]}"
[[ ${reloads[2]} == *'"result":"rejected"'*'max_watch_streams changed but is read only at start'* ]] ||
  fail "the restart-only change is not named: ${reloads[2]}"
watched=$(grep '"event":"config_reload"' "$LIVE_WORK/FP2.err" || true)
[[ $(grep -c . <<<"$watched") -eq 1 && $watched == *'"result":"ok"'*'"trigger":"file_change"'* ]] ||
  fail "FP2 (--watch_config) should have reloaded once on the file change: $watched"

# The counter.
metrics=$(http_get 127.0.0.1 "$FP_METRICS_PORT" /metrics) || fail "no /metrics from FP"
grep -qx 'fetchpool_config_reloads_total{result="ok"} 1' <<<"$metrics" ||
  fail "fetchpool_config_reloads_total{result=\"ok\"} is not 1: $(grep reloads_total <<<"$metrics")"
grep -qx 'fetchpool_config_reloads_total{result="rejected"} 2' <<<"$metrics" ||
  fail "fetchpool_config_reloads_total{result=\"rejected\"} is not 2: $(grep reloads_total <<<"$metrics")"
log "ok: 1 applied and 2 refused by SIGHUP (200 fetches in flight each), 1 applied by --watch_config (100 in flight), all fetches OK"
