#!/usr/bin/env bash
# ctest deploy_config_file: deploy/k8s/base/fetchpoold.textproto (the ConfigMap's
# file, also baked into the image) parses as fetchpool.v1.ServerConfigFile, so
# a renamed or retyped field in config.proto cannot silently break the deploy.
set -euo pipefail
protoc=${1:?usage: check_config_file.sh PROTOC REPO_ROOT}
root=${2:?usage: check_config_file.sh PROTOC REPO_ROOT}
file=$root/deploy/k8s/base/fetchpoold.textproto

"$protoc" --encode=fetchpool.v1.ServerConfigFile -I "$root/proto" \
  "$root/proto/fetchpool/v1/config.proto" <"$file" >/dev/null ||
  { echo "FAIL: $file does not parse as fetchpool.v1.ServerConfigFile"; exit 1; }

# The ports the Service, the probes and the Dockerfile use.
grep -qx 'listen: "0.0.0.0:50051"' "$file" || { echo "FAIL: $file must set listen: \"0.0.0.0:50051\""; exit 1; }
grep -qx 'metrics_listen: "0.0.0.0:9464"' "$file" || { echo "FAIL: $file must set metrics_listen: \"0.0.0.0:9464\""; exit 1; }
echo "ok: $file parses as fetchpool.v1.ServerConfigFile"
