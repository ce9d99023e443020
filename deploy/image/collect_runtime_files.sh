#!/usr/bin/env bash
# collect_runtime_files.sh BINARY OUT_DIR: lays out under OUT_DIR the files
# the runtime image needs besides its base, gcr.io/distroless/cc-debian12:
# BINARY as /usr/local/bin/<name>, and every shared library that BINARY
# loads (ldd's whole closure) except those of the packages the base already
# has (BASE_PACKAGES). deploy/Dockerfile runs it in the build stage and
# copies OUT_DIR into the runtime stage; tests/deploy/check_runtime_libs.sh
# runs it on the built fetchpoold, no container engine needed.
#
# Libraries land in /usr/lib/<multiarch>/ under their soname (the file, not
# the symlink), where the dynamic loader of a Debian base looks by default.
set -euo pipefail
bin=${1:?usage: collect_runtime_files.sh BINARY OUT_DIR}
out=${2:?usage: collect_runtime_files.sh BINARY OUT_DIR}

# What distroless cc-debian12 ships (its base: glibc, OpenSSL, CA
# certificates, tzdata; cc adds the GCC runtime). Their libraries must come
# from the base, so that they match its glibc.
BASE_PACKAGES=(libc6 libgcc-s1 libstdc++6 libgomp1 libssl3 ca-certificates tzdata netbase base-files)

# owner PATH: the Debian package that installed PATH (with or without the
# /usr prefix: merged /usr makes /lib and /usr/lib the same directory).
owner() {
  local path=$1 real candidates c
  real=$(readlink -f "$path")
  candidates=("$path" "/usr${path#/usr}" "${path#/usr}" "$real" "/usr${real#/usr}" "${real#/usr}")
  for c in "${candidates[@]}"; do
    dpkg-query -S "$c" 2>/dev/null | awk -F': ' 'NR == 1 { sub(/:.*/, "", $1); print $1 }' | grep . && return 0
  done
  return 1
}

ldd_out=$(ldd "$bin")
if grep -q 'not found' <<<"$ldd_out"; then
  echo "collect_runtime_files: ldd cannot resolve some libraries of $bin:" >&2
  grep 'not found' <<<"$ldd_out" >&2
  exit 1
fi

mkdir -p "$out/usr/local/bin"
cp "$bin" "$out/usr/local/bin/$(basename "$bin")"
copied=0
while read -r lib; do
  pkg=$(owner "$lib") || { echo "collect_runtime_files: $lib belongs to no Debian package" >&2; exit 1; }
  if printf '%s\n' "${BASE_PACKAGES[@]}" | grep -qxF "$pkg"; then
    continue
  fi
  real=$(readlink -f "$lib")
  dir=$(dirname "$real")
  dest=$out/usr${dir#/usr}
  mkdir -p "$dest"
  cp "$real" "$dest/$(basename "$lib")"
  printf '%s\t%s\n' "$pkg" "/usr${dir#/usr}/$(basename "$lib")"
  copied=$((copied + 1))
done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_out")
echo "collect_runtime_files: $copied libraries besides the base's (${BASE_PACKAGES[*]})" >&2
