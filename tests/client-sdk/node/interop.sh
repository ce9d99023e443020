#!/usr/bin/env bash
# The interop scenario through the Node SDK (built by setup.sh); no network,
# no building. Environment: see tests/client-sdk/interop/ (FETCHPOOL_TARGET,
# FETCHPOOL_OUT, ...).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ -f $here/../../../client-sdk/node/dist/index.js ]] || { echo "Node SDK not built: run setup.sh" >&2; exit 1; }
FETCHPOOL_SDK=${FETCHPOOL_SDK:-node} exec node "$here/interop_runner.mjs"
