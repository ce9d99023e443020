#!/bin/bash
# The SDK interop matrix (issue 12): every SDK's runner plays the same
# scripted scenario against one live fetchpoold and one set of test origins,
# appending JSON lines to one file; check.py asserts each line is right and
# that all SDKs agree. Protocol and env: tests/client-sdk/interop/README.md.
#
# usage: run.sh [SDK...]       default: cpp go python node java
#        run.sh --selftest     check.py's unit tests only
# An SDK without tests/client-sdk/<sdk>/interop.sh fails the matrix unless
# FETCHPOOL_INTEROP_ALLOW_MISSING=1. Needs root: everything runs inside a
# fresh network namespace (unshare --net --mount) holding only lo, so no
# packet can leave and port 80 is free. Exit 77 (skipped) without root.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ ${1:-} == --selftest ]]; then
  exec python3 "$here/check_test.py"
fi
if [[ ${FETCHPOOL_INTEROP_IN_NETNS:-} != 1 ]]; then
  if [[ $(id -u) != 0 ]] || ! command -v unshare >/dev/null; then
    echo "sdk_interop: needs root and unshare (network namespace); skipped" >&2
    exit 77
  fi
  export FETCHPOOL_INTEROP_IN_NETNS=1
  exec unshare --net --mount bash "$0" "$@"
fi
ip link set lo up

