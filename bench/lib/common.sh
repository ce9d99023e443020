# bench/lib/common.sh: helpers for bench/run.sh (sourced, not run).
#
# Process tracking: every long-lived process the harness starts is recorded
# with track_pid and ended by cleanup_tracked (run from the EXIT trap), by
# its own pid only.

BENCH_PIDS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

track_pid() { BENCH_PIDS+=("$1"); }

# untrack_pid PID: forget a process the harness has already ended and waited
# for, so that cleanup never signals a pid the system may have reused.
untrack_pid() {
  local keep=() p
  for p in "${BENCH_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]}")
}

# stop_pid PID [GRACE_S]: SIGTERM, up to GRACE_S (10) seconds, then SIGKILL;
# waits for it and untracks it. PID must be a child of this shell.
stop_pid() {
  local pid=$1 deadline=$((SECONDS + ${2:-10}))
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  untrack_pid "$pid"
}

# Ends the tracked processes: SIGTERM, up to 5 s of grace, then SIGKILL.
cleanup_tracked() {
  local pid alive deadline
  for pid in "${BENCH_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  deadline=$((SECONDS + 5))
  while ((SECONDS < deadline)); do
    alive=0
    for pid in "${BENCH_PIDS[@]}"; do
      if kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${BENCH_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not stop on SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  BENCH_PIDS=()
}

# bench_tmp_dir PREFIX LOGS_DIR: makes $BENCH_TMP (readable by nginx's
# workers, which run as another user) and arranges that on any exit every
# tracked process is ended, the logs in $BENCH_TMP are kept in LOGS_DIR and
# the rest (configs, temp dirs) is removed.
bench_tmp_dir() {
  BENCH_TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$BENCH_TMP"
  BENCH_LOGS_DIR=$2
  trap bench_on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
bench_on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  cleanup_tracked
  cp "$BENCH_TMP"/*.log "$BENCH_LOGS_DIR/" 2>/dev/null || true
  rm -rf "$BENCH_TMP"
  exit "$rc"
}

# A free TCP port on 127.0.0.1 (not listening now, and not handed out before
# by this harness).
BENCH_PORTS_TAKEN=" "
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    [[ $BENCH_PORTS_TAKEN == *" $p "* ]] && continue
    if [[ -z $(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null) ]]; then
      BENCH_PORTS_TAKEN+="$p "
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# wait_for SECONDS COMMAND...: retries COMMAND every 0.1 s until it succeeds.
wait_for() {
  local secs=$1
  shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID...: utime + stime of the processes (all their threads), in
# clock ticks, from /proc/PID/stat fields 14 and 15. The comm field may hold
# spaces, so fields are counted after its closing parenthesis.
cpu_ticks() {
  local pid total=0 t
  for pid in "$@"; do
    t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null) || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}

# ctx_switches PID...: voluntary + involuntary context switches of every
# thread of the processes (threads that exited are not counted).
ctx_switches() {
  local pid
  for pid in "$@"; do
    cat /proc/"$pid"/task/*/status 2>/dev/null || true
  done | awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}

# thread_ticks PID: one line per live thread of PID, "tid<TAB>comm<TAB>ticks"
# (utime + stime from /proc/PID/task/TID/stat; the tid is its first field,
# the thread name sits between its parentheses).
thread_ticks() {
  cat /proc/"$1"/task/*/stat 2>/dev/null | awk '{
    tid = $1
    comm = $0; sub(/^[^(]*\(/, "", comm); sub(/\) [^)]*$/, "", comm)
    rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
    gsub(/[ \t]/, "_", comm)
    printf "%s\t%s\t%d\n", tid, comm, f[12] + f[13]
  }'
}

# thread_split BEFORE AFTER PID PROCESS_TICKS FETCHES [PROCESS_NAME]: splits a run's CPU
# between the event-loop threads and the rest, from two thread_ticks
# snapshots (files) and the process's own tick delta (which also counts the
# threads that ended during the run). Loop threads are those named
# fp-loop-N; a fetchpoold without them runs one loop on an unnamed thread
# (named like the process): the one of those, the main thread excepted, that
# used the most CPU during the run. Prints one line of key=value fields:
#   loops=N  loop_us (all loop threads, µs per fetch)
#   per_loop (name:µs per fetch, comma-separated)  rest_us (every other
#   thread, gRPC's above all)  rest_share (rest / process, %)  naming
#   (fp-loop | unnamed)  by_name (the other threads by name, µs per fetch).
thread_split() {
  local before=$1 after=$2 pid=$3 total=$4 n=$5 pcomm=${6:-}
  [[ -n $pcomm ]] || pcomm=$(cat /proc/"$pid"/comm 2>/dev/null || echo '?')
  awk -F'\t' -v pid="$pid" -v pcomm="$pcomm" -v total="$total" -v n="$n" -v hz="$CLK_TCK" '
    function us(t) { return (n > 0) ? sprintf("%.1f", t * 1e6 / hz / n) : "nan" }
    FNR == NR { t0[$1] = $3; next }
    {
      d = $3 - (($1 in t0) ? t0[$1] : 0)
      tid[++k] = $1; name[k] = $2; delta[k] = d
      if ($2 ~ /^fp-loop-[0-9]+$/) named++
    }
    END {
      if (named) {
        naming = "fp-loop"
        for (i = 1; i <= k; i++) if (name[i] ~ /^fp-loop-[0-9]+$/) loop[i] = 1
      } else {
        naming = "unnamed"; best = 0
        for (i = 1; i <= k; i++)
          if (tid[i] != pid && name[i] == pcomm && (!best || delta[i] > delta[best])) best = i
        if (best) loop[best] = 1
      }
      lsum = 0; loops = 0; per = ""
      for (i = 1; i <= k; i++) if (i in loop) {
        loops++; lsum += delta[i]
        per = per (per == "" ? "" : ",") (naming == "fp-loop" ? name[i] : "loop") ":" us(delta[i])
      }
      rest = total - lsum; if (rest < 0) rest = 0
      for (i = 1; i <= k; i++) if (!(i in loop)) byname[name[i] == pcomm ? "unnamed" : name[i]] += delta[i]
      seen = 0; for (i = 1; i <= k; i++) seen += delta[i]
      if (total > seen) byname["ended-threads"] += total - seen
      bn = ""; for (m in byname) if (byname[m] > 0) bn = bn (bn == "" ? "" : ",") m ":" us(byname[m])
      share = (total > 0) ? sprintf("%.0f", 100 * rest / total) : "nan"
      printf "loops=%d loop_us=%s per_loop=%s rest_us=%s rest_share=%s naming=%s by_name=%s\n",
        loops, us(lsum), (per == "" ? "none" : per), us(rest), share, naming, (bn == "" ? "none" : bn)
    }' "$before" "$after"
}

# kv FIELD <<<"a=1 b=2": the value of one field of a thread_split line.
kv() { tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1; }

# ticks_to_us_per_req TICKS REQUESTS
ticks_to_us_per_req() {
  awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" \
    'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "nan" }'
}

# nginx_pids MASTER: the master and its workers.
nginx_pids() {
  echo "$1" $(pgrep -P "$1" 2>/dev/null)
}

# json_get FIELD < flat-json: the value of a top-level number or string field
# (our tools print flat objects; ghz's "rps" and "count" are top-level too).
json_get() {
  { grep -o "\"$1\":[^,}]*" || true; } | head -n1 | sed -e "s/^\"$1\"://" -e 's/^"//' -e 's/"$//'
}

# json_int FIELD < flat-json: an integer field, 0 when absent.
json_int() {
  local v
  v=$(json_get "$1")
  [[ $v =~ ^-?[0-9]+$ ]] && echo "$v" || echo 0
}

# What a report says about the run: HARNESS_START (for its wall time),
# LOAD_AT_START, and GIT_REV (the short commit, "+ uncommitted changes" when
# a tracked file differs from it). Reads ROOT.
bench_provenance() {
  HARNESS_START=$SECONDS
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
  GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    GIT_REV+=" + uncommitted changes"
  fi
}

# wrk_totals FILE: from wrk's output, WRK_RPS (empty if wrk printed none),
# WRK_REQUESTS and WRK_ERRORS (answers not 2xx/3xx plus socket errors).
wrk_totals() {
  local non2xx sockerr
  WRK_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$1")
  WRK_REQUESTS=$(awk '/ requests in / { print $1 }' "$1")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$1")
  sockerr=$(awk -F'[ ,]+' '/Socket errors:/ { print $4 + $6 + $8 + $10 }' "$1")
  WRK_ERRORS=$((${non2xx:-0} + ${sockerr:-0}))
}

# bench_results_dir RAW RUNS_TSV: empties the raw-output dir RAW and the
# rows file RUNS_TSV (see record), and starts NOTES_FILE (RAW/notes.txt),
# which note appends to (the report lists its lines).
bench_results_dir() {
  RAW=$1
  RUNS_TSV=$2
  NOTES_FILE=$RAW/notes.txt
  rm -rf "$RAW"
  mkdir -p "$RAW"
  : >"$RUNS_TSV"
  : >"$NOTES_FILE"
}
note() { log "note: $*"; printf '%s\n' "$*" >>"$NOTES_FILE"; }

# Results: one "round<TAB>key<TAB>value" line per measurement.
record() {
  printf '%s\t%s\t%s\n' "$ROUND" "$1" "$2" >>"$RUNS_TSV"
}

# calc EXPR: floating-point arithmetic with awk ("nan" in, "nan" out).
calc() {
  if [[ $* == *nan* || -z $* ]]; then echo nan; return; fi
  awk "BEGIN { r = ($*); if (r != r) print \"nan\"; else printf \"%.1f\", r }" 2>/dev/null || echo nan
}

# grpc_frame IN OUT: wraps a serialized message in gRPC's 5-byte frame
# (compressed flag 0, 4-byte big-endian length).
grpc_frame() {
  local n
  n=$(stat -c %s "$1")
  {
    printf "$(printf '\\x00\\x%02x\\x%02x\\x%02x\\x%02x' $(((n >> 24) & 255)) $(((n >> 16) & 255)) \
      $(((n >> 8) & 255)) $((n & 255)))"
    cat "$1"
  } >"$2"
}
