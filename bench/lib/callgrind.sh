# bench/lib/callgrind.sh: instructions per fetch under valgrind's callgrind,
# for bench/run.sh and bench/callgrind/run.sh (sourced, not run).
#
# Throughput and CPU time on this shared 2-core machine move by ±30% from
# run to run; the count of instructions a process executes for a fixed
# amount of work does not. Each measured process runs under
#   valgrind --tool=callgrind --instr-atstart=no
# so start-up and warm-up are not counted; after the warm-up the harness
# turns collection on (callgrind_control -i on), drives a fixed batch,
# turns it off and dumps (callgrind_control --dump), and reads the dump's
# "totals:" line: the instructions (Ir) of every thread of the process
# between on and off. Ir / answered requests = Ir per fetch. Callgrind runs
# the process's threads one at a time, so the count does not depend on the
# machine's load; it does depend on how many requests each wakeup finds
# (batching), which is why every scenario keeps the harness's 64 in flight
# (4 gRPC channels or streams × 16, or 64 HTTP/1.1 connections).
# User-space instructions only: the kernel's work in syscalls is not counted.
#
#   E  fetchpoold, unary Fetch: fetch_load --requests=CG_FETCHES (64 in
#      flight, 4 channels), after CG_WARMUP calls of warm-up
#   S  fetchpoold, FetchStream: stream_load 4 streams × 16 in flight, closed
#      loop for as long as about CG_FETCHES fetches take (stream_load counts
#      time, not requests; the answered count is the divisor)
#   B  the nginx proxy of bench/nginx/proxy.conf.in, as one process
#      (master_process off, daemon off): h2load --h1 -c64 -n CG_FETCHES
#
# Each is measured CG_REPS times (default 2) in the same process, one batch
# after the other, to show that the count repeats.
#
# Needs (set by the caller): BENCH_DIR BENCH_TMP RAW ORIGIN_URL ORIGIN_PORT
# FETCH_LOAD STREAM_LOAD, and common.sh / nginx.sh sourced. Results go to
# $CG_TSV ("label<TAB>scenario<TAB>rep<TAB>fetches<TAB>Ir<TAB>extra").
#
# Environment: BENCH_CG_FETCHES (2000), BENCH_CG_WARMUP (200), BENCH_CG_REPS
# (2), BENCH_CG_CONCURRENCY (64: requests in flight, over min(4, it) gRPC
# channels or streams; h2load -c), BENCH_CG_FP_FLAGS (extra fetchpoold flags under callgrind, e.g.
# --event_loops=1 to compare a multi-loop build with one loop).

CG_TOP=15
CG_TIMEOUT=300  # per client run: under callgrind fetchpoold serves ~200-400 fetches/s

# cg_tools_present: valgrind and its callgrind scripts are on PATH.
cg_tools_present() {
  command -v valgrind >/dev/null && command -v callgrind_control >/dev/null &&
    command -v callgrind_annotate >/dev/null
}

# cg_ensure_tools: installs valgrind (Debian package valgrind) when it is
# missing and we are root or have sudo; returns 1 if it is still missing.
cg_ensure_tools() {
  cg_tools_present && return 0
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null || return 1
    sudo=(sudo -n)
  fi
  command -v apt-get >/dev/null || return 1
  log "installing valgrind (apt-get) for the callgrind phase"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
    install -y -qq --no-install-recommends valgrind >&2 || {
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 &&
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
        install -y -qq --no-install-recommends valgrind >&2
  } || return 1
  cg_tools_present
}

# cg_init [DEFAULT_FETCHES [DEFAULT_WARMUP]]: the environment wins over the
# defaults (2000 and 200; bench/run.sh --quick passes smaller ones).
cg_init() {
  CG_FETCHES=${BENCH_CG_FETCHES:-${1:-2000}}
  CG_WARMUP=${BENCH_CG_WARMUP:-${2:-200}}
  CG_REPS=${BENCH_CG_REPS:-2}
  # Requests in flight: 64 as in the harness (4 channels or streams × 16).
  CG_CONCURRENCY=${BENCH_CG_CONCURRENCY:-64}
  CG_CHANNELS=$((CG_CONCURRENCY < 4 ? CG_CONCURRENCY : 4))
  CG_WINDOW=$(((CG_CONCURRENCY + CG_CHANNELS - 1) / CG_CHANNELS))
  CG_DIR=$RAW/callgrind
  mkdir -p "$CG_DIR"
  CG_TSV=$CG_DIR/callgrind.tsv
  : >"$CG_TSV"
  CG_NOTES=$CG_DIR/notes.txt
  : >"$CG_NOTES"
  # Our own vgdb FIFOs: callgrind_control talks to our processes only.
  CG_VGDB=$BENCH_TMP/vgdb
}

