#!/usr/bin/env bash
# ctest deploy_mesh_api_setup (fixture of deploy_mesh_api): builds
# tests/deploy/mesh_check, which validates deploy/mesh's Envoy config and
# Istio DestinationRule against those proxies' APIs (go-control-plane,
# istio.io/api). Its modules come from the Go module proxy on the first run
# (the only step that needs the network); later runs reuse Go's caches.
set -euo pipefail
src=${FETCHPOOL_SOURCE_DIR:?}/tests/deploy/mesh_check
out=${FETCHPOOL_BUILD_DIR:?}/tests/deploy/mesh_check
command -v go >/dev/null || { echo "FAIL: no go command to build mesh_check with"; exit 1; }
mkdir -p "$(dirname "$out")"
cd "$src"
# -p 1: the machines this runs on are small and shared. -mod=readonly: go.sum
# is committed; a missing entry is an error, not a silent network update.
GOFLAGS="-p=1 -mod=readonly" go build -o "$out" .
echo "built $out"
