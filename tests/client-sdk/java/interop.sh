#!/bin/bash
# Runs the Java SDK's interop runner (tests/client-sdk/interop/README.md) with
# what setup.sh built: no network, no building. The FETCHPOOL_* environment
# comes from tests/client-sdk/interop/run.sh.
set -euo pipefail
src=${FETCHPOOL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
build=${FETCHPOOL_BUILD_DIR:-$src/build}
classpath_file=$build/sdk/java/classpath.txt
target=$src/client-sdk/java/target
[[ -s $classpath_file && -d $target/test-classes ]] ||
  { echo "sdk_java interop: run tests/client-sdk/java/setup.sh first" >&2; exit 1; }
export FETCHPOOL_SDK=${FETCHPOOL_SDK:-java}
exec java -cp "$target/classes:$target/test-classes:$(<"$classpath_file")" \
  dev.fetchpool.interop.InteropRunner