cg_note() { log "callgrind: $*"; printf '%s\n' "$*" >>"$CG_NOTES"; }

# cg_ctl PID ARGS...: one callgrind_control command to our process.
cg_ctl() {
  local pid=$1
  shift
  timeout -k 5 60 callgrind_control --vgdb-prefix="$CG_VGDB" "$@" "$pid" >>"$CG_DIR/control.log" 2>&1
}

# cg_start OUTFILE LOG COMMAND...: starts COMMAND under callgrind with
# collection off; sets CG_PID (tracked).
cg_start() {
  local out=$1 logf=$2
  shift 2
  local extra=()
  read -r -a extra <<<"${BENCH_CG_VALGRIND_FLAGS:-}"
  valgrind --tool=callgrind --instr-atstart=no --vgdb=yes --vgdb-prefix="$CG_VGDB" \
    --callgrind-out-file="$out" "${extra[@]}" "$@" >"$logf" 2>&1 </dev/null &
  CG_PID=$!
  track_pid "$CG_PID"
}

# cg_batch PID OUTFILE COMMAND...: collection on, COMMAND (its stdout in
# $CG_OUT), collection off, dump; sets CG_IR (the dump's total), CG_RC,
# CG_SECONDS.
CG_DUMPS=0
cg_batch() {
  local pid=$1 out=$2
  shift 2
  CG_RC=0
  CG_IR=nan
  cg_ctl "$pid" --instr=on || { cg_note "callgrind_control --instr=on failed (see raw/callgrind/control.log)"; return 1; }
  local t0=$EPOCHREALTIME
  timeout -k 5 "$CG_TIMEOUT" "$@" >"$CG_OUT" 2>"$CG_OUT.err" || CG_RC=$?
  CG_SECONDS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  cg_ctl "$pid" --instr=off || true
  cg_ctl "$pid" --dump || { cg_note "callgrind_control --dump failed"; return 1; }
  CG_DUMPS=$((CG_DUMPS + 1))
  # The dump is written by the process before callgrind_control returns,
  # but give a slow one a moment.
  local f=$out.$CG_DUMPS i
  for i in $(seq 1 50); do
    [[ -s $f ]] && grep -q '^totals:' "$f" && break
    sleep 0.1
  done
  CG_IR=$(awk '/^totals:/ { print $2; exit }' "$f" 2>/dev/null)
  [[ $CG_IR =~ ^[0-9]+$ ]] || { CG_IR=nan; cg_note "no totals in $f"; }
  CG_LAST_DUMP=$f
}

cg_record() {  # LABEL SCENARIO REP FETCHES IR EXTRA
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$CG_TSV"
  log "callgrind $1 $2 rep $3: $4 fetches, $5 Ir, $(cg_div "$5" "$4") Ir/fetch ($6)"
}

cg_div() {
  [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ ]] && (($2 > 0)) || { echo nan; return; }
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a / b }'
}

