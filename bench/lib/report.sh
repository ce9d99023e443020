# bench/lib/report.sh: the markdown report of bench/run.sh (sourced, not run).
# Reads $RUNS_TSV ("round<TAB>key<TAB>value" lines).

# median KEY: the median over rounds of KEY's numeric values; "n/a" if none.
median() {
  awk -F'\t' -v k="$1" '
    $2 == k && $3 ~ /^-?[0-9.]+$/ { v[n++] = $3 + 0 }
    END {
      if (n == 0) { print "n/a"; exit }
      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      m = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
      printf "%.1f", m
    }' "$RUNS_TSV"
}

# runs KEY: every round's value, "a / b".
runs() {
  awk -F'\t' -v k="$1" '$2 == k { s = s (n++ ? " / " : "") $3 } END { print (n ? s : "n/a") }' "$RUNS_TSV"
}

# runs0 KEY: every round's value rounded to an integer, "a / b".
runs0() {
  awk -F'\t' -v k="$1" '$2 == k { s = s (n++ ? " / " : "") ($3 ~ /^-?[0-9.]+$/ ? sprintf("%.0f", $3) : $3) }
    END { print (n ? s : "n/a") }' "$RUNS_TSV"
}

# total KEY: the sum over rounds (error counts).
total() {
  awk -F'\t' -v k="$1" '$2 == k && $3 ~ /^[0-9]+$/ { s += $3 } END { print s + 0 }' "$RUNS_TSV"
}

# fmt0 NUMBER: rounded to an integer; n/a stays.
fmt0() {
  [[ $1 =~ ^-?[0-9.]+$ ]] && printf '%.0f' "$1" || printf 'n/a'
}

