#!/usr/bin/env bash
# The installed C++ SDK, used from outside the tree (consumer/, built by
# setup.sh), against a live fetchpoold: one GET must come back 200 with the
# pool key the SDK computes. The SDK's own unit tests are the ctest target
# client_sdk_rules_test.
set -euo pipefail
: "${FETCHPOOL_SOURCE_DIR:?}" "${FETCHPOOL_BUILD_DIR:?}"
source "$FETCHPOOL_SOURCE_DIR/tests/lib/live_servers.sh"
live_init sdk_cpp 120
app=$FETCHPOOL_BUILD_DIR/sdk/cpp/consumer/app
[[ -x $app ]] || fail "$app missing: run tests/client-sdk/cpp/setup.sh first"
live_start_origin ORIGIN
live_start_fetchpoold FP

out=$("$app" "127.0.0.1:$FP_PORT" "http://127.0.0.1:$ORIGIN_PORT/status/200") || fail "consumer: $out"
log "consumer: $out"
[[ $out == "status 200 pool http://127.0.0.1:$ORIGIN_PORT key http://127.0.0.1:$ORIGIN_PORT" ]] ||
  fail "unexpected consumer output: $out"

out=$("$app" "127.0.0.1:$FP_PORT" "http://127.0.0.1:$ORIGIN_PORT/status/404") || fail "consumer: $out"
[[ $out == "status 404 "* ]] || fail "a 404 is a response, got: $out"

if out=$("$app" "127.0.0.1:1" "http://127.0.0.1:$ORIGIN_PORT/status/200"); then
  fail "no server answered yet the consumer succeeded: $out"
fi
[[ $out == "error UNAVAILABLE"* ]] || fail "expected UNAVAILABLE, got: $out"
log "PASS"
