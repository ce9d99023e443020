#!/usr/bin/env bash
# bench/callgrind/run.sh: instructions per fetch of fetchpoold (E: unary
# Fetch, S: FetchStream) and of the nginx keep-alive proxy (B), counted by
# valgrind's callgrind: repeatable on a noisy shared machine, where req/s
# and CPU time are not. bench/run.sh runs the same phase (--no-callgrind
# skips it); this runs it alone, in about a minute per fetchpoold.
#
#   bench/callgrind/run.sh [--no-build] [--fetchpoold LABEL=BINARY]...
#
#   --no-build    use the binaries already in build-bench/
#   --fetchpoold LABEL=BINARY
#                 measure BINARY under the name LABEL; repeat the option to
#                 compare builds side by side, e.g.
#                   --fetchpoold before=/tmp/fetchpoold.old \
#                   --fetchpoold after=build-bench/server/fetchpoold
#                 Default: BENCH_FETCHPOOLD if set, else this tree's build.
#
# Starts its own origin nginx (bench/nginx/origin.conf.in) on 127.0.0.1;
# every process it starts is ended when it exits. Method and knobs:
# bench/lib/callgrind.sh (BENCH_CG_FETCHES, BENCH_CG_WARMUP, BENCH_CG_REPS,
# BENCH_CG_FP_FLAGS). BENCH_BUILD_DIR as in bench/run.sh.
# Output: the tables on stdout and in bench/results/callgrind.md; dumps,
# callgrind_annotate listings and the clients' output in
# bench/results/raw/callgrind/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=$ROOT/bench
# shellcheck source=../lib/common.sh
source "$BENCH_DIR/lib/common.sh"
# shellcheck source=../lib/nginx.sh
source "$BENCH_DIR/lib/nginx.sh"
# shellcheck source=../lib/callgrind.sh
source "$BENCH_DIR/lib/callgrind.sh"

BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build-bench}
BUILD=1
SPECS=()
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --no-build) BUILD=0 ;;
    --fetchpoold)
      [[ ${2:-} == ?*=?* ]] || { usage >&2; exit 2; }
      SPECS+=("$2")
      shift
      ;;
    --fetchpoold=?*=?*) SPECS+=("${1#--fetchpoold=}") ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done

START=$SECONDS
for tool in nginx h2load curl ss timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing (./dev.sh deps installs it)"
done
cg_ensure_tools || die "valgrind is missing and could not be installed (apt-get install valgrind)"

if ((BUILD)); then
  log "building fetchpoold and the load tools in $BUILD_DIR (Release)"
  if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DFETCHPOOL_BUILD_TESTS=OFF >/dev/null
  fi
  ninja -C "$BUILD_DIR" -j"${FETCHPOOL_JOBS:-2}" fetchpoold fetch_load stream_load >&2 ||
    die "build failed"
fi
FETCH_LOAD=$BUILD_DIR/bench/fetch_load
STREAM_LOAD=$BUILD_DIR/bench/stream_load
if [[ ${#SPECS[@]} -eq 0 ]]; then
  if [[ -n ${BENCH_FETCHPOOLD:-} ]]; then
    SPECS=("BENCH_FETCHPOOLD=$BENCH_FETCHPOOLD")
  else
    SPECS=("this-tree=$BUILD_DIR/server/fetchpoold")
  fi
fi
for bin in "$FETCH_LOAD" "$STREAM_LOAD" "${SPECS[@]#*=}"; do
  [[ -x $bin ]] || die "$bin is missing (run without --no-build)"
done

RESULTS=$BENCH_DIR/results
RAW=$RESULTS/raw
mkdir -p "$RAW"
rm -rf "$RAW/callgrind"
# cg_init puts its vgdb FIFOs in $BENCH_TMP: make that first.
bench_tmp_dir fetchpool-callgrind "$RAW/callgrind"
cg_init

ORIGIN_PORT=$(free_port)
ORIGIN_URL=http://127.0.0.1:$ORIGIN_PORT/
render_nginx "$BENCH_DIR/nginx/origin.conf.in" "$BENCH_TMP/origin.conf" "$ORIGIN_PORT"
ORIGIN_MASTER=$(start_nginx "$BENCH_TMP/origin.conf")
track_pid "$ORIGIN_MASTER"
wait_for 10 curl -fsS -o /dev/null "$ORIGIN_URL" || die "origin nginx did not come up"
for pid in $(pgrep -P "$ORIGIN_MASTER"); do track_pid "$pid"; done
log "origin nginx :$ORIGIN_PORT"

cg_run_all "${SPECS[@]}"
{
  printf '## fetchpool: instructions per fetch (%s)\n\n' "$(date -u +'%Y-%m-%d %H:%M UTC')"
  printf 'fetchpool %s; %s s.\n\n' \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$((SECONDS - START))"
  cg_report "${SPECS[@]}"
} | tee "$RESULTS/callgrind.md"
log "done in $((SECONDS - START)) s; table in bench/results/callgrind.md, raw in bench/results/raw/callgrind/"