# ratio A B [DIGITS]
ratio() {
  if [[ $1 =~ ^-?[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && awk "BEGIN { exit !($2 > 0) }"; then
    awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { printf "%.*f", d, a / b }'
  else
    printf 'n/a'
  fi
}

# verdict VALUE TARGET: "met" / "missed" for a ratio that must be >= TARGET.
verdict() {
  if [[ $1 =~ ^[0-9.]+$ ]]; then
    awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "met" : "missed") }'
  else
    echo "not measured"
  fi
}

# throughput_row LABEL PATH TOOL PREFIX: one row of the throughput table.
throughput_row() {
  local label=$1 path=$2 tool=$3 p=$4
  local errors mid origin hung
  errors=$(total "$p.errors")
  hung=$(total "$p.hung")
  ((hung > 0)) && errors="$errors; fetchpoold hung in $hung run(s)"
  mid=$(median "$p.cpu_mid")
  origin=$(median "$p.cpu_origin")
  [[ $mid == n/a && $p == A ]] && mid="— (none)"
  [[ $origin == n/a && $p == C ]] && origin="— (no fetch)"
  local cs
  cs=$(median "$p.cs_mid")
  [[ $p == A ]] && cs="—"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$label" "$path" "$tool" "$(fmt0 "$(median "$p.rps")")" "$(runs "$p.rps")" \
    "$mid" "$cs" "$origin" "$errors"
}

# latency_row LABEL KEY
latency_row() {
  local label=$1 k=$2 base errors hung p50
  errors=$(total "lat.$k.errors")
  hung=$(total "lat.$k.hung")
  ((hung > 0)) && errors="$errors; fetchpoold hung in $hung run(s)"
  p50=$(fmt0 "$(median "lat.$k.p50")")
  # A median over 10 ms on loopback at half load is a queue, not a hop.
  [[ $p50 =~ ^[0-9]+$ ]] && ((p50 >= 10000)) && p50="$p50 ‡"
  base="$(fmt0 "$(median "lat.$k.base_p50")") / $(fmt0 "$(median "lat.$k.base_p99")")"
  local add50 add99
  add50="**$(fmt0 "$(median "lat.$k.add_p50")")** ($(runs0 "lat.$k.add_p50"))"
  add99="**$(fmt0 "$(median "lat.$k.add_p99")")** ($(runs0 "lat.$k.add_p99"))"
  if [[ $k == A ]]; then
    base="—"
    add50="— (reference)"
    add99="—"
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$label" "$(fmt0 "$(median "lat.$k.rate")")" "$(fmt0 "$(median "lat.$k.achieved")")" \
    "$p50" "$(fmt0 "$(median "lat.$k.p99")")" \
    "$base" \
    "$add50" "$add99" \
    "$errors"
}

# last KEY: the value of KEY's last record (strings).
last() {
  awk -F'\t' -v k="$1" '$2 == k { v = $3 } END { print (v == "" ? "n/a" : v) }' "$RUNS_TSV"
}

# thread_row LABEL PREFIX: fetchpoold's CPU per fetch by thread group.
thread_row() {
  local label=$1 p=$2 naming loops
  [[ $(median "$p.cpu_loop") == n/a ]] && return 0
  naming=$(last "$p.loop_naming")
  loops=$(last "$p.loops")
  [[ $naming == unnamed ]] && loops="1 (unnamed)"
  printf '| %s | %s | %s | %s | %s | %s | %s%% (%s) | %s |\n' "$label" "$loops" \
    "$(median "$p.cpu_mid")" "$(median "$p.cpu_loop")" \
    "$(runs "$p.cpu_per_loop" | sed 's/,/, /g')" "$(median "$p.cpu_rest")" \
    "$(fmt0 "$(median "$p.rest_share")")" "$(runs "$p.rest_share")" \
    "$(last "$p.cpu_by_name" | sed 's/,/, /g')"
}

# thread_rows: the rows of the runs that have a split (no blank lines).
thread_rows() {
  thread_row "E unary Fetch (h2load)" E_h2load
  thread_row "E unary Fetch (fetch_load)" E_fetch_load
  thread_row "E unary Fetch (ghz)" E_ghz
  thread_row "S FetchStream (stream_load)" S
  thread_row "E fetch_load, --event_loops=1" E_loops1
  thread_row "S, --event_loops=1" S_loops1
  thread_row "E fetch_load, --event_loops=2" E_loops2
  thread_row "S, --event_loops=2" S_loops2
}

# loops_row LABEL E_PREFIX S_PREFIX
loops_row() {
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" \
    "$(fmt0 "$(median "$2.rps")")" "$(median "$2.cpu_mid")" "$(median "$2.cpu_loop")" \
    "$(runs "$2.cpu_per_loop" | sed 's/,/, /g')" \
    "$(fmt0 "$(median "$3.rps")")" "$(median "$3.cpu_mid")" "$(median "$3.cpu_loop")" \
    "$(runs "$3.cpu_per_loop" | sed 's/,/, /g')"
}

write_thread_report() {
  cat <<EOF

### fetchpoold's CPU per fetch by thread group

| Run | loop threads | fetchpoold CPU µs/fetch | loop threads µs/fetch (sum) | each loop thread µs/fetch (per round) | gRPC's and other threads µs/fetch | share of fetchpoold's CPU outside the loops, which no second loop can take (per round) | other threads by name, µs/fetch (last round) |
| --- | --- | ---: | ---: | --- | ---: | ---: | --- |
$(thread_rows)

- utime + stime of each thread (/proc/PID/task/TID/stat) before and after the run, divided by the fetches answered; medians over rounds. Loop threads: those named fp-loop-N; a fetchpoold without them runs its one loop on a thread named like the process ("1 (unnamed)"): the one of those, the main thread excepted, that used the most CPU in the run. "gRPC's and other threads" is the process's total minus the loops (threads that ended during the run count there): gRPC's nexting_thread, default-executor, event_engine and timer threads, plus the idle main, Stats and metrics threads.
- One loop thread uses at most one core, so with one loop, throughput ≤ 10⁶ / (its µs per fetch). More loops split the loop work; the share outside the loops stays on gRPC's threads whatever the number of loops.

### --event_loops scaling

EOF
  if [[ $LOOPS_STATUS != measured ]]; then
    echo "Rows with --event_loops=1 and =2: $LOOPS_STATUS."
    return 0
  fi
  cat <<EOF
| fetchpoold | E req/s (fetch_load) | E CPU µs/req | E loop threads µs/req | E each loop | S req/s | S CPU µs/req | S loop threads µs/req | S each loop |
| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |
$(loops_row "default flags (rounds above, median)" E_fetch_load S)
$(loops_row "--event_loops=1 (one run)" E_loops1 S_loops1)
$(loops_row "--event_loops=2 (one run)" E_loops2 S_loops2)

- One ${DURATION} s closed-loop run each, after the rounds, on a fresh fetchpoold; throughput on these 2 shared cores moves by ±30%, the CPU split much less.
EOF
}

write_report() {
  local b e_h2 e_fl s c cpu_b cpu_e cpu_efl cpu_s cpu_c
  b=$(median B.rps)
  e_h2=$(median E_h2load.rps)
  e_fl=$(median E_fetch_load.rps)
  s=$(median S.rps)
  c=$(median C.rps)
  cpu_b=$(median B.cpu_mid)
  cpu_e=$(median E_h2load.cpu_mid)
  cpu_efl=$(median E_fetch_load.cpu_mid)
  cpu_s=$(median S.cpu_mid)
  cpu_c=$(median C.cpu_mid)
  local eb eflb sb
  eb=$(ratio "$e_h2" "$b")
  eflb=$(ratio "$e_fl" "$b")
  sb=$(ratio "$s" "$b")

  cat <<EOF
## fetchpool benchmark ($(date -u +'%Y-%m-%d %H:%M UTC'))

Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); load average at start: $LOAD_AT_START; fetchpool $GIT_REV; $ROUNDS round(s) of A B C E S, ${DURATION} s per throughput run, ${LAT_DURATION} s per latency run; harness wall time ${WALL_TIME} s (building: ${BUILD_SECONDS} s).
Every process (clients, nginx, fetchpoold) shares the same cores, so the client's own CPU is part of every number.

### Throughput and CPU (closed loop, 64 requests in flight)

| Scenario | Path | Load tool | req/s (median) | req/s per round | middle-hop CPU µs/req | middle-hop context switches/req | origin CPU µs/req | errors |
| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: |
$(throughput_row A "wrk → origin (the ceiling)" "wrk -t1 -c64" A)
$(throughput_row B "wrk → nginx proxy → origin" "wrk -t1 -c64" B)
$(throughput_row C "gRPC Health/Check, no fetch" "h2load -c4 -m16" C)
$(throughput_row C "gRPC Health/Check, no fetch" "stream_load --mode=health, 4 channels × 16" C_grpc)
$(throughput_row E "unary Fetch → origin" "h2load -c4 -m16" E_h2load)
$(throughput_row E "unary Fetch → origin" "fetch_load -c64, 4 channels" E_fetch_load)
$(throughput_row E "unary Fetch → origin (cross-check)" "ghz -c64, 4 connections" E_ghz)
$(throughput_row S "FetchStream → origin" "stream_load 4 streams × 16" S)

- **req/s**: requests answered per second during the run (2xx only; gRPC: status OK and HTTP 2xx inside), median over rounds; per-round values beside it. ghz runs once (after round 1), as a cross-check of the C++ clients.
- **middle-hop CPU µs/req**: CPU time (user + system, all threads, from /proc/PID/stat) of the middle hop during the run divided by the requests it served: nginx proxy master + worker for B; fetchpoold for C, E and S; none for A.
- **middle-hop context switches/req**: voluntary + involuntary switches of all the middle hop's threads (/proc/PID/task/*/status) per request: thread hand-offs show up here.
- **origin CPU µs/req**: the same for the origin nginx (the same work in A, B, E and S; a check that the origin is not the bottleneck).
- **errors**: failed requests over all rounds (transport errors, non-2xx, gRPC errors, FetchStream errors, answers with unknown ids, fetchpoold's failures_total delta).

### Added latency at 50% load (open loop, constant rate, from the intended send time)

| Scenario | rate req/s (50% of peak) | achieved req/s | p50 µs | p99 µs | A at the same rate p50 / p99 µs | **added p50 µs** (per round) | **added p99 µs** (per round) | errors |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(latency_row "A: direct to origin (http_open_loop; reference)" A)
$(latency_row "B: nginx proxy (http_open_loop)" B)
$(latency_row "C: gRPC no-op (stream_load --mode=health --rate)" C)
$(latency_row "E: unary Fetch (fetch_load --rate)" E)
$(latency_row "S: FetchStream (stream_load --rate)" S)

- Each scenario X runs open loop at half the closed-loop peak that the same kind of client measured this round (wrk's for A and B, stream_load's health peak for C, fetch_load's for E, stream_load's for S: a C++ gRPC client cannot drive what h2load can on these cores), then A (direct to the origin) runs at the same rate right after it; **added** = X − A at that rate, median over rounds. The A row is A at half of A's peak, absolute.
- Clients: http_open_loop (plain sockets on epoll, 64 keep-alive connections) for A and B; stream_load --rate for C (unary Health/Check, 4 channels) and S (4 streams); fetch_load --rate for E (4 channels). Latency counts from the intended send time, so a stalled client or server is charged for the queue behind it.
- ‡: a median over 10 ms at half load means requests queued: the client or the shared machine could not sustain the rate during that run; read it as saturation, not as the hop's latency.

### Ratios (medians)

| Ratio | Value | Target (issue 5) |
| --- | ---: | --- |
| E/B req/s (h2load) | $eb | ≥ 0.5: $(verdict "$eb" 0.5) |
| E/B req/s (fetch_load) | $eflb | ≥ 0.5: $(verdict "$eflb" 0.5) |
| S/B req/s | $sb | ≥ 1.0: $(verdict "$sb" 1.0) |
| C/B req/s (gRPC's own ceiling here, h2load) | $(ratio "$c" "$b") | |
| E/C req/s with the same C++ gRPC client (fetch_load vs stream_load health) | $(ratio "$e_fl" "$(median C_grpc.rps)") | |
| CPU/req E (h2load) vs B (nginx proxy) | $(ratio "$cpu_e" "$cpu_b") × ($cpu_e vs $cpu_b µs) | as close to 1 as possible |
| CPU/req E (fetch_load) vs B | $(ratio "$cpu_efl" "$cpu_b") × ($cpu_efl vs $cpu_b µs) | |
| CPU/req S vs B | $(ratio "$cpu_s" "$cpu_b") × ($cpu_s vs $cpu_b µs) | |
| CPU/req C (gRPC alone) vs B | $(ratio "$cpu_c" "$cpu_b") × ($cpu_c vs $cpu_b µs) | |
EOF
  write_thread_report
  echo
  if ((CG_DONE)); then
    cg_report "${CG_SPECS[@]}"
  else
    printf '### Instructions per fetch (callgrind)\n\nSkipped: %s.\n' "${CG_SKIPPED:---no-callgrind}"
  fi
  if [[ -s $NOTES_FILE ]]; then
    printf '\n### Notes from this run\n\n'
    sed 's/^/- /' "$NOTES_FILE"
  fi
}