# cg_fetchpoold LABEL BINARY: E and S, CG_REPS times each, in one fetchpoold
# under callgrind; the first E dump is annotated.
cg_fetchpoold() {
  local label=$1 bin=$2 tag
  tag=$(tr -c 'A-Za-z0-9_-' _ <<<"$label")
  tag=${tag%_}
  local port mport out=$CG_DIR/fp-$tag.callgrind
  # valgrind does not follow exec (--trace-children=no): a wrapper script
  # would be measured instead of fetchpoold.
  if [[ $(head -c 4 "$bin" 2>/dev/null | tr -d '\0') != $'\x7fELF' ]]; then
    cg_note "$label: $bin is not an ELF executable (a wrapper script?); skipped"
    return 1
  fi
  port=$(free_port)
  mport=$(free_port)
  CG_DUMPS=0
  local flags=()
  read -r -a flags <<<"${BENCH_CG_FP_FLAGS:-}"
  cg_start "$out" "$CG_DIR/fp-$tag.valgrind.log" "$bin" --listen="127.0.0.1:$port" \
    --metrics_listen="127.0.0.1:$mport" --drain_delay=0s --allow_cidrs=127.0.0.0/8 \
    --max_connections_per_host=64 ${flags[@]+"${flags[@]}"}
  local pid=$CG_PID target=127.0.0.1:$port
  if ! wait_for 120 "$STREAM_LOAD" --mode=stats --target="$target"; then
    cg_note "$label: fetchpoold under callgrind did not come up (raw/callgrind/fp-$tag.valgrind.log)"
    stop_pid "$pid"
    return 1
  fi
  log "callgrind: $label fetchpoold $target (pid $pid) ${flags[*]}"
  # Warm-up: the pool's 64 connections, gRPC's and curl's lazy set-up, the
  # allocator's arenas. Not counted (collection is off).
  timeout -k 5 "$CG_TIMEOUT" "$FETCH_LOAD" --target="$target" --url="$ORIGIN_URL" \
    --requests="$CG_WARMUP" --concurrency="$CG_CONCURRENCY" --channels="$CG_CHANNELS" --timeout=60s --json \
    >"$CG_DIR/fp-$tag.warmup-E.out" 2>&1 || cg_note "$label: E warm-up failed"
  timeout -k 5 "$CG_TIMEOUT" "$STREAM_LOAD" --mode=stream --target="$target" --url="$ORIGIN_URL" \
    --streams="$CG_CHANNELS" --window="$CG_WINDOW" --duration=1s --drain=60s --json \
    >"$CG_DIR/fp-$tag.warmup-S.out" 2>&1 || cg_note "$label: S warm-up failed"

  local rep json ok errs s_secs=""
  for ((rep = 1; rep <= CG_REPS; rep++)); do
    CG_OUT=$CG_DIR/fp-$tag.E.rep$rep.out
    cg_batch "$pid" "$out" "$FETCH_LOAD" --target="$target" --url="$ORIGIN_URL" \
      --requests="$CG_FETCHES" --concurrency="$CG_CONCURRENCY" --channels="$CG_CHANNELS" --timeout=60s --json ||
      break
    json=$(cat "$CG_OUT")
    ok=$(json_int ok <<<"$json")
    errs=$(($(json_int http_errors <<<"$json") + $(json_int rpc_errors <<<"$json")))
    ((CG_RC == 0 && errs == 0)) || cg_note "$label E rep $rep: fetch_load exited $CG_RC, $errs errors"
    cg_record "$label" E "$rep" "$ok" "$CG_IR" "errors=$errs seconds=$CG_SECONDS"
    ((rep == 1)) && cp "$CG_LAST_DUMP" "$CG_DIR/fp-$tag.E.callgrind"
    # S runs closed loop for a time, not a count (stream_load has no request
    # count; the answered fetches are the divisor): 0.6 of E's first batch,
    # which gives about CG_FETCHES (a FetchStream fetch costs less). 2-60 s.
    [[ -n $s_secs ]] || s_secs=$(awk -v t="$CG_SECONDS" \
      'BEGIN { s = 0.6 * t; if (s < 2) s = 2; if (s > 60) s = 60; printf "%.1f", s }')
    CG_OUT=$CG_DIR/fp-$tag.S.rep$rep.out
    cg_batch "$pid" "$out" "$STREAM_LOAD" --mode=stream --target="$target" --url="$ORIGIN_URL" \
      --streams="$CG_CHANNELS" --window="$CG_WINDOW" --duration="${s_secs}s" --drain=60s --json || break
    json=$(cat "$CG_OUT")
    ok=$(json_int ok <<<"$json")
    errs=$(($(json_int errors <<<"$json") + $(json_int unanswered <<<"$json")))
    ((CG_RC == 0 && errs == 0)) || cg_note "$label S rep $rep: stream_load exited $CG_RC, $errs errors/unanswered"
    cg_record "$label" S "$rep" "$ok" "$CG_IR" "errors=$errs seconds=$CG_SECONDS duration=${s_secs}s"
  done
  stop_pid "$pid" 30
  if [[ -f $CG_DIR/fp-$tag.E.callgrind ]]; then
    cg_annotate "$CG_DIR/fp-$tag.E.callgrind" "$CG_DIR/fp-$tag.E"
  fi
  return 0
}

