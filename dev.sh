#!/usr/bin/env bash
# dev.sh: set up, build, run and test fetchpool on Debian 12.
#
#   ./dev.sh run [fetchpoold flags...]  install deps, build, start build/server/fetchpoold
#   ./dev.sh test [ctest args...]       install deps, build everything, run ctest
#
#   ./dev.sh deps                       only install missing Debian packages (and
#                                       kubectl, or kustomize where apt has no kubectl)
#   ./dev.sh build                      install deps and build everything in build/
#   ./dev.sh sanitize thread|address [ctest args...]
#                                       build-tsan/ or build-asan/, then ctest there
#   ./dev.sh fuzz SECONDS               build-fuzz/ (clang, -DFETCHPOOL_FUZZ=ON), run each
#                                       *_fuzz target for SECONDS on tests/fuzz/corpus/
#   ./dev.sh bench [args...]            run bench/run.sh, if it exists
#   ./dev.sh soak [SECONDS]             build, then bench/soak/run.sh: soak of the real
#                                       fetchpoold for SECONDS (default 600; CI runs 60)
#
# Environment: FETCHPOOL_JOBS (build and ctest parallelism, default 2),
# FETCHPOOL_BUILD_TYPE (default RelWithDebInfo), FETCHPOOL_TEST_TIMEOUT (seconds
# per test without its own TIMEOUT, default 300), FETCHPOOL_SKIP_DEPS=1 (never
# touch apt, e.g. on a machine that is not Debian), FETCHPOOL_TSAN_CTEST_ARGS
# (extra ctest arguments of `sanitize thread`, default none: every test runs
# under TSan, see tests/sanitizers/tsan.supp; e.g. "-LE grpc" to skip those
# that run gRPC in-process).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

JOBS=${FETCHPOOL_JOBS:-2}
BUILD_TYPE=${FETCHPOOL_BUILD_TYPE:-RelWithDebInfo}
TEST_TIMEOUT=${FETCHPOOL_TEST_TIMEOUT:-300}
SUPP_DIR=$ROOT/tests/sanitizers

# Everything the build, the tests and the tools around them need. The Dockerfile
# (deploy/Dockerfile) installs the build part of this list as well.
PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libcurl4-openssl-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev libcivetweb-dev libcli11-dev
  nginx-light wrk nghttp2-client
  clang libclang-rt-14-dev
  iproute2 procps prometheus ca-certificates openssl util-linux
  python3-yaml python3-venv
  # The status page's browser test (tests/integration/status_page_browser_test.sh):
  # headless Chromium, and a font for its screenshot.
  chromium fonts-dejavu-core
  # The benchmarks' charts (bench/lib/charts.sh, tests/bench/lib/charts_test.sh):
  # gnuplot draws the SVGs (one package, no Python environment to set up);
  # jq reads the field-failures rows.
  gnuplot-nox jq
)

# Renders deploy/k8s for tests/deploy (kustomize v5: components, replacements).
# kubectl comes from an apt source where the machine has one (Debian 12's own
# kubernetes-client is 1.20, too old); otherwise kustomize is built from the Go
# module proxy at the version kubectl 1.32 bundles.
KUSTOMIZE_MODULE=sigs.k8s.io/kustomize/kustomize/v5@v5.5.0
KUBECTL_MIN_MINOR=27

