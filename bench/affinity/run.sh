#!/usr/bin/env bash
# Affinity, measured (issue 12): three fetchpoold replicas on 127.0.0.2, .3
# and .4 (port 50051) behind one name, fetchpool-replicas, in a hosts file of
# this test's own; 50 origins (one nginx, 50 listen ports on 127.0.0.1);
# ROUNDS rounds of PER_ORIGIN concurrent GETs to every origin at once. Each
# replica has --max_connections_per_host=8 (one pool's worth) and the load
# fills it. Two modes, each on freshly started replicas:
#   round_robin     one channel to dns:///fetchpool-replicas:50051
#   affinity: host  ReplicaChannels (client-sdk/cpp), fetchpool-pool-key metadata
# connections_opened_total is summed per origin over the replicas. Then, in
# the affinity run, replica 127.0.0.3 is killed and dropped from the hosts
# file, one more round runs through the same client, and the origins that
# changed replica are counted (from requests_total deltas).
# Fails if an origin's connections exceed 1.2 pools with affinity, if a fetch
# fails, or if an origin moved that was not on the removed replica.
#
#   bench/affinity/run.sh FETCHPOOLD AFFINITY_LOAD
#   (defaults: build/server/fetchpoold build/bench/affinity_load)
# Environment: ROUNDS=20 PER_ORIGIN=50 ORIGINS=50
#   RESULTS=affinity_results.md (the markdown table; in the current directory)
# Runs itself inside `unshare --net --mount` (root): a network namespace
# holding only loopback, and a mount namespace for the hosts file.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FETCHPOOLD=${1:-$ROOT/build/server/fetchpoold}
CLIENT=${2:-$ROOT/build/bench/affinity_load}
ROUNDS=${ROUNDS:-20}
PER_ORIGIN=${PER_ORIGIN:-50}
ORIGINS=${ORIGINS:-50}
RESULTS=$(realpath -m "${RESULTS:-affinity_results.md}")
export ROUNDS PER_ORIGIN ORIGINS RESULTS

if [[ -z ${AFFINITY_IN_NAMESPACE:-} ]]; then
  [[ $(id -u) == 0 ]] || { echo "[affinity] needs root (unshare --net --mount)" >&2; exit 77; }
  command -v nginx >/dev/null || { echo "[affinity] needs nginx (dev.sh installs nginx-light)" >&2; exit 1; }
  AFFINITY_IN_NAMESPACE=1 exec unshare --net --mount bash "$0" "$FETCHPOOLD" "$CLIENT"
fi

# Work dir, log/fail, and stopping every process at exit (with the tails of
# their *.out/*.err on failure): the shared test harness.
source "$ROOT/tests/lib/live_servers.sh"
live_init affinity 280
WORK=$LIVE_WORK
REPLICA_IPS=(127.0.0.2 127.0.0.3 127.0.0.4)
REMOVED_IP=127.0.0.3

# --- the namespace: loopback up, our own /etc/hosts --------------------------
ip link set lo up
HOSTS=$WORK/hosts
write_hosts() {  # the replicas' IPs; written in place, so the bind mount sees it
  {
    echo "127.0.0.1 localhost"
    local ip
    for ip in "$@"; do echo "$ip fetchpool-replicas"; done
  } >"$HOSTS"
}
write_hosts "${REPLICA_IPS[@]}"
mount --bind "$HOSTS" /etc/hosts
# (getent ahosts would ask with AI_ADDRCONFIG, which finds nothing here: the
# namespace has no address but loopback.)
resolved=$("$CLIENT" --mode=resolve --target=fetchpool-replicas:50051)
[[ $resolved == "127.0.0.2:50051 127.0.0.3:50051 127.0.0.4:50051" ]] ||
  fail "getaddrinfo gives '$resolved' for fetchpool-replicas (is 'multi on' in /etc/host.conf?)"
log "fetchpool-replicas resolves to $resolved"

# --- 50 origins: one nginx worker, one listen port each ----------------------
ports=()
listens=''
for ((i = 0; i < ORIGINS; i++)); do
  ports+=($((20001 + i)))
  listens+="    listen 127.0.0.1:$((20001 + i)) backlog=4096;"$'\n'
