#!/usr/bin/env bash
# ctest deploy_schema_setup (fixture of deploy_schema): a Python venv in the
# build tree with kubernetes-validate, which bundles the Kubernetes OpenAPI
# JSON schemas of each release, so the check itself runs offline. PyPI is
# reached on the first run only; later runs find the venv in place.
set -euo pipefail
venv=${FETCHPOOL_BUILD_DIR:?}/tests/deploy/k8s-schema-venv
# One version, so every machine checks against the same schemas.
want=kubernetes-validate==1.37.0
if "$venv/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null &&
  [[ $("$venv/bin/pip" freeze 2>/dev/null | grep -i '^kubernetes-validate==') == "$want" ]]; then
  echo "ok: $venv has $want"
  exit 0
fi
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
# Debian's python3 needs python3-venv for this (./dev.sh deps installs it).
python3 -m venv "$venv" || { echo "FAIL: python3 -m venv (install python3-venv)"; exit 1; }
"$venv/bin/pip" install --quiet --disable-pip-version-check "$want"
echo "ok: installed $want in $venv"
