#!/usr/bin/env bash
# ctest deploy_envoy_check_setup (fixture of deploy_mesh_envoy): builds
# tests/deploy/envoy_check, which validates deploy/mesh/envoy/envoy.yaml
# against Envoy's API (go-control-plane). Its modules come from the Go module
# proxy on the first run (the only step that needs the network); later runs
# reuse Go's caches.
set -euo pipefail
src=${FETCHPOOL_SOURCE_DIR:?}/tests/deploy/envoy_check
out=${FETCHPOOL_BUILD_DIR:?}/tests/deploy/envoy_check
command -v go >/dev/null || { echo "FAIL: no go command to build envoy_check with"; exit 1; }
mkdir -p "$(dirname "$out")"
cd "$src"
# -p 1: the machines this runs on are small and shared. -mod=readonly: go.sum
# is committed; a missing entry is an error, not a silent network update.
GOFLAGS="-p=1 -mod=readonly" go build -o "$out" .
echo "built $out"
