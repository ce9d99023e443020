#!/usr/bin/env bash
# The interop scenario (tests/client-sdk/interop/) through the Go SDK: runs
# the runner setup.sh built (client-sdk/go/cmd/fetchpool-interop). No
# network, no building: the harness runs it in a namespace holding only lo.
set -euo pipefail
SOURCE=${FETCHPOOL_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
BUILD=${FETCHPOOL_BUILD_DIR:-$SOURCE/build}
RUNNER=$BUILD/sdk/go/interop
[[ -x $RUNNER ]] || { echo "interop.sh: no $RUNNER (run tests/client-sdk/go/setup.sh)" >&2; exit 1; }
export FETCHPOOL_SDK=${FETCHPOOL_SDK:-go}
exec "$RUNNER"
