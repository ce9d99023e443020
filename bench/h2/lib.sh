# bench/h2/lib.sh: the HTTP/2 scenarios and report of bench/h2/run.sh
# (sourced by it), on top of bench/lib's and bench/tls's functions, which it
# sources first. Functions only; they read run.sh's globals.

for f in lib/common.sh lib/nginx.sh lib/report.sh tls/lib.sh tls/report.sh; do
  # shellcheck source=/dev/null
  source "$BENCH_DIR/$f"
done

# h2_fetchpoold KIND KEY WARM HTTP_VERSION: scenario_e or scenario_s (KIND e
# or s) with fetchpoold --http_version=HTTP_VERSION, while `tlsbench watch`
# samples the pool's Stats every 200 ms (streams_in_use, busy connections);
# then records what fetchpoold's Stats said: protocol, connections opened
# over its whole life (warm-up included) and the sampled maxima.
h2_fetchpoold() {
  local kind=$1 key=$2 warm=$3 version=$4 watch_out=$RAW/$2.r$ROUND.watch.json
  "$TLSBENCH" watch --target="$FP_TARGET" --host="$POOL_KEY" --interval=200ms \
    >"$watch_out" 2>"$watch_out.err" </dev/null &
  local watcher=$!
  track_pid "$watcher"
  "scenario_$kind" "$key" "$warm" --http_version="$version"
  stop_pid "$watcher" 5
  local stats=$RAW/$key.r$ROUND.stats.json
  [[ -s $stats ]] || stats=/dev/null
  record "$key.fp_protocol" "$(jq -r '.protocol // "?" | if . == "" then "none" else . end' "$stats" 2>/dev/null || echo '?')"
  record "$key.fp_opened_life" "$(jq -r '.connections_opened_total // "nan"' "$stats" 2>/dev/null || echo nan)"
  record "$key.fp_streams_max" "$(jq -r '.streams_in_use_max // "nan"' "$watch_out" 2>/dev/null || echo nan)"
  record "$key.fp_busy_max" "$(jq -r '.busy_connections_max // "nan"' "$watch_out" 2>/dev/null || echo nan)"
  record "$key.fp_max_streams" "$(jq -r '.max_streams_per_connection // "nan"' "$watch_out" 2>/dev/null || echo nan)"
  log "$key: fetchpoold protocol $(this_round "$key.fp_protocol"), opened $(this_round "$key.fp_opened_life") in its life, streams_in_use max $(this_round "$key.fp_streams_max") on at most $(this_round "$key.fp_busy_max") busy connections"
}

# h2_go KEY PROTO: scenario_g with `tlsbench get --proto=PROTO` (h2, h1, x2);
# records the protocols of Go's responses.
h2_go() {
  scenario_g "$1" --proto="$2"
  record "$1.go_protos" "$(jq -r '.protos // {} | to_entries | map("\(.key):\(.value)") | join(",") | if . == "" then "none" else . end' "$OUT" 2>/dev/null || echo '?')"
}

# h2_round: one round of every scenario, interleaved; CONCURRENCY is set
# here (64, then HIGH unless it is 0).
h2_round() {
  CONCURRENCY=64
  scenario_b B-TLS-warm 1
  h2_fetchpoold e E-H2 0 auto
  h2_fetchpoold e E-H1 0 http1.1
  h2_fetchpoold s S-H2 0 auto
  h2_fetchpoold s S-H1 0 http1.1
  h2_go G-H2 h2
  h2_go G-H1 h1
  h2_go G-X2 x2
  h2_fetchpoold e E-H2-warm 1 auto
  h2_fetchpoold e E-H1-warm 1 http1.1
  h2_fetchpoold s S-H2-warm 1 auto
  h2_fetchpoold s S-H1-warm 1 http1.1
  ((HIGH > 0)) || return 0
  CONCURRENCY=$HIGH
  h2_fetchpoold e "E-H2-c$HIGH" 0 auto
  h2_fetchpoold e "E-H1-c$HIGH" 0 http1.1
  h2_fetchpoold s "S-H2-c$HIGH" 0 auto
  h2_go "G-H2-c$HIGH" h2
  h2_go "G-X2-c$HIGH" x2
  CONCURRENCY=64
}

H2_KEYS_64=(B-TLS-warm E-H2 E-H1 S-H2 S-H1 G-H2 G-H1 G-X2 E-H2-warm E-H1-warm S-H2-warm S-H1-warm)

