#!/usr/bin/env bash
# bench/h2/run.sh: HTTP/2 to an nginx origin, measured (issue 14). One
# command; everything listens on 127.0.0.1 only; every process it starts is
# ended when it exits, however it exits. bench/h2/README.md explains each count.
#
#   bench/h2/run.sh [--quick] [--no-build] [--no-high]
#
#   --quick     1 round, 3 s runs: checks the harness, not the numbers
#   --no-build  use the binaries already in $BENCH_BUILD_DIR (build-tls)
#   --no-high   skip the rows at client concurrency 256
#
# The HTTPS origin of bench/tls (its own CA and certificate, nginx, 1 worker,
# TLS 1.3 only, session cache and tickets, stub_status, an access log of
# "$connection $ssl_session_reused $ssl_protocol $server_protocol") with
# `http2` on its listener: ALPN offers h2, then http/1.1. Every row runs
# against it, interleaved, over BENCH_ROUNDS rounds; at client concurrency 64:
#   B-TLS-warm  wrk -> nginx proxy (HTTP/1.1 upstream) -> origin, reference
#   E-H2, E-H1  unary Fetch (fetch_load) -> fetchpoold --http_version=auto
#               (h2 negotiated) or =http1.1 (forced) -> origin
#   S-H2, S-H1  FetchStream (stream_load, 4 streams x 16) the same way
#   G-H2        Go net/http: default Transport cloned, RootCAs = the CA,
#               ForceAttemptHTTP2 (its bundled HTTP/2 transport) -> origin
#   G-H1        the same with Transport.Protocols = HTTP/1 only
#   G-X2        golang.org/x/net/http2.Transport (same TLS config) -> origin
#   E-H2-warm, E-H1-warm, S-H2-warm, S-H1-warm: after 640 Fetch calls on
#               the same fetchpoold (the steady state)
# and at 256 (unless --no-high): E-H2-c256, E-H1-c256, S-H2-c256, G-H2-c256,
# G-X2-c256.
# Per row: req/s; connections opened (the origin's stub_status accepts) and
# those that carried a request (its access log); the protocol of the run's
# requests in the origin's log; CPU per request of the middle (fetchpoold,
# the proxy) or of the Go client, and of the origin (/proc/PID/stat); the
# slowest request; fetchpoold's Stats (protocol, connections_opened_total,
# streams_in_use and busy connections sampled every 200 ms, streams per
# connection); Go's count of its responses' protocols and TLS handshakes.
#
# Environment: BENCH_DURATION (s per run, default 8), BENCH_ROUNDS
# (default 2), BENCH_BUILD_DIR (default build-tls, shared with bench/tls),
# BENCH_TLS_KEY (as bench/tls), BENCH_FETCHPOOLD (measure this fetchpoold
# binary; it is then not built), BENCH_SRC_DIR (build the C++ binaries from
# this source tree), BENCH_H2_HIGH (the high concurrency, default 256).
# Output: the table on stdout and in bench/results/h2.md; raw rows and every
# tool's output in bench/results/h2-raw/.
set -euo pipefail

H2_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DIR=$(cd "$H2_DIR/.." && pwd)
TLS_DIR=$BENCH_DIR/tls
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=lib.sh
source "$H2_DIR/lib.sh" # and, through it, bench/lib's and bench/tls's functions

tls_settings
HIGH=${BENCH_H2_HIGH:-256}
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
extra_option() { [[ $1 == --no-high ]] && HIGH=0; }
tls_options "$@"
[[ $HIGH =~ ^[0-9]+$ && $((HIGH % 4)) -eq 0 ]] || die "BENCH_H2_HIGH must be a multiple of 4 (4 FetchStreams)"

bench_provenance
bench_setup h2

# ---- certificates, the origin (http2 on) and smoke checks -------------------------

ORIGIN_HTTP2=http2 start_main_origin
for want in 2 1.1; do
  got=$(curl -fsS --cacert "$CA" "--http$want" -o /dev/null -w '%{http_version}' "$ORIGIN_URL") ||
    die "curl --http$want to the origin failed"
  [[ $got == "$want" ]] || die "curl --http$want got HTTP/$got from the origin"
done
log "origin nginx $ORIGIN_URL (pids $ORIGIN_PIDS): curl negotiates HTTP/2 (ALPN h2) and HTTP/1.1 when asked"

# fetchpoold: what each http_version negotiates, in its Stats.
for version in auto:h2 http1.1:http/1.1; do
  start_fetchpoold --max_connections_per_host="$CONCURRENCY" --http_version="${version%%:*}"
  smoke=$("$FETCH_LOAD" --target="$FP_TARGET" --url="$ORIGIN_URL" --requests=1 --concurrency=1 --json 2>&1) ||
    die "a Fetch of $ORIGIN_URL through fetchpoold failed: $smoke (log: $(tail -n 3 "$BENCH_TMP/fetchpoold.log"))"
  [[ $(json_int ok <<<"$smoke") -eq 1 ]] || die "Fetch through fetchpoold: $smoke"
  got=$(fp_stats_json | jq -r .protocol)
  [[ $got == "${version#*:}" ]] || die "fetchpoold --http_version=${version%%:*}: Stats protocol is '$got', not ${version#*:}"
  stop_fetchpoold
done
for want in h2:HTTP/2.0 h1:HTTP/1.1 x2:HTTP/2.0; do
  smoke=$("$TLSBENCH" get --url="$ORIGIN_URL" --ca="$CA" --concurrency=1 --duration=0.2s --proto="${want%%:*}") ||
    die "tlsbench get --proto=${want%%:*} failed: $smoke"
  [[ $(jq -r '.protos | keys | join(",")' <<<"$smoke") == "${want#*:}" ]] ||
    die "tlsbench get --proto=${want%%:*}: responses $(jq -c .protos <<<"$smoke"), not ${want#*:}"
done
start_proxy
[[ $(curl -fsS "$PROXY_URL") == "$body" ]] || die "the nginx proxy's answer differs from the origin's"
stop_proxy
log "smoke checks passed (curl h2 and http/1.1; fetchpoold auto -> h2, http1.1 -> http/1.1; Go h2, h1, x2; nginx proxy)"
log_slice - >/dev/null

# ---- measuring -----------------------------------------------------------------

TOOL_TIMEOUT=$((DURATION * 3 + 30))
WARMUP_S=$((DURATION >= 8 ? 2 : 1))
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  log "round $ROUND/$ROUNDS: ${H2_KEYS_64[*]} at 64$( ((HIGH > 0)) && echo ", then E-H2 E-H1 S-H2 G-H2 G-X2 at $HIGH"), ${DURATION} s each"
  h2_round
done
stop_nginx "$ORIGIN_MASTER"

# Every H2 (and X2) row must have been HTTP/2 at the origin, every H1 row
# (and B) HTTP/1.1.
while IFS=$'\t' read -r round key protos; do
  want=$(want_protocol "$key")
  [[ $protos == "TLSv1.3/$want:"+([0-9]) ]] ||
    note "round $round ${key%.protocols}: the origin logged $protos (expected TLSv1.3/$want only)"
done < <(awk -F'\t' '$2 ~ /\.protocols$/' "$RUNS_TSV")

WALL_TIME=$((SECONDS - HARNESS_START))
write_h2_report "$WALL_TIME" | tee "$RESULTS/h2.md"
log "done in ${WALL_TIME} s; table in bench/results/h2.md, raw output in bench/results/h2-raw/"