# cg_annotate DUMP PREFIX: PREFIX.self.txt and PREFIX.inclusive.txt
# (callgrind_annotate, all threads together), PREFIX.objects.txt (self Ir
# summed per shared object).
cg_annotate() {
  callgrind_annotate --inclusive=no --threshold=99.9 "$1" >"$2.self.txt" 2>&1 || true
  callgrind_annotate --inclusive=yes --threshold=99.9 "$1" >"$2.inclusive.txt" 2>&1 || true
  callgrind_annotate --inclusive=no --threshold=100 "$1" 2>/dev/null | cg_top /dev/stdin 1000000 |
    awk -F'\t' '{ ir = $1; gsub(",", "", ir); obj = "?"
        if (match($3, / \[[^ ]*\]$/)) obj = substr($3, RSTART + 2, RLENGTH - 3)
        sub(/\.so[.0-9]*$/, "", obj); by[obj] += ir; t += ir }
      END { for (o in by) printf "%d\t%.1f%%\t%s\n", by[o], 100 * by[o] / t, o }' |
    sort -t$'\t' -k1,1nr >"$2.objects.txt" || true
}

# cg_top FILE N: the first N function lines of a callgrind_annotate output,
# as "Ir<TAB>percent<TAB>function [object]" (the source file prefix and the
# object's directory dropped, long names cut at 150 characters).
cg_top() {
  awk -v n="$2" '
    /PROGRAM TOTALS/ { total = 1; next }
    total && /^ *[0-9][0-9,]* +\( *[0-9.]+%\)/ {
      ir = $0; sub(/^ */, "", ir); sub(/ .*/, "", ir)
      pct = $0; sub(/^[^(]*\( */, "", pct); sub(/%\).*/, "", pct)
      fn = $0; sub(/^[^)]*\) +/, "", fn)
      sub(/^[^ :]*:/, "", fn)
      obj = ""
      if (match(fn, / \[[^ ]*\]$/)) {
        obj = substr(fn, RSTART + 2, RLENGTH - 3); fn = substr(fn, 1, RSTART - 1)
        sub(/.*\//, "", obj)
      }
      if (length(fn) > 150) fn = substr(fn, 1, 147) "..."
      gsub(/\|/, "\\|", fn)
      printf "%s\t%s%%\t%s%s\n", ir, pct, fn, (obj == "" ? "" : " [" obj "]")
      if (++k == n) exit
    }' "$1"
}

