#!/usr/bin/env bash
# The interop scenario (tests/client-sdk/interop/) through the C++ SDK: runs
# the already-built runner; no network, no building.
set -euo pipefail
: "${FETCHPOOL_BUILD_DIR:?}"
exec "$FETCHPOOL_BUILD_DIR/tests/client-sdk/cpp/sdk_interop_cpp"
