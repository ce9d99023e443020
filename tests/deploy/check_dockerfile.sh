#!/usr/bin/env bash
# ctest deploy_dockerfile: static checks of deploy/Dockerfile (no Docker engine
# is needed): two debian:12 stages, the runtime stage runs fetchpoold as a
# non-root user, exposes the gRPC and metrics ports and installs the runtime
# libraries; every file it COPYs from the repository exists.
set -euo pipefail
root=${1:?usage: check_dockerfile.sh REPO_ROOT}
df=$root/deploy/Dockerfile
errors=0
fail() { echo "FAIL: $*"; errors=$((errors + 1)); }

[[ -f $df ]] || { echo "FAIL: $df is missing"; exit 1; }

# Instructions with their continuation lines joined, comments dropped.
joined=$(sed -e '/^[[:space:]]*#/d' -e ':a' -e '/\\$/{N;s/\\\n/ /;ba' -e '}' "$df")
froms=$(grep -cE '^FROM ' <<<"$joined" || true)
[[ $froms -ge 2 ]] || fail "expected a multi-stage build (2+ FROM lines), found $froms"
grep -qE '^FROM debian:12( |$)' <<<"$joined" || fail "the build stage should start FROM debian:12"
# The runtime stage: everything after the last FROM.
runtime=$(awk '/^FROM /{buf=""} {buf = buf $0 "\n"} END{printf "%s", buf}' <<<"$joined")
grep -qE '^FROM debian:12(-slim)?( |$)' <<<"$runtime" || fail "the runtime stage should be FROM debian:12 (or -slim)"

entry=$(grep -E '^ENTRYPOINT ' <<<"$runtime" | tail -n1 || true)
if [[ -z $entry ]]; then
  fail "the runtime stage has no ENTRYPOINT"
elif ! grep -qE '^ENTRYPOINT \["[^"]*/fetchpoold"' <<<"$entry"; then
  fail "ENTRYPOINT should be the exec form naming fetchpoold, got: $entry"
fi

for port in 50051 9464; do
  grep -qE "^EXPOSE .*\\b$port\\b" <<<"$runtime" || fail "the runtime stage does not EXPOSE $port"
done

user=$(grep -E '^USER ' <<<"$runtime" | tail -n1 | awk '{print $2}' || true)
case ${user%%:*} in
  '') fail "the runtime stage sets no USER (it would run as root)" ;;
  0 | root) fail "the runtime stage runs as root (USER $user)" ;;
  *[!0-9]*) fail "USER should be numeric so Kubernetes' runAsNonRoot can check it, got $user" ;;
esac

# apt-get install lists of each stage.
build_stage=${joined%"$runtime"}
pkgs_of() { grep -oE 'apt-get install [^&]*' <<<"$1" | tr ' ' '\n' | grep -vE '^(apt-get|install|-.*|)$' || true; }
build_pkgs=$(pkgs_of "$build_stage")
runtime_pkgs=$(pkgs_of "$runtime")
for p in cmake ninja-build pkg-config libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev \
  protobuf-compiler libcurl4-openssl-dev libabsl-dev libgtest-dev libgmock-dev \
  libbenchmark-dev prometheus-cpp-dev libcli11-dev; do
  grep -qxF "$p" <<<"$build_pkgs" || fail "the build stage does not install $p (./dev.sh does)"
done
for p in libgrpc++1.51 libprotobuf32 libcurl4 libabsl20220623 libprometheus-cpp-core1.0 \
  libprometheus-cpp-pull1.0 ca-certificates; do
  grep -qxF "$p" <<<"$runtime_pkgs" || fail "the runtime stage does not install $p"
done
if grep -qE -- '-dev$' <<<"$runtime_pkgs"; then
  fail "the runtime stage installs -dev packages: $(grep -E -- '-dev$' <<<"$runtime_pkgs" | tr '\n' ' ')"
fi

# COPY sources from the build context (not --from=stage) must exist.
while read -r src; do
  [[ -e $root/$src ]] || fail "COPY source $src does not exist in the repository"
done < <(grep -E '^COPY ' <<<"$joined" | grep -v -- '--from=' | awk '{for (i = 2; i < NF; i++) if ($i !~ /^--/ && $i != ".") print $i}')

ignore=$root/deploy/Dockerfile.dockerignore
if [[ -f $ignore ]]; then
  grep -qxE 'build(/)?' "$ignore" || fail "$ignore should exclude build/ from the context"
else
  fail "$ignore is missing (build trees would enter the build context)"
fi

if [[ $errors -gt 0 ]]; then
  echo "$errors problem(s) in $df"
  exit 1
fi
echo "ok: $df ($froms stages, ENTRYPOINT ${entry#ENTRYPOINT }, USER $user)"