# cg_nginx: the proxy nginx (bench/nginx/proxy.conf.in) as one process under
# callgrind, h2load --h1 -c64 -n CG_FETCHES, CG_REPS times.
cg_nginx() {
  local port conf=$BENCH_TMP/cgproxy.conf out=$CG_DIR/nginx-B.callgrind
  port=$(free_port)
  render_nginx "$BENCH_DIR/nginx/proxy.conf.in" "$conf" "$port" "$ORIGIN_PORT"
  # One process: the worker's work is the master's, nothing to add up.
  sed -i 's/^master_process on;/master_process off;/' "$conf"
  grep -q '^master_process off;' "$conf" || { cg_note "could not turn master_process off in $conf"; return 1; }
  nginx -t -q -p "$BENCH_TMP" -e "$BENCH_TMP/cgproxy-error.log" -c "$conf" >&2 ||
    { cg_note "nginx rejected $conf"; return 1; }
  CG_DUMPS=0
  cg_start "$out" "$CG_DIR/nginx-B.valgrind.log" \
    nginx -p "$BENCH_TMP" -e "$BENCH_TMP/cgproxy-error.log" -c "$conf"
  local pid=$CG_PID url=http://127.0.0.1:$port/
  if ! wait_for 60 curl -fsS -o /dev/null "$url"; then
    cg_note "nginx under callgrind did not come up (raw/callgrind/nginx-B.valgrind.log)"
    stop_pid "$pid"
    return 1
  fi
  log "callgrind: nginx proxy $url (pid $pid), one process"
  timeout -k 5 "$CG_TIMEOUT" h2load --h1 -c"$CG_CONCURRENCY" -n"$CG_WARMUP" "$url" \
    >"$CG_DIR/nginx-B.warmup.out" 2>&1 || cg_note "B warm-up failed"
  local rep ok bad
  for ((rep = 1; rep <= CG_REPS; rep++)); do
    CG_OUT=$CG_DIR/nginx-B.rep$rep.out
    cg_batch "$pid" "$out" h2load --h1 -c"$CG_CONCURRENCY" -n"$CG_FETCHES" "$url" || break
    ok=$(awk '/^status codes:/ { gsub(",", ""); print $3 }' "$CG_OUT")
    bad=$(awk '/^requests:/ { print $10 + $12 + $14 }' "$CG_OUT")
    ok=${ok:-0}
    ((CG_RC == 0 && ${bad:-1} == 0 && ok == CG_FETCHES)) ||
      cg_note "B rep $rep: h2load exited $CG_RC, $ok 2xx of $CG_FETCHES, ${bad:-?} failed"
    cg_record nginx B "$rep" "$ok" "$CG_IR" "seconds=$CG_SECONDS"
  done
  stop_pid "$pid" 30
  return 0
}

# cg_run_all "LABEL=BINARY"...: every fetchpoold given, then nginx.
cg_run_all() {
  local spec
  for spec in "$@"; do
    cg_fetchpoold "${spec%%=*}" "${spec#*=}" || true
  done
  cg_nginx || true
}

# cg_stat LABEL SCENARIO FIELD: per rep, "a / b"; FIELD is fetches, ir or
# per (Ir per fetch).
cg_stat() {
  awk -F'\t' -v l="$1" -v s="$2" -v f="$3" '
    function grp(x,   r) { x = sprintf("%.0f", x); r = ""
      while (length(x) > 3) { r = "," substr(x, length(x) - 2) r; x = substr(x, 1, length(x) - 3) }
      return x r }
    $1 == l && $2 == s {
      v = (f == "fetches") ? $4 : (f == "ir") ? $5 : (($4 > 0 && $5 ~ /^[0-9]+$/) ? $5 / $4 : "nan")
      out = out (n++ ? " / " : "") (v ~ /^[0-9.]+$/ ? grp(v) : v)
    }
    END { print (n ? out : "n/a") }' "$CG_TSV"
}

# cg_mean LABEL SCENARIO: mean Ir per fetch over the reps (plain number).
cg_mean() {
  awk -F'\t' -v l="$1" -v s="$2" '
    $1 == l && $2 == s && $4 > 0 && $5 ~ /^[0-9]+$/ { t += $5 / $4; n++ }
    END { if (n) printf "%.0f", t / n; else print "nan" }' "$CG_TSV"
}

# cg_spread LABEL SCENARIO: (max - min) / mean of Ir per fetch, in %.
cg_spread() {
  awk -F'\t' -v l="$1" -v s="$2" '
    $1 == l && $2 == s && $4 > 0 && $5 ~ /^[0-9]+$/ {
      v = $5 / $4; t += v; n++
      if (n == 1 || v < lo) lo = v
      if (n == 1 || v > hi) hi = v }
    END { if (n > 1) printf "%.2f%%", 100 * (hi - lo) / (t / n); else print "—" }' "$CG_TSV"
}

