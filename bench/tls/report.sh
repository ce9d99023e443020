# bench/tls/report.sh: the table cells of bench/tls/run.sh and bench/h2/run.sh,
# and the HTTPS report (sourced after lib.sh; reads RUNS_TSV and ROUNDS).

# cell KEY: the median over rounds, with every round's value when it varies.
cell() {
  local m r
  m=$(median "$1")
  r=$(runs0 "$1")
  if [[ $ROUNDS -gt 1 && $r == *" / "* && $(tr -d ' ' <<<"$r" | tr '/' '\n' | sort -u | wc -l) -gt 1 ]]; then
    printf '%s (%s)' "$(fmt0 "$m")" "$r"
  else
    fmt0 "$m"
  fi
}

# cell1 KEY: the median, one decimal.
cell1() {
  local m
  m=$(median "$1")
  [[ $m == n/a ]] && { printf 'n/a'; return; }
  printf '%s' "$m"
}

write_tls_report() {
  local wall=$1
  echo "# HTTPS, measured (bench/tls/run.sh)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) · commit $GIT_REV · $(nproc) cores, load at start $LOAD_AT_START ·" \
    "kernel $(uname -r) · $(nginx -v 2>&1 | sed 's/^nginx version: //') · $(openssl version | cut -d' ' -f1-2) ·" \
    "$(go version | cut -d' ' -f3) · fetchpoold $FETCHPOOLD, C++ built from $SRC_DESC · certificate $KEY_DESC, TLS 1.3 only ·" \
    "$ROUNDS round(s) of ${DURATION} s, client concurrency $CONCURRENCY · wall time ${wall}s ·" \
    "\`bench/tls/run.sh$( ((QUICK)) && echo ' --quick')\`"
  echo
  echo "Medians over the rounds; counts show every round's value when they differ. Every run starts a fresh"
  echo "middle (nginx proxy, fetchpoold) or Go client. B-TLS, E-TLS, S-TLS and G-TLS are measured from cold: the"
  echo "run includes opening the connections. The -warm rows are measured after a warm-up on the same middle"
  echo "(B: wrk ${WARMUP_S} s; E and S: 640 Fetch calls, 64 at a time), so they show the steady state. G-TLS has no"
  echo "warm row: with MaxIdleConnsPerHost 2 at concurrency 64, Go's default Transport never settles."
  echo
  echo "| scenario | req/s | connections opened (origin accepts) | of those, carried a request (origin log) | full / resumed handshakes (origin log, those connections) | client's own count: handshakes / resumed | connections opened per 1k requests | CPU µs/req, middle or client | CPU µs/req, origin | slowest request, ms | errors |"
  echo "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
  local k mid own
  for k in B-TLS E-TLS S-TLS G-TLS B-TLS-warm E-TLS-warm S-TLS-warm; do
    case $k in
      B-TLS*) mid="nginx proxy"; own="— (nginx keeps no count)" ;;
      E-TLS* | S-TLS*)
        mid="fetchpoold"
        local agree
        agree=$(awk -F'\t' -v k="$k.agree" '$2 == k { s = s (n++ ? " / " : "") $3 } END { print (n ? s : "n/a") }' "$RUNS_TSV")
        own="Stats $(cell "$k.fp_handshakes") / $(cell "$k.fp_resumed") (agrees with the origin log: $agree)"
        ;;
      G-TLS) mid="Go client"; own="Go $(cell "$k.client_handshakes") / $(cell "$k.client_resumed")" ;;
    esac
    echo "| $k | $(cell "$k.rps") | $(cell "$k.accepts") | $(cell "$k.conns") | $(cell "$k.full") / $(cell "$k.resumed") | $own | $(cell1 "$k.accepts_per_1k") | $(cell1 "$k.cpu_mid") ($mid) | $(cell1 "$k.cpu_origin") | $(cell "$k.max_ms") | $(total "$k.errors") |"
  done
  echo
  echo "- B-TLS: wrk (plain HTTP, 1 thread, 64 connections) -> nginx proxy (1 worker; upstream keepalive 64, proxy_ssl_session_reuse on, verifies against the CA) -> HTTPS origin. CPU: the proxy's master + worker."
  echo "- E-TLS: fetch_load (64 unary Fetch in flight over 4 channels) -> fetchpoold --max_connections_per_host=64 --ca_file=CA -> origin. S-TLS: stream_load (4 FetchStream x 16 in flight). CPU: fetchpoold (all threads)."
  echo "- G-TLS: bench/tls/go \`tlsbench get\`: http.DefaultTransport cloned, TLSClientConfig{RootCAs: CA} and nothing else (MaxIdleConnsPerHost 2, no ClientSessionCache), 64 goroutines in a closed loop. CPU: the Go process itself over its load loop (it is client and load generator in one)."
  echo "- Connections opened: the origin's stub_status accepts over the run. Carried a request: connection serials first seen in the origin's access log (\`\$connection \$ssl_session_reused ...\`) during the run; full vs resumed from each one's first request. A connection that never carried a request (a handshake that failed or stalled, or one the client dialled and then did not need) is in the first count only: the origin's log cannot say how its handshake went."
  echo "- Client's own count: fetchpoold's Stats \`tls_handshakes_total\` / \`tls_sessions_resumed_total\` for the pool $POOL_KEY at the end of the run (a fresh fetchpoold per run; \"agrees\": handshakes = connections that carried a request, resumed = their resumed); Go: a \`tls.Config.VerifyConnection\` hook that only counts (every completed handshake, \`DidResume\`)."
  echo "- Slowest request: the longest single request of the run (wrk's latency max; fetch_load's, stream_load's and tlsbench's max): with a fresh middle per run, the cold start (the first 64 connections opened at once) shows here."
  echo "- Protocols the origin logged: $(awk -F'\t' '$2 ~ /\.protocols$/ { split($3, a, ","); for (i in a) { sub(/:[0-9]+$/, "", a[i]); p[a[i]] = 1 } } END { for (k in p) s = s (s == "" ? "" : ", ") k; print s }' "$RUNS_TSV")."
  echo
  echo "## Field scenario: 5 bursts of 256 concurrent GETs, 1 s apart, HTTPS origin"
  echo
  if [[ $FIELD_STATUS != measured ]]; then
    echo "$FIELD_STATUS"
  else
    echo "| client | connections opened (origin accepts) | of those, carried a request (origin log) | full handshakes (origin log) | resumed handshakes (origin log) | TIME_WAIT after (client side + origin side) | errors | requests ok / total | client's own count |"
    echo "|---|---:|---:|---:|---:|---:|---|---:|---|"
    jq -r '"| \(.row_label) | \(.origin_accepts // "?") | \(.origin_connections) | \(.origin_full) | \(.origin_resumed) | \((.tw_client_side // 0) + (.tw_origin_side // 0)) (\(.tw_client_side // "?") + \(.tw_origin_side // "?")) | " +
           (if ((.errors // {}) | length) == 0 and ((.non2xx // 0) == 0) then "0" else ((.errors // {}) | to_entries | map("\(.value) \(.key)") | join(", ")) + (if (.non2xx // 0) > 0 then " \(.non2xx) non-2xx" else "" end) end) +
           " | \(.ok // 0) / \(.requests // 0) | " +
           (if .client == "fetchpool" then "Stats: \(.client_extra.connections_opened_total // "?") opened, \(.client_extra.tls_handshakes_total // "?") handshakes, \(.client_extra.tls_sessions_resumed_total // "?") resumed"
            else "dials \(.dials // "?") (per burst \((.dials_per_burst // []) | map(tostring) | join("/"))), TLS handshakes \(.client_extra.tls_handshakes // "?"), resumed \(.client_extra.tls_resumed // "?")" end) + " |"' \
      "$RAW/field.jsonl"
    echo
    echo "- Each row: a fresh origin (same config) on a port below the ephemeral range; \`ffbench burst --ca\` (bench/field-failures/go) with Go's default Transport (RootCAs set, nothing else) or through fetchpoold (defaults, plus --ca_file). TIME_WAIT: \`ss\` on the origin's port 300 ms after the last burst."
  fi
  if [[ -s $NOTES_FILE ]]; then
    echo
    echo "## Notes from this run"
    echo
    sed 's/^/- /' "$NOTES_FILE"
  fi
}
