#!/usr/bin/env bash
# ctest deploy_runtime_libs: every shared library the built fetchpoold loads
# must come with the packages that deploy/Dockerfile's runtime stage installs
# (or with the base image, approximated by what `apt` depends on), or the
# image would fail at start with "error while loading shared libraries".
# Resolves ldd's paths to Debian packages with dpkg's file lists and walks the
# installed packages' Depends. Exits 77 (skipped) off Debian.
set -euo pipefail
bin=${1:?usage: check_runtime_libs.sh FETCHPOOLD REPO_ROOT}
root=${2:?usage: check_runtime_libs.sh FETCHPOOLD REPO_ROOT}
df=$root/deploy/Dockerfile

for tool in ldd dpkg dpkg-query; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not found (not a Debian machine)"; exit 77; }
done
[[ -x $bin ]] || { echo "FAIL: $bin is not built"; exit 1; }

# Packages of the runtime stage: the last stage's apt-get install arguments.
joined=$(sed -e '/^[[:space:]]*#/d' -e ':a' -e '/\\$/{N;s/\\\n/ /;ba' -e '}' "$df")
runtime=$(awk '/^FROM /{buf=""} {buf = buf $0 "\n"} END{printf "%s", buf}' <<<"$joined")
mapfile -t wanted < <(grep -oE 'apt-get install [^&]*' <<<"$runtime" | tr ' ' '\n' |
  grep -vE '^(apt-get|install|-.*|)$' || true)
[[ ${#wanted[@]} -gt 0 ]] || { echo "FAIL: no apt-get install in the runtime stage of $df"; exit 1; }

# Dependency closure over the installed packages (Depends and Pre-Depends,
# every alternative), from the runtime packages plus apt (the base image).
declare -A have=()
while read -r p; do have[$p]=1; done < <(
  dpkg-query -W -f='${Package}\t${Depends}, ${Pre-Depends}\n' |
    awk -F'\t' -v roots="${wanted[*]} apt" '
      { deps[$1] = $2 }
      END {
        n = split(roots, q, " ")
        while (n > 0) {
          p = q[n--]
          if (p == "" || (p in seen)) continue
          seen[p] = 1
          m = split(deps[p], d, /[,|]/)
          for (i = 1; i <= m; i++) {
            x = d[i]; sub(/\(.*\)/, "", x); gsub(/ /, "", x); sub(/:.*/, "", x)
            if (x != "" && !(x in seen)) q[++n] = x
          }
        }
        for (p in seen) print p
      }')

# Library path -> package, from dpkg's file lists (ldd may say /lib/... where
# the package installed /usr/lib/... on a merged-/usr system, or the reverse).
mapfile -t libs < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
declare -A owner=()
patterns=$(for path in "${libs[@]}"; do
  real=$(readlink -f "$path")
  for c in "$path" "$real"; do printf '%s\n' "${c#/usr}" "/usr${c#/usr}"; done
done | sort -u)
while IFS= read -r line; do
  list=${line%%.list:*}
  file=${line#*.list:}
  pkg=${list##*/}
  owner[$file]=${pkg%%:*}
done < <(grep -H -x -F -f <(printf '%s\n' "$patterns") /var/lib/dpkg/info/*.list 2>/dev/null || true)

missing=0
for path in "${libs[@]}"; do
  real=$(readlink -f "$path")
  pkg=""
  for c in "$path" "/usr${path#/usr}" "${path#/usr}" "$real" "/usr${real#/usr}" "${real#/usr}"; do
    pkg=${owner[$c]:-}
    [[ -n $pkg ]] && break
  done
  if [[ -z $pkg ]]; then
    echo "FAIL: $path (linked by fetchpoold) belongs to no Debian package; the image cannot have it"
    missing=$((missing + 1))
  elif [[ -z ${have[$pkg]:-} ]]; then
    echo "FAIL: fetchpoold links $path from package $pkg, which the runtime stage of deploy/Dockerfile does not install (add $pkg)"
    missing=$((missing + 1))
  fi
done
checked=${#libs[@]}

if ldd "$bin" | grep -q 'not found'; then
  echo "FAIL: ldd cannot resolve some libraries of $bin:"
  ldd "$bin" | grep 'not found'
  exit 1
fi
if [[ $missing -gt 0 ]]; then
  exit 1
fi
echo "ok: the $checked shared libraries of fetchpoold come with: ${wanted[*]} (+ the base image)"
