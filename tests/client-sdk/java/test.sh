#!/bin/bash
# The Java SDK's own tests: unit tests (vectors, retry rules against a scripted
# server) and live ones against real fetchpoold processes on loopback: one
# plaintext fetchpoold, and two replicas on 127.0.0.2 and 127.0.0.3 (same
# port) for host affinity. Offline: setup.sh downloaded everything.
set -euo pipefail
export FETCHPOOL_SOURCE_DIR=${FETCHPOOL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
# shellcheck source=../../lib/live_servers.sh
source "$FETCHPOOL_SOURCE_DIR/tests/lib/live_servers.sh"
live_init sdk_java 170

# start_replica NAME ADDRESS: a fetchpoold on ADDRESS (ip:port, port 0 picks
# one); sets NAME_PORT.
start_replica() {
  local name=$1 listen=$2 line port
  : >"$LIVE_WORK/$name.err"
  _live_run_fetchpoold "$name" "$listen"
  local pid_var="${name}_PID"
  line=$(wait_for_line "$LIVE_WORK/$name.err" '"event":"start"' "${!pid_var}" "fetchpoold $name")
  port=$(sed -E 's/.*"port":"([0-9]+)".*/\1/' <<<"$line")
  [[ $port =~ ^[0-9]+$ ]] || fail "no gRPC port in: $line"
  printf -v "${name}_PORT" '%s' "$port"
}

live_start_origin ORIGIN
origins=()
for i in 1 2 3 4 5 6; do
  live_start_origin "AFF$i"
  port_var="AFF${i}_PORT"
  origins+=("http://127.0.0.1:${!port_var}")
done
live_start_fetchpoold FP
# TLS with a bearer token, and mTLS, for the credentials options (TlsLiveTest).
live_start_secure_fetchpoolds java-sdk
start_replica REPLICA_A 127.0.0.2:0
start_replica REPLICA_B "127.0.0.3:$REPLICA_A_PORT"

export FETCHPOOL_TARGET=127.0.0.1:$FP_PORT
export FETCHPOOL_ORIGIN=http://127.0.0.1:$ORIGIN_PORT
export FETCHPOOL_REPLICA_PORT=$REPLICA_A_PORT
export FETCHPOOL_AFFINITY_ORIGINS="${origins[*]}"
cd "$FETCHPOOL_SOURCE_DIR/client-sdk/java"
mvn -B -o -T1 -Dstyle.color=never test
