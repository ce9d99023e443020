#!/usr/bin/env bash
# ctest grpcurl_setup (fixture of reflection_grpcurl): installs grpcurl with
# `go install` from the Go module proxy into $FETCHPOOL_BUILD_DIR/sdk/bin. The
# only step of the reflection test that needs the network; fast when the
# pinned version is already there.
set -euo pipefail
GRPCURL_VERSION=v1.9.4
bin_dir=${FETCHPOOL_BUILD_DIR:?}/sdk/bin
grpcurl=$bin_dir/grpcurl

if [[ -x $grpcurl ]] && go version -m "$grpcurl" 2>/dev/null |
  grep -qE "^[[:space:]]+mod[[:space:]]+github.com/fullstorydev/grpcurl[[:space:]]+$GRPCURL_VERSION([[:space:]]|$)"; then
  echo "grpcurl $GRPCURL_VERSION already in $bin_dir"
  exit 0
fi
command -v go >/dev/null || { echo "FAIL: no go command to install grpcurl with"; exit 1; }
mkdir -p "$bin_dir"
# -p 1: the machines this runs on are small and shared.
GOBIN=$bin_dir GOFLAGS=-p=1 go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
"$grpcurl" -version