# cg_report "LABEL=BINARY"...: the markdown section.
cg_report() {
  local nginx_mean spec label sc mean desc tag
  nginx_mean=$(cg_mean nginx B)
  cat <<EOF
### Instructions per fetch (callgrind)

valgrind --tool=callgrind, collection on only around each measured batch ($CG_FETCHES requests after $CG_WARMUP of warm-up, $CG_CONCURRENCY in flight), all threads of the process summed; $CG_REPS batches per scenario in the same process, each value listed (rep 1 / rep 2 …). User-space instructions only (the kernel's work in syscalls is not in Ir).

| fetchpoold | Scenario | fetches | Ir total | **Ir per fetch** | spread | ratio to nginx B (means) |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
EOF
  for spec in "$@"; do
    label=${spec%%=*}
    for sc in E S; do
      case $sc in
        E) desc="E unary Fetch (fetch_load, $CG_CONCURRENCY in flight over $CG_CHANNELS channel(s))" ;;
        S) desc="S FetchStream (stream_load, $CG_CHANNELS stream(s) × $CG_WINDOW in flight)" ;;
      esac
      mean=$(cg_mean "$label" "$sc")
      printf '| %s | %s | %s | %s | **%s** | %s | %s |\n' "$label" "$desc" \
        "$(cg_stat "$label" "$sc" fetches)" "$(cg_stat "$label" "$sc" ir)" \
        "$(cg_stat "$label" "$sc" per)" "$(cg_spread "$label" "$sc")" \
        "$( [[ $mean == nan || $nginx_mean == nan ]] && echo n/a || awk -v a="$mean" -v b="$nginx_mean" 'BEGIN { printf "%.2f×", a / b }')"
    done
  done
  printf '| — | B nginx proxy, one process (h2load --h1 -c%s) | %s | %s | **%s** | %s | 1.00× |\n' \
    "$CG_CONCURRENCY" "$(cg_stat nginx B fetches)" "$(cg_stat nginx B ir)" "$(cg_stat nginx B per)" "$(cg_spread nginx B)"
  echo
  for spec in "$@"; do
    label=${spec%%=*}
    echo "- $label: \`${spec#*=}\`${BENCH_CG_FP_FLAGS:+ (flags: $BENCH_CG_FP_FLAGS)}"
  done
  for spec in "$@"; do
    label=${spec%%=*}
    tag=$(tr -c 'A-Za-z0-9_-' _ <<<"$label")
    tag=${tag%_}
    [[ -s $CG_DIR/fp-$tag.E.self.txt ]] || continue
    printf '\nTop %d functions of fetchpoold (%s) under E, rep 1, by self Ir (all threads; raw/callgrind/fp-%s.E.self.txt, .inclusive.txt, and the dump fp-%s.E.callgrind for kcachegrind):\n\n' \
      "$CG_TOP" "$label" "$tag" "$tag"
    echo '| Ir (self) | % | Ir per fetch | function |'
    echo '| ---: | ---: | ---: | --- |'
    local n
    n=$(awk -F'\t' -v l="$label" '$1 == l && $2 == "E" && $3 == 1 { print $4 }' "$CG_TSV")
    cg_top "$CG_DIR/fp-$tag.E.self.txt" "$CG_TOP" |
      awk -F'\t' -v n="${n:-0}" '{ ir = $1; gsub(",", "", ir)
        printf "| %s | %s | %s | `%s` |\n", $1, $2, (n > 0 ? sprintf("%.0f", ir / n) : "n/a"), $3 }'
    printf '\nTop %d by inclusive Ir (a function and everything it calls):\n\n' "$CG_TOP"
    echo '| Ir (inclusive) | % | Ir per fetch | function |'
    echo '| ---: | ---: | ---: | --- |'
    cg_top "$CG_DIR/fp-$tag.E.inclusive.txt" "$CG_TOP" |
      awk -F'\t' -v n="${n:-0}" '{ ir = $1; gsub(",", "", ir)
        printf "| %s | %s | %s | `%s` |\n", $1, $2, (n > 0 ? sprintf("%.0f", ir / n) : "n/a"), $3 }'
    if [[ -s $CG_DIR/fp-$tag.E.objects.txt ]]; then
      printf '\nSelf Ir by shared object (top 8):\n\n'
      echo '| object | Ir per fetch | % |'
      echo '| --- | ---: | ---: |'
      head -n 8 "$CG_DIR/fp-$tag.E.objects.txt" |
        awk -F'\t' -v n="${n:-0}" '{ printf "| %s | %s | %s |\n", $3, (n > 0 ? sprintf("%.0f", $1 / n) : "n/a"), $2 }'
    fi
  done
  if [[ -s $CG_NOTES ]]; then
    printf '\nCallgrind notes:\n\n'
    sed 's/^/- /' "$CG_NOTES"
  fi
}
