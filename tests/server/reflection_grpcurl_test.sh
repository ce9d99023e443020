#!/usr/bin/env bash
# ctest reflection_grpcurl: grpcurl lists, describes and calls a live
# fetchpoold through gRPC server reflection alone, with no .proto file: the
# way an operator pokes at a running server. grpcurl is installed by the
# fixture test grpcurl_setup (grpcurl_setup.sh, the only step that needs the
# network); this script talks to loopback only.
# Env: FETCHPOOL_SOURCE_DIR, FETCHPOOL_BUILD_DIR (binaries, sdk/bin/grpcurl).
set -euo pipefail
source "${FETCHPOOL_SOURCE_DIR:?}/tests/lib/live_servers.sh"

GRPCURL=${GRPCURL:-${FETCHPOOL_BUILD_DIR:?}/sdk/bin/grpcurl}
live_init reflection_grpcurl 120
[[ -x $GRPCURL ]] || fail "no grpcurl at $GRPCURL (the grpcurl_setup test installs it)"

live_start_origin ORIGIN
live_start_fetchpoold FP
TARGET=127.0.0.1:$FP_PORT
POOL=http://127.0.0.1:$ORIGIN_PORT
log "fetchpoold on $TARGET, origin $POOL"

# grpc ARGS...: grpcurl over plaintext with a bounded wait; output in $OUT
# (stdout and stderr together, as -v prints trailers on stdout and errors on
# stderr), exit status in $RC.
grpc() {
  RC=0
  OUT=$(timeout 30 "$GRPCURL" -plaintext -max-time 20 "$@" 2>&1) || RC=$?
}
# expect WHAT REGEX: the last grpc output must match REGEX.
expect() {
  grep -qE -e "$2" <<<"$OUT" || fail "$1: no match for /$2/ in:
$OUT"
}

# --- list and describe ------------------------------------------------------------
grpc "$TARGET" list
((RC == 0)) || fail "list exited $RC: $OUT"
expect "list" '^fetchpool\.v1\.FetchPool$'
# Listed, but not callable by reflection alone: gRPC C++'s built-in health
# service registers no descriptor for grpc/health/v1/health.proto. Probes
# call it with the standard proto compiled in (grpc_health_probe, Envoy).
expect "list" '^grpc\.health\.v1\.Health$'

grpc "$TARGET" describe fetchpool.v1.FetchPool
((RC == 0)) || fail "describe exited $RC: $OUT"
expect "describe" 'rpc Fetch \( \.fetchpool\.v1\.FetchRequest \) returns \( \.fetchpool\.v1\.FetchResponse \)'
expect "describe" 'rpc FetchStream \( stream \.fetchpool\.v1\.FetchRequest \)'
expect "describe" 'rpc WatchStats'

# A message type, resolved through reflection too.
grpc "$TARGET" describe fetchpool.v1.FetchRequest
((RC == 0)) || fail "describe FetchRequest exited $RC: $OUT"
expect "describe FetchRequest" 'string url = 2;'

# --- calls ------------------------------------------------------------------------
grpc -d "{\"url\": \"$POOL/status/200\"}" "$TARGET" fetchpool.v1.FetchPool/Fetch
((RC == 0)) || fail "Fetch exited $RC: $OUT"
expect "Fetch" '"status": 200'
expect "Fetch" "\"pool\": \"$POOL\""

grpc -d "{\"url\": \"$POOL/echo\", \"method\": \"POST\", \"body\": \"$(printf 'grpcurl' | base64)\"}" \
  "$TARGET" fetchpool.v1.FetchPool/Fetch
((RC == 0)) || fail "Fetch POST exited $RC: $OUT"
expect "Fetch POST" "\"body\": \"$(printf 'grpcurl' | base64)\""

grpc -d "{\"host\": \"$POOL\"}" "$TARGET" fetchpool.v1.FetchPool/Stats
((RC == 0)) || fail "Stats exited $RC: $OUT"
expect "Stats" "\"host\": \"$POOL\""
expect "Stats" '"requests_total": "2"'  # grpcurl prints proto field names

# An error: the reason travels in the trailer fetchpool-reason, which -v shows.
grpc -v -d '{"url": "ftp://127.0.0.1/file"}' "$TARGET" fetchpool.v1.FetchPool/Fetch
((RC != 0)) || fail "Fetch of an ftp:// URL succeeded: $OUT"
expect "Fetch ftp://" 'Code: InvalidArgument'
expect "Fetch ftp://" '^fetchpool-reason: UNSUPPORTED_SCHEME'

log "ok: list, describe, Fetch (GET, POST), Stats and an error trailer through reflection"
