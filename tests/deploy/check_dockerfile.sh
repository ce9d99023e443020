#!/usr/bin/env bash
# ctest deploy_dockerfile: static checks of deploy/Dockerfile (no Docker engine
# is needed): a debian:12 build stage with dev.sh's packages that lays out the
# runtime files with deploy/image/collect_runtime_files.sh; a runtime stage
# on distroless cc-debian12 with no shell (no RUN or SHELL, nothing copied but
# the collected files and the config), a numeric non-root USER, the gRPC and
# metrics ports; every base pinned by a sha256 digest, with the refresh steps
# in a comment; every file it COPYs from the repository exists.
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
grep -qE '^FROM debian:12[@ ]' <<<"$joined" || fail "the build stage should start FROM debian:12"
# Every base by digest: a tag alone can change under a rebuild.
while read -r from; do
  grep -qE '^FROM [^ ]+@sha256:[0-9a-f]{64}( |$)' <<<"$from" || fail "not pinned by digest: $from"
done < <(grep -E '^FROM ' <<<"$joined")
grep -qiE '^#.*(refresh|update).*pin|^#.*pin.*(refresh|update)' "$df" ||
  fail "no comment saying how to refresh the digest pins"
grep -qE '^#.*imagetools inspect|^#.*crane digest' "$df" ||
  fail "the refresh comment should name the command that reads a digest"
# The runtime stage: everything after the last FROM.
runtime=$(awk '/^FROM /{buf=""} {buf = buf $0 "\n"} END{printf "%s", buf}' <<<"$joined")
grep -qE '^FROM gcr.io/distroless/cc-debian12@' <<<"$runtime" ||
  fail "the runtime stage should be FROM gcr.io/distroless/cc-debian12 (no shell, no package manager)"
# No shell: nothing may run in the runtime stage, and only the collected
# runtime files come from the build stage (never a shell, apt or dpkg).
if grep -qE '^(RUN|SHELL) ' <<<"$runtime"; then
  fail "the runtime stage has RUN or SHELL, but its base has no shell: $(grep -E '^(RUN|SHELL) ' <<<"$runtime" | head -n1)"
fi
while read -r copy; do
  grep -qE '^COPY --from=build /runtime-root/ /$' <<<"$copy" ||
    fail "the runtime stage copies from another stage something else than /runtime-root/: $copy"
done < <(grep -E '^COPY --from=' <<<"$runtime")
grep -qE '^COPY --from=build /runtime-root/ /$' <<<"$runtime" ||
  fail "the runtime stage does not COPY --from=build /runtime-root/ /"
grep -qE 'deploy/image/collect_runtime_files.sh /fetchpoold /runtime-root' <<<"$joined" ||
  fail "the build stage does not run deploy/image/collect_runtime_files.sh /fetchpoold /runtime-root"
if grep -qE '^(CMD|ENTRYPOINT) +[^[]' <<<"$runtime"; then
  fail "CMD/ENTRYPOINT in shell form needs /bin/sh, which the runtime image lacks"
fi

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

# The build stage installs what ./dev.sh installs for the build.
build_stage=${joined%"$runtime"}
build_pkgs=$(grep -oE 'apt-get install [^&]*' <<<"$build_stage" | tr ' ' '\n' | grep -vE '^(apt-get|install|-.*|)$' || true)
for p in cmake ninja-build pkg-config libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev \
  protobuf-compiler libcurl4-openssl-dev libabsl-dev libgtest-dev libgmock-dev \
  libbenchmark-dev prometheus-cpp-dev libcli11-dev; do
  grep -qxF "$p" <<<"$build_pkgs" || fail "the build stage does not install $p (./dev.sh does)"
done

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
