#!/usr/bin/env bash
# ctest deploy_kustomize: render the kustomize base with `kubectl kustomize
# deploy/k8s` and check the objects the service needs: Deployment, Services,
# ConfigMap and PodDisruptionBudget with the expected names, ports, probes and
# security settings, and a shutdown sequence that fits the grace period.
# Exits 77 (ctest: skipped) where kubectl is not installed.
set -euo pipefail
root=${1:?usage: check_kustomize.sh REPO_ROOT}

if ! command -v kubectl >/dev/null 2>&1; then
  echo "SKIP: kubectl is not installed on this machine, so deploy/k8s cannot be rendered here"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! kubectl kustomize "$root/deploy/k8s" >"$work/all.yaml" 2>"$work/err"; then
  echo "FAIL: kubectl kustomize deploy/k8s:"
  cat "$work/err"
  exit 1
fi

# One file per YAML document, doc1.yaml, doc2.yaml, ...
awk -v dir="$work" 'BEGIN { n = 1 } /^---$/ { n++; next } { print > (dir "/doc" n ".yaml") }' "$work/all.yaml"

errors=0
fail() { echo "FAIL: $*"; errors=$((errors + 1)); }

# find_doc KIND NAME_REGEX: the file of the object, or nothing.
find_doc() {
  local f
  for f in "$work"/doc*.yaml; do
    grep -qx "kind: $1" "$f" || continue
    awk '/^metadata:/ { m = 1; next } /^[^ ]/ { m = 0 } m && /^  name: / { print $2 }' "$f" |
      grep -qxE "$2" && { echo "$f"; return 0; }
  done
  return 0
}
# expect FILE WHAT REGEX: the object must have a line matching REGEX.
expect() { grep -qE -e "$3" "$1" || fail "$2"; }

dep=$(find_doc Deployment fetchpoold)
svc=$(find_doc Service fetchpoold)
headless=$(find_doc Service fetchpoold-headless)
cm=$(find_doc ConfigMap 'fetchpoold-config(-[a-z0-9]+)?')
pdb=$(find_doc PodDisruptionBudget fetchpoold)

[[ -n $dep ]] || fail "no Deployment named fetchpoold"
[[ -n $svc ]] || fail "no Service named fetchpoold"
[[ -n $headless ]] || fail "no Service named fetchpoold-headless"
[[ -n $cm ]] || fail "no ConfigMap named fetchpoold-config(-hash)"
[[ -n $pdb ]] || fail "no PodDisruptionBudget named fetchpoold"

if [[ -n $dep ]]; then
  expect "$dep" "Deployment: replicas should be 2" '^  replicas: 2$'
  expect "$dep" "Deployment: no containerPort 50051" 'containerPort: 50051$'
  expect "$dep" "Deployment: no containerPort 9464" 'containerPort: 9464$'
  [[ $(grep -c 'tcpSocket:' "$dep") -ge 2 ]] || fail "Deployment: readiness and liveness should be tcpSocket probes"
  expect "$dep" "Deployment: no readinessProbe" 'readinessProbe:'
  expect "$dep" "Deployment: no livenessProbe" 'livenessProbe:'
  expect "$dep" "Deployment: runAsNonRoot should be true" 'runAsNonRoot: true$'
  expect "$dep" "Deployment: readOnlyRootFilesystem should be true" 'readOnlyRootFilesystem: true$'
  expect "$dep" "Deployment: allowPrivilegeEscalation should be false" 'allowPrivilegeEscalation: false$'
  expect "$dep" "Deployment: no resource requests" '^ +requests:$'
  expect "$dep" "Deployment: no resource limits" '^ +limits:$'
  expect "$dep" "Deployment: no preStop hook" 'preStop:'
  expect "$dep" "Deployment: missing prometheus.io/scrape annotation" 'prometheus.io/scrape: "true"'
  expect "$dep" "Deployment: prometheus.io/port should be 9464" 'prometheus.io/port: "9464"'
  expect "$dep" "Deployment: fetchpoold should get --config=/etc/fetchpool/fetchpoold.textproto" \
    '^ +- --config=/etc/fetchpool/fetchpoold.textproto$'
  expect "$dep" "Deployment: the config volume should mount at /etc/fetchpool" 'mountPath: /etc/fetchpool$'
  if [[ -n $cm ]]; then
    cm_name=$(awk '/^metadata:/ { m = 1; next } /^[^ ]/ { m = 0 } m && /^  name: / { print $2 }' "$cm")
    grep -qE "^ +name: $cm_name\$" "$dep" || fail "Deployment does not mount the ConfigMap $cm_name"
  fi

  # Shutdown must fit: preStop sleep + shutdown_grace < terminationGracePeriodSeconds.
  grace=$(awk '/terminationGracePeriodSeconds:/ { print $2 }' "$dep")
  sleep_s=$(awk '/- \/bin\/sleep$/ { getline; gsub(/[^0-9]/, ""); print; exit }' "$dep")
  drain=""
  [[ -n $cm ]] && drain=$(sed -n 's/^ *shutdown_grace: "\([0-9]*\)s".*/\1/p' "$cm")
  if [[ -z $grace || -z $sleep_s || -z $drain ]]; then
    fail "cannot read terminationGracePeriodSeconds (${grace:-?}), the preStop sleep (${sleep_s:-?}) and shutdown_grace in seconds (${drain:-?})"
  elif ((sleep_s + drain >= grace)); then
    fail "preStop sleep ${sleep_s}s + shutdown_grace ${drain}s does not fit terminationGracePeriodSeconds ${grace}"
  fi
fi

if [[ -n $svc ]]; then
  expect "$svc" "Service fetchpoold should be type ClusterIP" '^  type: ClusterIP$'
  expect "$svc" "Service fetchpoold: no port 50051" '^  - .*port: 50051$|^    port: 50051$'
  expect "$svc" "Service fetchpoold: no port 9464" '^  - .*port: 9464$|^    port: 9464$'
  expect "$svc" "Service fetchpoold: no port named grpc" 'name: grpc$'
  expect "$svc" "Service fetchpoold: no port named metrics" 'name: metrics$'
  expect "$svc" "Service fetchpoold should select app.kubernetes.io/name: fetchpoold" \
    '^    app.kubernetes.io/name: fetchpoold$'
fi
if [[ -n $headless ]]; then
  expect "$headless" "Service fetchpoold-headless should have clusterIP: None" '^  clusterIP: None$'
fi

if [[ -n $cm ]]; then
  expect "$cm" "ConfigMap: no fetchpoold.textproto key" '^  fetchpoold.textproto: '
  expect "$cm" "ConfigMap: listen should be 0.0.0.0:50051" 'listen: "0.0.0.0:50051"'
  expect "$cm" "ConfigMap: metrics_listen should be 0.0.0.0:9464" 'metrics_listen: "0.0.0.0:9464"'
fi

if [[ -n $pdb ]]; then
  expect "$pdb" "PodDisruptionBudget: no maxUnavailable/minAvailable" '^  (maxUnavailable|minAvailable): '
fi

if [[ $errors -gt 0 ]]; then
  echo "$errors problem(s) in the rendered deploy/k8s; it was:"
  cat "$work/all.yaml"
  exit 1
fi
echo "ok: deploy/k8s renders $(grep -c '^kind: ' "$work/all.yaml") objects: $(grep '^kind: ' "$work/all.yaml" | awk '{print $2}' | sort | tr '\n' ' ')"
