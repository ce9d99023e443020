#!/usr/bin/env bash
# Go SDK tests: the generated code matches the protos, then `go test` (unit
# tests, and live tests against a real fetchpoold and test origin started
# here on loopback). Needs setup.sh first (module cache, protoc plugins).
set -euo pipefail

SOURCE=${FETCHPOOL_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
export FETCHPOOL_SOURCE_DIR=$SOURCE
BUILD=${FETCHPOOL_BUILD_DIR:-$SOURCE/build}
SDK=$SOURCE/client-sdk/go
export GOTOOLCHAIN=local GOFLAGS=-mod=mod GOMAXPROCS=${GOMAXPROCS:-2}
# shellcheck source=../../lib/live_servers.sh
source "$SOURCE/tests/lib/live_servers.sh"
live_init sdk_go 170

log "checking client-sdk/go/fetchpoolv1 against a fresh generation"
"$SDK/generate.sh" "$LIVE_WORK/generated"
diff -ru "$SDK/fetchpoolv1" "$LIVE_WORK/generated" ||
  fail "client-sdk/go/fetchpoolv1 is stale: run client-sdk/go/generate.sh and commit"

live_start_origin ORIGIN
live_start_fetchpoold FP
export FETCHPOOL_TARGET=127.0.0.1:$FP_PORT
export FETCHPOOL_ORIGIN=http://127.0.0.1:$ORIGIN_PORT

# TLS with a bearer token, and mTLS, for the credentials options (tls_test.go).
live_start_secure_fetchpoolds go-sdk
# The affinity test starts its own two replicas (127.0.0.2, 127.0.0.3).
export FETCHPOOL_FETCHPOOLD=$LIVE_FETCHPOOLD

cd "$SDK"
log "go vet and go test against fetchpoold at $FETCHPOOL_TARGET"
go vet ./...
# FETCHPOOL_GO_TEST_FLAGS: extra flags, e.g. -race.
# shellcheck disable=SC2086
go test -p 1 -count=1 -timeout 150s -v ${FETCHPOOL_GO_TEST_FLAGS:-} ./... 2>&1 | tee "$LIVE_WORK/go-test.log" |
  grep -E '^(=== RUN|--- |ok|FAIL|PASS|panic)|_test.go' || true
grep -q '^FAIL' "$LIVE_WORK/go-test.log" && fail "go test failed (see above)"
grep -q '^ok' "$LIVE_WORK/go-test.log" || fail "go test did not run"
grep -E -- '--- SKIP' "$LIVE_WORK/go-test.log" && fail "a live test skipped although the servers run"
log "PASS"