# want_protocol KEY: what the origin must log for KEY's requests.
want_protocol() {
  case $1 in
    ?-H2* | G-X2*) echo HTTP/2.0 ;;
    *) echo HTTP/1.1 ;;
  esac
}

# values KEY: every round's distinct values of a text field, "a / b".
values() {
  awk -F'\t' -v k="$1" '$2 == k && !seen[$3]++ { s = s (n++ ? " / " : "") $3 } END { print (n ? s : "n/a") }' "$RUNS_TSV"
}

# origin_protocols KEY: the protocols the origin logged for KEY's requests
# over all rounds ("HTTP/2.0", "HTTP/1.1"), with their share when mixed.
origin_protocols() {
  awk -F'\t' -v k="$1.protocols" '$2 == k { n = split($3, a, ",")
      for (i = 1; i <= n; i++) { c = a[i]; m = c; sub(/:[0-9]+$/, "", m); sub(/^.*:/, "", c); sub(/^TLSv[0-9.]+\//, "", m); p[m] += c; t += c } }
    END { for (m in p) s = s (s == "" ? "" : ", ") m (length(p) > 1 ? sprintf(" %.1f%%", 100 * p[m] / t) : ""); print (s == "" ? "n/a" : s) }' "$RUNS_TSV"
}

# h2_row KEY: one row of the table.
h2_row() {
  local k=$1 conc=64 label own mid
  [[ $k =~ -c([0-9]+)$ ]] && conc=${BASH_REMATCH[1]}
  case $k in
    B-TLS*) label="nginx proxy (HTTP/1.1 upstream), warm"; mid="nginx proxy"; own="— (nginx keeps no count)" ;;
    E-* | S-*)
      label="FetchStream, http_version=http1.1"
      [[ $k == E-* ]] && label="unary Fetch${label#FetchStream}"
      [[ $k == ?-H2* ]] && label="${label%http1.1}auto"
      [[ $k == *-warm ]] && label+=", warm"
      mid=fetchpoold
      own="$(values "$k.fp_protocol"), opened $(cell "$k.fp_opened_life") ($(cell "$k.fp_opened") in the run), streams_in_use max $(cell "$k.fp_streams_max") on ≤ $(cell "$k.fp_busy_max") busy, $(cell "$k.fp_max_streams") streams/conn"
      ;;
    G-*)
      case $k in
        G-H2*) label="Go net/http, ForceAttemptHTTP2" ;;
        G-H1*) label="Go net/http, HTTP/1.1 only (Protocols)" ;;
        G-X2*) label="Go golang.org/x/net/http2.Transport" ;;
      esac
      mid="Go client"
      own="responses $(values "$k.go_protos"); $(cell "$k.client_handshakes") handshakes"
      ;;
  esac
  echo "| $k | $label | $conc | $(cell "$k.rps") | $(cell "$k.accepts") | $(cell "$k.conns") | $(origin_protocols "$k") | $own | $(cell1 "$k.cpu_mid") ($mid) | $(cell1 "$k.cpu_origin") | $(cell "$k.max_ms") | $(total "$k.errors") |"
}

# ratio_line TEXT A_KEY B_KEY FIELD: "TEXT: A / B = r" from the medians.
ratio_line() {
  local a b
  a=$(median "$2.$4")
  b=$(median "$3.$4")
  echo "- $1: $2 $(fmt0 "$a") / $3 $(fmt0 "$b") = $(ratio "$a" "$b")"
}

