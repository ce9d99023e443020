#!/usr/bin/env bash
# bench/tls/run.sh: HTTPS, measured (issue 14). One command; everything
# listens on 127.0.0.1 only; every process it starts is ended when it exits,
# however it exits.
#
#   bench/tls/run.sh [--quick] [--no-build] [--no-field]
#
#   --quick     1 round, 3 s runs: checks the harness, not the numbers
#   --no-build  use the binaries already in $BENCH_BUILD_DIR (build-tls)
#   --no-field  skip the field scenario (bursts)
#
# The harness makes its own CA and a certificate for 127.0.0.1/localhost
# (openssl, in its temp dir), and an HTTPS origin: nginx, 1 worker, TLS 1.3
# only, keep-alive, 100-byte body, session cache and tickets on, an access
# log of "$connection $ssl_session_reused $ssl_protocol $server_protocol".
# At client concurrency 64, interleaved over BENCH_ROUNDS rounds:
#   B-TLS  wrk (http) -> nginx proxy (1 worker, upstream keepalive 64,
#          proxy_ssl_session_reuse on) -> HTTPS origin
#   E-TLS  unary Fetch (fetch_load) -> fetchpoold --ca_file -> HTTPS origin
#   S-TLS  FetchStream (stream_load, 4 streams x 16) -> fetchpoold -> origin
#   G-TLS  Go net/http, default Transport (RootCAs = the CA, nothing else)
#          -> HTTPS origin directly (bench/tls/go, `tlsbench get`)
# Each run starts a fresh middle (nginx proxy, fetchpoold) or client (Go),
# so its counts are its own. B E S G are measured from cold (the run opens
# the connections); B-TLS-warm, E-TLS-warm, S-TLS-warm after a warm-up on
# the same middle (the steady state).
# Per run: req/s; connections opened (the origin's stub_status accepts) and
# those that carried a request (new $connection values in its access log);
# full vs resumed handshakes (the $ssl_session_reused of each new
# connection's first request); the slowest request; CPU per request of the middle (fetchpoold, the nginx
# proxy's master+worker) or of the Go client, and of the origin, from
# /proc/PID/stat utime+stime deltas. For E and S, fetchpoold's own Stats
# (tls_handshakes_total, tls_sessions_resumed_total) next to the origin's.
# Field scenario: 5 bursts of 256 concurrent GETs, 1 s apart, to a fresh
# HTTPS origin per row: Go's default Transport vs fetchpool defaults
# (bench/field-failures/go, `ffbench burst --ca`).
#
# Environment: BENCH_DURATION (s per run, default 8), BENCH_ROUNDS
# (default 2), BENCH_BUILD_DIR (default build-tls), BENCH_TLS_KEY (the
# certificates' key type for `openssl req -newkey`, default ec with P-256;
# e.g. rsa:2048), BENCH_FETCHPOOLD (measure this fetchpoold binary; it is
# then not built), BENCH_SRC_DIR (build the C++ binaries from this source
# tree instead of this one; the build dir must be made from it).
# Output: the table on stdout and in bench/results/tls.md; raw rows and
# every tool's output in bench/results/tls-raw/.
set -euo pipefail

TLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DIR=$(cd "$TLS_DIR/.." && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=../lib/common.sh
source "$BENCH_DIR/lib/common.sh"
# shellcheck source=../lib/nginx.sh
source "$BENCH_DIR/lib/nginx.sh"
# shellcheck source=../lib/report.sh
source "$BENCH_DIR/lib/report.sh"
# shellcheck source=lib.sh
source "$BENCH_DIR/tls/lib.sh"
# shellcheck source=report.sh
source "$BENCH_DIR/tls/report.sh"

tls_settings
FIELD=1
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
extra_option() { [[ $1 == --no-field ]] && FIELD=0; }
tls_options "$@"

bench_provenance

bench_setup tls ffbench

# ---- certificates, the origin and smoke checks -----------------------------------

start_main_origin
proto=$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_version} %{ssl_verify_result}' "https://localhost:$ORIGIN_PORT/")
curl -fsS --tls-max 1.2 --cacert "$CA" -o /dev/null "$ORIGIN_URL" 2>/dev/null &&
  die "the origin accepted TLS 1.2 (must be TLS 1.3 only)"