export FETCHPOOL_SOURCE_DIR=${FETCHPOOL_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
export FETCHPOOL_BUILD_DIR=${FETCHPOOL_BUILD_DIR:-$FETCHPOOL_SOURCE_DIR/build}
# shellcheck source=../../lib/live_servers.sh
source "$FETCHPOOL_SOURCE_DIR/tests/lib/live_servers.sh"

SDK_TIMEOUT=${FETCHPOOL_INTEROP_SDK_TIMEOUT:-120}
sdks=("$@")
((${#sdks[@]})) || sdks=(cpp go python node java)

live_init sdk_interop 840
# live_cleanup stops what live_servers started; a fetchpoold that
# restart_fetchpoold.sh started is not its child, so add it first.
interop_cleanup() {
  local rc=$?
  if [[ -s $LIVE_WORK/FP.pid ]]; then LIVE_PIDS+=("$(<"$LIVE_WORK/FP.pid")"); fi
  # live_cleanup reads the exit status from $?; set -e would end the trap
  # right at a failing (exit "$rc") and leave every server running.
  set +e
  (exit "$rc")
  live_cleanup
}
trap interop_cleanup EXIT

# start_origin_on NAME ADDRESS PORT: a test origin on another address than
# live_start_origin's 127.0.0.1; sets NAME_PORT.
start_origin_on() {
  local name=$1 address=$2 port=$3 line
  "$LIVE_ORIGIN" --bind="$address" --port="$port" >"$LIVE_WORK/$name.out" 2>"$LIVE_WORK/$name.err" &
  LIVE_PIDS+=("$!")
  line=$(wait_for_line "$LIVE_WORK/$name.out" '^listening on ' "$!" "origin $name")
  printf -v "${name}_PORT" '%s' "${line##*:}"
}

# wait_for_port PORT: until 127.0.0.1:PORT accepts (10 s at most).
wait_for_port() {
  local i
  for i in $(seq 200); do
    if { exec {probe}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null; then
      exec {probe}>&-
      return 0
    fi
    sleep 0.05
  done
  return 1
}

live_start_origin ORIGIN
live_start_origin SLOW
start_origin_on KEY80 127.0.0.1 80
start_origin_on KEY6 ::1 0
# Reachable, but outside fetchpoold's allow list: only the egress policy
# stands between this URL and a 200.
start_origin_on DENIED 127.0.0.2 0

# One connection to the slow origin, so a second fetch has to wait.
printf 'host { pool_key: "http://127.0.0.1:%s" max_connections_per_host: 1 }\n' \
  "$SLOW_PORT" >"$LIVE_WORK/fetchpoold.textproto"

# The last --allow_cidrs wins over live_servers' 127.0.0.0/8: 127.0.0.2 stays
# denied. wait_timeout: 100 stream fetches on 64 connections must not time out.
common=(--allow_cidrs=127.0.0.1/32,::1/128 --wait_timeout=30s)
live_start_fetchpoold FP "${common[@]}" --config="$LIVE_WORK/fetchpoold.textproto"
live_start_secure_fetchpoolds interop "${common[@]}"

# State for restart_fetchpoold.sh: the same command line _live_run_fetchpoold
# used, on the port FP got. Disowned: its SIGKILL is the point, not news
# ("Killed" on stderr); bash still reaps it.
disown "$FP_PID"
printf '%s\n' "$FP_PID" >"$LIVE_WORK/FP.pid"
printf '%s\0' "$LIVE_FETCHPOOLD" --listen="127.0.0.1:$FP_PORT" --metrics_listen=127.0.0.1:0 --drain_delay=0s \
  --allow_cidrs=127.0.0.0/8,::1/128 "${FP_ARGS[@]}" >"$LIVE_WORK/FP.cmd"
printf '#!/bin/sh\nexec bash %q %q\n' "$here/restart_fetchpoold.sh" "$LIVE_WORK/FP" \
  >"$LIVE_WORK/restart"
chmod +x "$LIVE_WORK/restart"

key_urls=(
  "HTTP://127.0.0.1/Status/200"
  "http://127.0.0.1:80/x"
  "http://127.0.0.1:0080/status/200"
  "http://[0:0:0:0:0:0:0:1]:$KEY6_PORT/"
  "http://[::1]:$KEY6_PORT/a?b#c"
  "http://127.1:$ORIGIN_PORT/status/200"
  "http://2130706433:$ORIGIN_PORT/status/200"
  "http://127.0.0.1:$ORIGIN_PORT"
)
export FETCHPOOL_TARGET=127.0.0.1:$FP_PORT
export FETCHPOOL_ORIGIN=http://127.0.0.1:$ORIGIN_PORT
export FETCHPOOL_SLOW_ORIGIN=http://127.0.0.1:$SLOW_PORT
export FETCHPOOL_DENIED_URL=http://127.0.0.2:$DENIED_PORT/status/200
export FETCHPOOL_KEY_URLS="${key_urls[*]}"
export FETCHPOOL_RESTART=$LIVE_WORK/restart
env | grep '^FETCHPOOL_' | sort >"$LIVE_WORK/env"
[[ ${FETCHPOOL_INTEROP_VERBOSE:-0} == 1 ]] && cat "$LIVE_WORK/env" >&2

results=$LIVE_WORK/results.jsonl
: >"$results"
ran=() failed=()
for sdk in "${sdks[@]}"; do
  runner=$FETCHPOOL_SOURCE_DIR/tests/client-sdk/$sdk/interop.sh
  if [[ ! -f $runner ]]; then
    if [[ ${FETCHPOOL_INTEROP_ALLOW_MISSING:-0} == 1 ]]; then
      log "$sdk: no interop.sh, left out (FETCHPOOL_INTEROP_ALLOW_MISSING=1)"
      continue
    fi
    log "$sdk: no $runner"
    failed+=("$sdk (no interop.sh)")
    ran+=("$sdk")  # so the checker shows its empty column
    continue
  fi
  # A runner before this one may have left fetchpoold restarting.
  wait_for_port "$FP_PORT" || fail "fetchpoold on $FP_PORT did not come back"
  log "$sdk: running $runner (at most ${SDK_TIMEOUT}s)"
  rc=0
  FETCHPOOL_SDK=$sdk FETCHPOOL_OUT=$results timeout -k 5 "$SDK_TIMEOUT" \
    bash "$runner" </dev/null >"$LIVE_WORK/sdk-$sdk.log" 2>&1 || rc=$?
  ran+=("$sdk")
  if ((rc != 0)); then
    why="interop.sh exit $rc"
    ((rc != 124)) || why+=", timed out after ${SDK_TIMEOUT}s"
    failed+=("$sdk ($why)")
    log "$sdk: interop.sh exited $rc; its last lines:"
    tail -n 30 "$LIVE_WORK/sdk-$sdk.log" >&2
  fi
done

# Kept for a look after the run (the work dir is removed).
keep=$FETCHPOOL_BUILD_DIR/sdk/interop
mkdir -p "$keep" && cp "$results" "$LIVE_WORK/env" "$keep/" && cp "$LIVE_WORK"/sdk-*.log "$keep/" 2>/dev/null || true

((${#ran[@]})) || fail "no SDK had an interop.sh"
check_rc=0
python3 "$here/check.py" --sdks "${ran[*]}" --key-urls "${#key_urls[@]}" "$results" || check_rc=$?
((${#failed[@]} == 0)) || fail "runner failures: ${failed[*]}"
((check_rc == 0)) || fail "the matrix has failures (results: $keep/results.jsonl)"
log "PASS: ${ran[*]}"
