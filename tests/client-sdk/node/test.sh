#!/usr/bin/env bash
# The Node SDK's tests: unit tests (vectors, retry rules, an in-process fake
# server) and live ones against a real fetchpoold and test origin on loopback.
# setup.sh has built the SDK.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export FETCHPOOL_SOURCE_DIR=${FETCHPOOL_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
# shellcheck source=../../lib/live_servers.sh
source "$FETCHPOOL_SOURCE_DIR/tests/lib/live_servers.sh"
package=$FETCHPOOL_SOURCE_DIR/client-sdk/node
[[ -f $package/dist/index.js ]] || fail "the Node SDK is not built (run setup.sh)"

live_init sdk_node 170
live_start_origin ORIGIN
# One connection to SLOW, so a second fetch has to wait for it.
live_start_origin SLOW
printf 'host { pool_key: "http://127.0.0.1:%s" max_connections_per_host: 1 }\n' "$SLOW_PORT" \
  >"$LIVE_WORK/fetchpoold.textproto"
live_start_fetchpoold FP --config="$LIVE_WORK/fetchpoold.textproto"

certs=$LIVE_WORK/certs
mkdir -p "$certs"
sh "$FETCHPOOL_SOURCE_DIR/tests/integration/make_test_certs.sh" "$certs" >/dev/null 2>&1
token=node-$(od -An -N16 -tx1 /dev/urandom | tr -d " \n")
printf 'node-test %s\n' "$token" >"$LIVE_WORK/tokens"
live_start_fetchpoold TLS --tls_cert_file="$certs/server.pem" --tls_key_file="$certs/server.key" \
  --tls_client_ca_file="$certs/ca.pem" --auth_tokens_file="$LIVE_WORK/tokens"

export FETCHPOOL_TARGET=127.0.0.1:$FP_PORT
export FETCHPOOL_ORIGIN=http://127.0.0.1:$ORIGIN_PORT
export FETCHPOOL_SLOW_ORIGIN=http://127.0.0.1:$SLOW_PORT
export FETCHPOOL_TLS_TARGET=127.0.0.1:$TLS_PORT
export FETCHPOOL_CA_FILE=$certs/ca.pem
export FETCHPOOL_CLIENT_CERT=$certs/spiffe.pem
export FETCHPOOL_CLIENT_KEY=$certs/spiffe.key
export FETCHPOOL_TOKEN=$token

cd "$package"
node --test --test-concurrency=1 test/*.test.js
