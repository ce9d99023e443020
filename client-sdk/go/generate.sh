#!/usr/bin/env bash
# Regenerates fetchpoolv1/ (committed) from proto/fetchpool/v1/*.proto with
# Debian's protoc and the Go plugins at the versions pinned below, installed
# by `go install` into $FETCHPOOL_BUILD_DIR/sdk/bin.
#
#   client-sdk/go/generate.sh [OUT_DIR]   # default: client-sdk/go/fetchpoolv1
#
# tests/client-sdk/go/test.sh generates into a temp dir and diffs it against
# the committed copy, so a proto change without a regeneration fails a test.
set -euo pipefail

# The versions go.mod pins for the runtime (google.golang.org/protobuf) and the
# protoc-gen-go-grpc release that matches grpc-go v1.85.
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${FETCHPOOL_BUILD_DIR:-$ROOT/build}
BIN=$BUILD/sdk/bin
OUT=${1:-$HERE/fetchpoolv1}
export GOTOOLCHAIN=local GOFLAGS=${GOFLAGS:--mod=mod}

command -v protoc >/dev/null || { echo "generate.sh: needs protoc (apt-get install protobuf-compiler)" >&2; exit 1; }

# installed_version BINARY: the module version `go version -m` records in it.
installed_version() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'; }

mkdir -p "$BIN"
if [[ $(installed_version "$BIN/protoc-gen-go") != "$PROTOC_GEN_GO_VERSION" ]]; then
  GOBIN=$BIN go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if [[ $(installed_version "$BIN/protoc-gen-go-grpc") != "$PROTOC_GEN_GO_GRPC_VERSION" ]]; then
  GOBIN=$BIN go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

# Generate into a scratch dir, then copy: paths=source_relative would mirror
# proto/'s folders, and OUT gets exactly the .pb.go files.
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
PATH="$BIN:$PATH" protoc -I "$ROOT/proto" \
  --go_out="$SCRATCH" --go_opt=paths=source_relative \
  --go-grpc_out="$SCRATCH" --go-grpc_opt=paths=source_relative \
  fetchpool/v1/fetchpool.proto fetchpool/v1/config.proto
mkdir -p "$OUT"
rm -f "$OUT"/*.pb.go
cp "$SCRATCH"/fetchpool/v1/*.pb.go "$OUT"/