write_h2_report() {
  local wall=$1 k
  echo "# HTTP/2 to an nginx origin, measured (bench/h2/run.sh)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) · commit $GIT_REV · $(nproc) cores, load at start $LOAD_AT_START, at end $(cut -d' ' -f1-3 /proc/loadavg) ·" \
    "kernel $(uname -r) · $(nginx -v 2>&1 | sed 's/^nginx version: //') · $(openssl version | cut -d' ' -f1-2) · $(curl --version | head -n1 | cut -d' ' -f1-2) (curl CLI) ·" \
    "$(go version | cut -d' ' -f3) · fetchpoold $FETCHPOOLD, load tools$([[ -z ${BENCH_FETCHPOOLD:-} ]] && echo " and fetchpoold") built from $SRC_DESC · certificate $KEY_DESC, TLS 1.3 only ·" \
    "$ROUNDS round(s) of ${DURATION} s · wall time ${wall}s · \`bench/h2/run.sh$( ((QUICK)) && echo ' --quick')\`"
  echo
  echo "Medians over the rounds; counts show every round's value when they differ. One origin for every row: nginx, 1 worker, \`listen ... ssl http2\` (ALPN h2, then http/1.1), TLS 1.3, session cache and tickets, \`http2_max_concurrent_streams\` 128 (nginx's default). Every run starts a fresh fetchpoold or Go client; rows without -warm are measured from cold (the run opens the connections), -warm rows after 640 Fetch calls, 64 at a time, on the same fetchpoold."
  echo
  echo "| scenario | what | client concurrency | req/s | connections opened (origin accepts) | of those, carried a request (origin log) | protocol (origin log) | client's own view (fetchpoold Stats or Go) | CPU µs/req, middle or client | CPU µs/req, origin | slowest request, ms | errors |"
  echo "|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|"
  for k in "${H2_KEYS_64[@]}"; do h2_row "$k"; done
  if ((HIGH > 0)); then
    for k in "E-H2-c$HIGH" "E-H1-c$HIGH" "S-H2-c$HIGH" "G-H2-c$HIGH" "G-X2-c$HIGH"; do h2_row "$k"; done
  fi
  echo
  echo "Ratios (medians):"
  ratio_line "unary Fetch req/s, h2 / http1.1, warm" E-H2-warm E-H1-warm rps
  ratio_line "unary Fetch CPU µs/req in fetchpoold, h2 / http1.1, warm" E-H2-warm E-H1-warm cpu_mid
  ratio_line "unary Fetch CPU µs/req in the origin, h2 / http1.1, warm" E-H2-warm E-H1-warm cpu_origin
  ratio_line "FetchStream req/s, h2 / http1.1, warm" S-H2-warm S-H1-warm rps
  ratio_line "FetchStream CPU µs/req in fetchpoold, h2 / http1.1, warm" S-H2-warm S-H1-warm cpu_mid
  ratio_line "req/s, fetchpoold unary h2 warm / Go h2" E-H2-warm G-H2 rps
  ratio_line "CPU µs/req, fetchpoold unary h2 warm / Go h2 client" E-H2-warm G-H2 cpu_mid
  ratio_line "connections opened, http1.1 / h2, cold unary" E-H1 E-H2 accepts
  ratio_line "connections opened, Go net/http h2 / x/net/http2" G-H2 G-X2 accepts
  echo
  echo "- Connections opened: the origin's stub_status accepts over the run; carried a request: connection serials first seen in the origin's access log during the run. Protocol: the origin log's \`\$server_protocol\` of the run's requests (share shown when mixed)."
  echo "- fetchpoold's Stats for the pool $POOL_KEY: \`protocol\`; \`connections_opened_total\` over the process's life (warm-up included) and, in brackets, over the run; \`streams_in_use\` and \`busy_connections\`, largest of \`tlsbench watch\` samples every 200 ms over the process's life; \`max_streams_per_connection\` as the pool last reported it (1 for HTTP/1.1)."
  echo "- E: fetch_load, N unary Fetch in flight over 4 channels. S: stream_load, 4 FetchStreams x N/4 in flight. fetchpoold: --max_connections_per_host=N --ca_file=CA --http_version=auto|http1.1, default max_streams_per_connection (100). CPU: fetchpoold, all threads, /proc utime+stime."
  echo "- G: bench/tls/go \`tlsbench get --proto=h2|h1|x2\`: http.DefaultTransport cloned, TLSClientConfig{RootCAs: CA}; h2: ForceAttemptHTTP2 = true (net/http's bundled HTTP/2 transport, ALPN); h1: Transport.Protocols = HTTP/1 only (MaxIdleConnsPerHost 2 stays); x2: golang.org/x/net/http2.Transport{TLSClientConfig: the same} (HTTP/2 only). N goroutines, closed loop. CPU: the Go process over its load loop (client and load generator in one). Go's handshakes: a VerifyConnection hook that counts."
  echo "- B-TLS-warm: reference, wrk -> nginx proxy (upstream keepalive 64, HTTP/1.1 to the origin: nginx 1.22 proxies no HTTP/2) -> the same origin, after a warm-up."
  if [[ -s $NOTES_FILE ]]; then
    echo
    echo "## Notes from this run"
    echo
    sed 's/^/- /' "$NOTES_FILE"
  fi
}