step() { printf '==> %s\n' "$*"; }
die() { printf 'dev.sh: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

# --- dependencies -----------------------------------------------------------

missing_packages() {
  local p status
  for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [[ $status == ii* ]] || printf '%s\n' "$p"
  done
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

ensure_deps() {
  if [[ ${FETCHPOOL_SKIP_DEPS:-0} == 1 ]]; then
    return 0
  fi
  command -v dpkg-query >/dev/null 2>&1 ||
    die "dpkg-query not found: this script installs Debian 12 packages; set FETCHPOOL_SKIP_DEPS=1 to skip"
  local missing
  mapfile -t missing < <(missing_packages)
  if [[ ${#missing[@]} -eq 0 ]]; then
    ensure_kustomize
    return 0
  fi
  step "installing ${#missing[@]} missing package(s): ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=300 update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
    install -y -qq --no-install-recommends "${missing[@]}"
  mapfile -t missing < <(missing_packages)
  [[ ${#missing[@]} -eq 0 ]] || die "still missing after apt-get install: ${missing[*]}"
  ensure_kustomize
}

# kubectl_recent: a kubectl whose built-in kustomize renders deploy/k8s.
kubectl_recent() {
  command -v kubectl >/dev/null 2>&1 || return 1
  local minor
  minor=$(kubectl version --client -o json 2>/dev/null |
    python3 -c 'import json, sys; print(int(json.load(sys.stdin)["clientVersion"]["minor"].rstrip("+")))' 2>/dev/null) ||
    return 1
  [[ $minor -ge $KUBECTL_MIN_MINOR ]]
}

ensure_kustomize() {
  if kubectl_recent || command -v kustomize >/dev/null 2>&1; then
    return 0
  fi
  as_root apt-get -o DPkg::Lock::Timeout=300 update -qq
  local candidate
  candidate=$(apt-cache policy kubectl 2>/dev/null | awk '/Candidate:/ { print $2 }')
  if [[ -n $candidate && $candidate != "(none)" ]]; then
    step "installing kubectl $candidate (apt)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
      install -y -qq --no-install-recommends kubectl
    kubectl_recent && return 0
  fi
  command -v go >/dev/null 2>&1 || die "no kubectl from apt and no go to build kustomize with"
  step "building $KUSTOMIZE_MODULE into /usr/local/bin (Go module proxy)"
  as_root env GOBIN=/usr/local/bin GOFLAGS=-p=1 "$(command -v go)" install "$KUSTOMIZE_MODULE"
}

# --- build --------------------------------------------------------------------

# configure DIR [cmake args...]: (re)configure DIR as a Ninja build.
configure() {
  local dir=$1
  shift
  if [[ -f $dir/CMakeCache.txt ]] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$dir/CMakeCache.txt"; then
    step "$dir was configured with another generator; starting it afresh"
    rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
  fi
  step "configuring $dir ($*)"
  cmake -S "$ROOT" -B "$dir" -G Ninja "$@"
}

# build DIR [targets...]
build_dir() {
  local dir=$1
  shift
  local targets=()
  local t
  for t in "$@"; do targets+=(--target "$t"); done
  step "building $dir${*:+ ($*)} with -j$JOBS"
  cmake --build "$dir" --parallel "$JOBS" "${targets[@]}"
}

configure_main() {
  configure build -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
}

# run_ctest DIR [ctest args...]: exit code is ctest's.
run_ctest() {
  local dir=$1
  shift
  step "ctest in $dir (-j$JOBS, ${TEST_TIMEOUT}s per test)"
  local rc=0
  ctest --test-dir "$dir" --output-on-failure --no-tests=error \
    -j "$JOBS" --timeout "$TEST_TIMEOUT" "$@" || rc=$?
  if [[ $rc -ne 0 ]]; then
    step "ctest in $dir failed (exit $rc)"
  fi
  return "$rc"
}

# --- sanitizers ---------------------------------------------------------------

sanitizer_env() {
  local kind=$1
  # UBSan rides along with the address build (see CMakeLists.txt).
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  case $kind in
    thread)
      # Thread leaks are off: gRPC's own threads are joined by code TSan cannot
      # see; a std::thread of ours that is never joined aborts anyway.
      local o="halt_on_error=1:second_deadlock_stack=1:history_size=4:report_thread_leaks=0"
      [[ -f $SUPP_DIR/tsan.supp ]] && o+=":suppressions=$SUPP_DIR/tsan.supp"
      export TSAN_OPTIONS="$o${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
      ;;
    address)
      export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
      local l="print_suppressions=0"
      [[ -f $SUPP_DIR/lsan.supp ]] && l+=":suppressions=$SUPP_DIR/lsan.supp"
      export LSAN_OPTIONS="$l${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
      ;;
  esac
}

# Debian's abseil and gRPC are not built with TSan: build the LD_PRELOAD shims
# that tell it about absl::Mutex, CondVar and Notification (absl_tsan_shim.cc)
# and about the orderings of gRPC's callback API (grpc_tsan_shim.cc); see the
# files' headers and tests/sanitizers/tsan.supp.
tsan_shims() {
  local dir=$1 name src out
  for name in absl_tsan_shim grpc_tsan_shim; do
    src=$SUPP_DIR/$name.cc
    out=$dir/$name.so
    [[ -f $src ]] || continue
    if [[ ! -f $out || $src -nt $out ]]; then
      step "building $out"
      mkdir -p "$dir"
      "${CXX:-g++}" -std=c++17 -O1 -g -fPIC -shared -o "$out" "$src" -ldl
    fi
    LD_PRELOAD="$ROOT/$out${LD_PRELOAD:+:$LD_PRELOAD}"
  done
  export LD_PRELOAD
}

cmd_sanitize() {
  local kind=${1:-}
  [[ $# -gt 0 ]] && shift
  local dir
  case $kind in
    thread) dir=build-tsan ;;
    address) dir=build-asan ;;
    *) die "usage: ./dev.sh sanitize thread|address [ctest args...]" ;;
  esac
  ensure_deps
  # The sanitizer options are set before the build too: gtest_discover_tests
  # runs each test binary at build time to list its tests.
  sanitizer_env "$kind"
  [[ $kind == thread ]] && tsan_shims "$dir"
  configure "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFETCHPOOL_SANITIZE="$kind"
  build_dir "$dir"
  local extra=()
  if [[ $kind == thread ]]; then
    # Every test runs under TSan, those that run gRPC in-process (label
    # "grpc") included: Debian's gRPC is not instrumented, and
    # grpc_tsan_shim.so supplies the orderings its callback API guarantees
    # (an operation before its completion, the handler's reactor before
    # OnCancel, every reaction before OnDone), which TSan would otherwise
    # report as races. FETCHPOOL_TSAN_CTEST_ARGS adds ctest arguments, e.g.
    # "-LE grpc" for the run without them.
    read -r -a extra <<<"${FETCHPOOL_TSAN_CTEST_ARGS-}"
    [[ ${#extra[@]} -gt 0 ]] && step "TSan ctest arguments: ${extra[*]} (FETCHPOOL_TSAN_CTEST_ARGS)"
  fi
  run_ctest "$dir" "${extra[@]}" "$@"
}

# --- fuzzing ------------------------------------------------------------------

# The *_fuzz executables that build-fuzz defines, as paths under build-fuzz/.
fuzz_targets() {
  ninja -C build-fuzz -t targets all |
    sed -n 's/^\([^:]*_fuzz\): C[A-Z]*_EXECUTABLE_LINKER.*/\1/p' | sort -u
}

cmd_fuzz() {
  local secs=${1:-60}
  [[ $secs =~ ^[0-9]+$ && $secs -gt 0 ]] || die "usage: ./dev.sh fuzz SECONDS"
  ensure_deps
  sanitizer_env address
  configure build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DFETCHPOOL_FUZZ=ON
  local targets
  mapfile -t targets < <(fuzz_targets)
  if [[ ${#targets[@]} -eq 0 ]]; then
    step "no *_fuzz targets are defined; nothing to fuzz"
    return 0
  fi
  build_dir build-fuzz "${targets[@]}"

  local failed=() names=() target name bin seeds work art dict log rc args d
  for target in "${targets[@]}"; do
    name=${target##*/}
    names+=("$name")
    bin=build-fuzz/$target
    [[ -x $bin ]] || die "built $target but $bin is not there"
    # Seeds: tests/fuzz/corpus/<target>/, tests/fuzz/corpus/<target minus _fuzz>/,
    # else tests/fuzz/corpus/ itself. They are only read: new inputs go to
    # build-fuzz/fuzz-work/<target>/.
    seeds=()
    for d in "tests/fuzz/corpus/$name" "tests/fuzz/corpus/${name%_fuzz}" tests/fuzz/corpus; do
      if [[ -d $d ]]; then seeds=("$d"); break; fi
    done
    work=build-fuzz/fuzz-work/$name
    art=build-fuzz/fuzz-artifacts/$name
    log=build-fuzz/fuzz-$name.log
    mkdir -p "$work" "$art"
    args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
      -artifact_prefix="$art/")
    for dict in "tests/fuzz/$name.dict" "tests/fuzz/${name%_fuzz}.dict"; do
      if [[ -f $dict ]]; then args+=(-dict="$dict"); break; fi
    done
    step "fuzzing $name for ${secs}s (seeds: ${seeds[*]:-none}; log: $log)"
    rc=0
    "$bin" "${args[@]}" "$work" "${seeds[@]}" >"$log" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]]; then
      grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log" || true
    else
      failed+=("$name")
      step "$name FAILED (exit $rc); last lines of $log:"
      tail -n 60 "$log"
      step "reproduce with: $bin $art/<crash-file>"
      ls -1 "$art" || true
    fi
  done
  if [[ ${#failed[@]} -gt 0 ]]; then
    step "fuzz targets that failed: ${failed[*]}"
    return 1
  fi
  step "fuzzing passed: ${names[*]}"
}

# --- commands -------------------------------------------------------------------

cmd_run() {
  ensure_deps
  configure_main
  build_dir build fetchpoold
  [[ -x build/server/fetchpoold ]] || die "build/server/fetchpoold was not built"
  step "starting build/server/fetchpoold $*"
  exec build/server/fetchpoold "$@"
}

cmd_build() {
  ensure_deps
  configure_main
  build_dir build
}

cmd_test() {
  cmd_build
  run_ctest build "$@"
}

cmd_bench() {
  if [[ ! -f bench/run.sh ]]; then
    step "bench/run.sh does not exist yet; nothing to run"
    return 0
  fi
  cmd_build
  step "bench/run.sh $*"
  exec bash bench/run.sh "$@"
}

cmd_soak() {
  local secs=${1:-600}
  [[ $secs =~ ^[0-9]+$ && $secs -ge 20 ]] || die "usage: ./dev.sh soak [SECONDS] (at least 20)"
  cmd_build
  step "bench/soak/run.sh --duration $secs"
  FETCHPOOL_JOBS=$JOBS exec bash bench/soak/run.sh --duration "$secs" --no-build
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    run) cmd_run "$@" ;;
    test) cmd_test "$@" ;;
    deps) ensure_deps; step "all ${#PACKAGES[@]} packages are installed" ;;
    build) cmd_build ;;
    sanitize) cmd_sanitize "$@" ;;
    fuzz) cmd_fuzz "$@" ;;
    bench) cmd_bench "$@" ;;
    soak) cmd_soak "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
