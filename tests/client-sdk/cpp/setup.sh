#!/usr/bin/env bash
# Installs the C++ SDK from the build tree into $FETCHPOOL_BUILD_DIR/sdk/cpp/prefix
# and builds consumer/ against it with find_package(fetchpool), as a user would.
# No network. The interop runner (sdk_interop_cpp) is built with the tree.
set -euo pipefail
: "${FETCHPOOL_SOURCE_DIR:?}" "${FETCHPOOL_BUILD_DIR:?}"
prefix=$FETCHPOOL_BUILD_DIR/sdk/cpp/prefix
consumer=$FETCHPOOL_BUILD_DIR/sdk/cpp/consumer
rm -rf "$prefix"
cmake --install "$FETCHPOOL_BUILD_DIR" --prefix "$prefix" >/dev/null
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$FETCHPOOL_SOURCE_DIR/tests/client-sdk/cpp/consumer" -B "$consumer" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$consumer" -j1
test -x "$consumer/app"
echo "cpp sdk: installed in $prefix, consumer built in $consumer"
