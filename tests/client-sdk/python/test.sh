#!/usr/bin/env bash
# Python SDK tests: unit tests (pool-key and ring vectors, retry rules, a
# scripted in-process server) and live ones against a real fetchpoold:
# plaintext, TLS with a bearer token, mTLS; restarts and two replicas on
# 127.0.0.2/127.0.0.3 are started by the tests themselves.
set -euo pipefail
source_dir=${FETCHPOOL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
export FETCHPOOL_SOURCE_DIR=$source_dir
source "$source_dir/tests/lib/live_servers.sh"
sdk_build=$LIVE_BUILD_DIR/sdk/python
[[ -x $sdk_build/venv/bin/pytest ]] || { echo "run tests/client-sdk/python/setup.sh first" >&2; exit 1; }

live_init sdk_python 170
live_start_origin ORIGIN
live_start_fetchpoold FP
live_start_secure_fetchpoolds python-sdk

export FETCHPOOL_TARGET=127.0.0.1:$FP_PORT
export FETCHPOOL_ORIGIN=http://127.0.0.1:$ORIGIN_PORT
export FETCHPOOL_FETCHPOOLD=$LIVE_FETCHPOOLD FETCHPOOL_ORIGIN_SERVER=$LIVE_ORIGIN

# From the build dir, so the installed package is the one imported.
cd "$sdk_build"
"$sdk_build/venv/bin/pytest" -q -p no:cacheprovider "$source_dir/client-sdk/python/tests"
