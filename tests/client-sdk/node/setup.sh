#!/usr/bin/env bash
# Installs the Node SDK's packages (npm ci, from package-lock.json) and builds
# it (types generated from the proto, tsc to dist/). Idempotent: npm ci runs
# only when node_modules was not installed from this very lock file.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_dir=${FETCHPOOL_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
cd "$source_dir/client-sdk/node"

stamp=node_modules/.fetchpool-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(<"$stamp") != "$want" ]]; then
  npm ci --no-audit --no-fund
  printf '%s\n' "$want" >"$stamp"
fi
npm run --silent build
