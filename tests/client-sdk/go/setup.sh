#!/usr/bin/env bash
# Go SDK setup (the only step that needs the network): the module's
# dependencies from the Go module proxy, the pinned protoc plugins (into
# $FETCHPOOL_BUILD_DIR/sdk/bin, by client-sdk/go/generate.sh's versions) and
# the interop runner ($FETCHPOOL_BUILD_DIR/sdk/go/interop). Idempotent.
set -euo pipefail

SOURCE=${FETCHPOOL_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
BUILD=${FETCHPOOL_BUILD_DIR:-$SOURCE/build}
SDK=$SOURCE/client-sdk/go
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

command -v go >/dev/null || { echo "setup: needs go (golang-go)" >&2; exit 1; }
mkdir -p "$BUILD/sdk/go"
cd "$SDK"
go mod download
# generate.sh installs the plugins when they are missing or at another
# version; generating into a scratch dir leaves the committed code alone.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$SDK/generate.sh" "$scratch"
go build -p 1 -o "$BUILD/sdk/go/interop" ./cmd/fetchpool-interop
echo "setup: Go SDK ready; interop runner $BUILD/sdk/go/interop"
