#!/bin/bash
# FETCHPOOL_RESTART of the interop matrix: SIGKILLs the plaintext fetchpoold
# (a crash: calls in flight break) and starts it again on the same port after
# DELAY seconds, in the background. Returns as soon as the old one is dead.
#
# usage: restart_fetchpoold.sh STATE_PREFIX [DELAY]
# run.sh writes STATE_PREFIX.pid (the running fetchpoold) and STATE_PREFIX.cmd
# (its command line, NUL-separated, fixed port); this script replaces .pid, so
# run.sh's cleanup stops whichever fetchpoold is current. The SDK runners call
# it as a separate process, so it cannot use live_restart_fetchpoold, which
# needs the shell that started fetchpoold.
set -euo pipefail
state=$1
delay=${2:-0.2}
pid=$(<"$state.pid")
kill -KILL "$pid" 2>/dev/null || true

# Dead means gone or a zombie: a zombie has closed its sockets already, and
# its parent (run.sh, busy running the SDK) may reap it much later.
dead() {
  local stat
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 0
  stat=${stat##*) }  # the fields after "(comm)"
  [[ ${stat%% *} == Z ]]
}
for _ in $(seq 500); do
  dead && break
  sleep 0.01
done
dead || { echo "restart_fetchpoold: pid $pid would not die" >&2; exit 1; }

mapfile -d '' cmd <"$state.cmd"
# Every descriptor redirected: a runner that captures this script's output
# must see EOF when the script exits, not when the new fetchpoold does.
(
  sleep "$delay"
  exec "${cmd[@]}"
) </dev/null >>"$state.out" 2>>"$state.err" &
echo $! >"$state.pid"