# Resumption is possible: a second connection offering the first's session.
sess=$BENCH_TMP/smoke.sess
timeout 5 openssl s_client -connect "127.0.0.1:$ORIGIN_PORT" -CAfile "$CA" -sess_out "$sess" \
  -ign_eof >/dev/null 2>&1 <<<$'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' || true
reused=$(timeout 5 openssl s_client -connect "127.0.0.1:$ORIGIN_PORT" -CAfile "$CA" -sess_in "$sess" \
  -ign_eof 2>/dev/null <<<$'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' | grep -c '^Reused' || true)
((reused > 0)) || note "smoke check: openssl s_client could not resume a session with the origin"
log "origin nginx https://127.0.0.1:$ORIGIN_PORT (pids $ORIGIN_PIDS): HTTP version, verify result: $proto; TLS 1.2 refused; session resumed by openssl s_client: $( ((reused > 0)) && echo yes || echo NO)"
log_slice - >/dev/null

# ---- middles ---------------------------------------------------------------------

# Smoke checks through each middle (their connections are absorbed below,
# before any measured run).
start_proxy
[[ $(curl -fsS "$PROXY_URL") == "$body" ]] || die "the nginx proxy's answer differs from the origin's (see $BENCH_TMP/proxy-error.log)"
stop_proxy
start_fetchpoold --max_connections_per_host="$CONCURRENCY"
smoke=$("$FETCH_LOAD" --target="$FP_TARGET" --url="$ORIGIN_URL" --requests=1 --concurrency=1 --json 2>&1) ||
  die "a Fetch of $ORIGIN_URL through fetchpoold failed: $smoke (log: $(tail -n 3 "$BENCH_TMP/fetchpoold.log"))"
[[ $(json_int ok <<<"$smoke") -eq 1 ]] || die "Fetch through fetchpoold: $smoke"
"$TLSBENCH" stats --target="$FP_TARGET" --host="$POOL_KEY" >"$RAW/smoke-stats.json" ||
  die "Stats has no pool $POOL_KEY"
stop_fetchpoold
smoke=$("$TLSBENCH" get --url="$ORIGIN_URL" --ca="$CA" --concurrency=1 --duration=0.2s) ||
  die "tlsbench get failed: $smoke"
log "smoke checks passed (curl, openssl s_client, nginx proxy, Fetch through fetchpoold --ca_file, Go)"
log_slice - >/dev/null

# ---- measuring -----------------------------------------------------------------

ROUND=0
TOOL_TIMEOUT=$((DURATION * 3 + 30))

WARMUP_S=$((DURATION >= 8 ? 2 : 1))

# scenario_e KEY WARM: WARM=1 sends 64 x 10 Fetch calls first (not measured).
E_RPS=""
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  log "round $ROUND/$ROUNDS: B-TLS E-TLS S-TLS G-TLS, cold then warm (B E S), ${DURATION} s each"
  scenario_b B-TLS 0
  scenario_e E-TLS 0
  scenario_s S-TLS 0
  scenario_g
  scenario_b B-TLS-warm 1
  scenario_e E-TLS-warm 1
  scenario_s S-TLS-warm 1
done
stop_nginx "$ORIGIN_MASTER"

# ---- field scenario: bursts ---------------------------------------------------------

FIELD_STATUS="skipped (--no-field)"
if ((FIELD)); then
  ROUND=field
  : >"$RAW/field.jsonl"
  log "field scenario: 5 bursts of 256 concurrent GETs, 1 s apart"
  field_row 1 "Go net/http, default Transport (MaxIdleConnsPerHost 2)" nethttp
  field_row 2 "fetchpool defaults" fetchpool
  FIELD_STATUS=measured
fi

# ---- report --------------------------------------------------------------------------

WALL_TIME=$((SECONDS - HARNESS_START))
write_tls_report "$WALL_TIME" | tee "$RESULTS/tls.md"
log "done in ${WALL_TIME} s; table in bench/results/tls.md, raw output in bench/results/tls-raw/"
