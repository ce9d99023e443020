#!/usr/bin/env bash
# The interop scenario through the Python SDK (tests/client-sdk/interop/):
# the venv that setup.sh built; no network, no building.
set -euo pipefail
source_dir=${FETCHPOOL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
build_dir=${FETCHPOOL_BUILD_DIR:-$source_dir/build}
python=$build_dir/sdk/python/venv/bin/python
[[ -x $python ]] || { echo "no $python: run tests/client-sdk/python/setup.sh first" >&2; exit 1; }
export FETCHPOOL_SDK=${FETCHPOOL_SDK:-python}
cd "$build_dir/sdk/python"  # not the source tree: import the installed package
exec "$python" "$source_dir/tests/client-sdk/python/interop_runner.py"
