#!/usr/bin/env bash
# ctest deploy_runtime_libs: the runtime image is distroless cc-debian12 plus
# what deploy/image/collect_runtime_files.sh lays out in the build stage.
# Runs that script on the real fetchpoold (no container engine) and checks
# that every shared library fetchpoold loads (ldd) is either copied, as a
# regular file under /usr/lib/<multiarch>/ by its soname, or belongs to a
# package the base image ships; and that the Dockerfile uses the script. A
# library from nowhere would fail the image at start with "error while
# loading shared libraries".
set -euo pipefail
bin=${1:?usage: check_runtime_libs.sh FETCHPOOLD REPO_ROOT}
root=${2:?usage: check_runtime_libs.sh FETCHPOOLD REPO_ROOT}
collect=$root/deploy/image/collect_runtime_files.sh

for tool in ldd dpkg-query; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: $tool not found (the build machine is Debian 12, as in the image's build stage)"; exit 1; }
done
[[ -x $bin ]] || { echo "FAIL: $bin is not built"; exit 1; }
grep -qE "collect_runtime_files.sh /fetchpoold /runtime-root" "$root/deploy/Dockerfile" ||
  { echo "FAIL: deploy/Dockerfile does not run deploy/image/collect_runtime_files.sh"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash "$collect" "$bin" "$work/root" >"$work/copied" 2>"$work/log" ||
  { echo "FAIL: collect_runtime_files.sh:"; cat "$work/log"; exit 1; }
mapfile -t base_packages < <(sed -n 's/^BASE_PACKAGES=(\(.*\))$/\1/p' "$collect" | tr ' ' '\n')
[[ ${#base_packages[@]} -gt 0 ]] || { echo "FAIL: no BASE_PACKAGES in $collect"; exit 1; }
# What gcr.io/distroless/cc-debian12 is made of (its package list: base's
# glibc, OpenSSL, CA certificates, tzdata, netbase, base-files; cc's GCC
# runtime). Kept apart from the script's list on purpose: a library left to
# the base must really be there, so growing the script's list is checked.
distroless_cc="libc6 libgcc-s1 libstdc++6 libgomp1 libssl3 ca-certificates tzdata netbase base-files"
for p in "${base_packages[@]}"; do
  grep -qw -- "$p" <<<"$distroless_cc" ||
    { echo "FAIL: $collect leaves $p to the base image, which distroless cc-debian12 does not ship"; exit 1; }
done

errors=0
fail() { echo "FAIL: $*"; errors=$((errors + 1)); }
[[ -f $work/root/usr/local/bin/$(basename "$bin") ]] || fail "the binary is not laid out as /usr/local/bin/$(basename "$bin")"

mapfile -t libs < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
base=0
for lib in "${libs[@]}"; do
  name=$(basename "$lib")
  real_dir=$(dirname "$(readlink -f "$lib")")
  copy=$work/root/usr${real_dir#/usr}/$name
  if [[ -f $copy && ! -L $copy ]]; then
    cmp -s "$copy" "$(readlink -f "$lib")" || fail "$copy differs from $lib"
    continue
  fi
  pkg=""
  for c in "$lib" "/usr${lib#/usr}" "${lib#/usr}"; do
    pkg=$(dpkg-query -S "$c" 2>/dev/null | awk -F': ' 'NR == 1 { sub(/:.*/, "", $1); print $1 }') && [[ -n $pkg ]] && break
  done
  if [[ -n $pkg ]] && printf '%s\n' "${base_packages[@]}" | grep -qxF "$pkg"; then
    base=$((base + 1))
  else
    fail "fetchpoold loads $lib (package ${pkg:-none}), which is neither copied nor in the base image"
  fi
done

if [[ $errors -gt 0 ]]; then
  echo "copied:"; cat "$work/copied"
  exit 1
fi
echo "ok: fetchpoold loads ${#libs[@]} libraries: $(wc -l <"$work/copied") copied into the image, $base from the base (${base_packages[*]})"