done
mkdir -p "$WORK/nginx-temp"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $WORK/nginx-temp/body;
  proxy_temp_path $WORK/nginx-temp/proxy;
  fastcgi_temp_path $WORK/nginx-temp/fastcgi;
  uwsgi_temp_path $WORK/nginx-temp/uwsgi;
  scgi_temp_path $WORK/nginx-temp/scgi;
  server {
$listens    location / { default_type text/plain; return 200 "ok"; }
  }
}
CONF
nginx -c "$WORK/nginx.conf" -e "$WORK/nginx.err" >"$WORK/nginx.out" 2>&1 &
NGINX_PID=$!
LIVE_PIDS+=("$NGINX_PID")
for ((i = 0; i < 50; i++)); do
  curl -s -o /dev/null "http://127.0.0.1:${ports[-1]}/" && break
  kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited"
  sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:${ports[-1]}/" || fail "nginx does not answer"

# --- replicas ----------------------------------------------------------------
declare -A REPLICA_PID
start_replicas() {
  local ip
  for ip in "${REPLICA_IPS[@]}"; do
    "$FETCHPOOLD" --listen="$ip:50051" --metrics_listen="$ip:9464" --drain_delay=0s --allow_cidrs=127.0.0.0/8 \
      --max_connections_per_host=8 --idle_timeout=300s --event_loops=1 \
      >"$WORK/fetchpoold-$ip.out" 2>"$WORK/fetchpoold-$ip.err" &
    REPLICA_PID[$ip]=$!
    LIVE_PIDS+=($!)
  done
  for ip in "${REPLICA_IPS[@]}"; do
    wait_for_line "$WORK/fetchpoold-$ip.err" '"event":"start"' "${REPLICA_PID[$ip]}" \
      "fetchpoold on $ip" >/dev/null
  done
}
stop_replicas() {
  local ip
  for ip in "${REPLICA_IPS[@]}"; do kill -TERM "${REPLICA_PID[$ip]}" 2>/dev/null || true; done
  for ip in "${REPLICA_IPS[@]}"; do wait "${REPLICA_PID[$ip]}" 2>/dev/null || true; done
  LIVE_PIDS=("$NGINX_PID")
}

replicas_csv=$(printf '%s:50051,' "${REPLICA_IPS[@]}")
common=(--target=fetchpool-replicas:50051 --replicas="${replicas_csv%,}"
  --origin_ports="$(IFS=,; echo "${ports[*]}")" --rounds="$ROUNDS" --per_origin="$PER_ORIGIN"
  --pool_size=8 --results="$WORK/rows.md")
# gRPC's c-ares resolver may read only the first /etc/hosts line of a name;
# the native one is getaddrinfo, like ReplicaChannels.
export GRPC_DNS_RESOLVER=native
started=$SECONDS
rc=0

log "round_robin: $ROUNDS rounds x $PER_ORIGIN fetches x $ORIGINS origins"
start_replicas
"$CLIENT" --mode=round_robin "${common[@]}" 2>"$WORK/client-rr.err" || rc=1
stop_replicas

log "affinity: host: the same, then $REMOVED_IP removed and one more round"
start_replicas
cat >"$WORK/remove.sh" <<SH
kill -KILL ${REPLICA_PID[$REMOVED_IP]}
$(declare -f write_hosts)
HOSTS=$HOSTS
write_hosts ${REPLICA_IPS[0]} ${REPLICA_IPS[2]}
SH
disown "${REPLICA_PID[$REMOVED_IP]}"  # its SIGKILL is the test, not news
"$CLIENT" --mode=host "${common[@]}" --remove_cmd="bash $WORK/remove.sh" \
  --removed="$REMOVED_IP:50051" 2>"$WORK/client-host.err" || rc=1
cat "$WORK/client-rr.err" "$WORK/client-host.err" >&2

{
  echo "3 replicas, $ORIGINS origins, $ROUNDS rounds x $PER_ORIGIN concurrent fetches per origin;"
  echo "--max_connections_per_host=8 (one pool's worth). Connections: connections_opened_total"
  echo "per origin, summed over the replicas."
  echo
  echo "| mode | origins | fetches OK | failed | time | replicas per origin (max) | connections per origin: median | max | max / pool | criterion |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  grep -v '^| remove' "$WORK/rows.md" || true
  echo
  echo "| replica removed | origins | on it before | moved | moved from it | fetches resent |"
  echo "|---|---|---|---|---|---|"
  grep '^| remove' "$WORK/rows.md" || true
} >"$RESULTS"
cat "$RESULTS"
log "results in $RESULTS ($((SECONDS - started)) s)"
((rc == 0)) || fail "see the client's messages above"
