#!/usr/bin/env bash
# ctest fixtures deploy_mesh_api_setup and deploy_operator_api_setup: builds
# the Go checker tests/deploy/NAME into the build tree. mesh_check validates
# deploy/mesh's Envoy config and Istio DestinationRule against those proxies'
# APIs (go-control-plane, istio.io/api); operator_check the rendered
# ServiceMonitor and PrometheusRule against the Prometheus Operator's API
# types. Their modules come from the Go module proxy on the first run (the
# only step that needs the network); later runs reuse Go's caches.
#
# Usage: go_check_setup.sh NAME
set -euo pipefail
name=${1:?usage: go_check_setup.sh NAME}
src=${FETCHPOOL_SOURCE_DIR:?}/tests/deploy/$name
out=${FETCHPOOL_BUILD_DIR:?}/tests/deploy/$name
command -v go >/dev/null || { echo "FAIL: no go command to build $name with"; exit 1; }
mkdir -p "$(dirname "$out")"
cd "$src"
# -p 1: the machines this runs on are small and shared. -mod=readonly: go.sum
# is committed; a missing entry is an error, not a silent network update.
GOFLAGS="-p=1 -mod=readonly" go build -o "$out" .
echo "built $out"
