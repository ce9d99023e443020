#!/usr/bin/env bash
# The status page (GET / on the metrics listener, server/status_page.html)
# in a real browser: Debian's headless Chromium loads it from a real
# fetchpoold with 3 pools, one of them saturated, and the DOM it renders is
# checked.
#
# Env: FETCHPOOL_SOURCE_DIR, FETCHPOOL_BUILD_DIR (fetchpoold, the test origin,
# fetchpoolctl); CHROMIUM (default: chromium on PATH).
#
# Load (all on loopback, --max_connections_per_host=1):
#   QUIET  one fetch, then nothing: busy 0, idle 1, waiting 0
#   FAST   one fetch after the other: busy + idle = 1, never waiters
#   SLOW   8 fetch loops against a 200 ms origin: busy 1, waiting >= 1.
#          Each loop starts a fetchpoolctl process per fetch, which takes
#          a few hundred ms under ASan or TSan; the origin is slow enough
#          that the pool (5 fetches/s) stays the bottleneck even then, so
#          the queue never empties (with a 50 ms origin, ASan runs saw
#          waiting 0 at the moment of the snapshot).
# Checks, on the DOM after the page has refreshed at least 3 times:
#   - 3 pool rows, one per origin, with the counts above;
#   - REQ/S of SLOW, the busy pool, above 0 (rates are computed in the page);
#   - the WAIT cell of SLOW, and only SLOW, is highlighted (class saturated);
#   - #filter=:<SLOW port> shows SLOW alone, #sort=host orders by host.
# The screenshot goes to $FETCHPOOL_BUILD_DIR/artifacts/status_page.png (the
# CI artifact; docs/status_page.png in the README is one of these).
# Exit 77 (ctest: skipped) without a chromium binary.
set -euo pipefail

source "${FETCHPOOL_SOURCE_DIR:?}/tests/lib/live_servers.sh"
CTL=${FETCHPOOLCTL:-$LIVE_BUILD_DIR/client-sdk/cpp/fetchpoolctl}
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
# Skipped, not failed, on a machine without the browser (dev.sh's
# ensure_deps installs it for CI).
[[ -x $CHROMIUM ]] || { echo "SKIP: no chromium (apt-get install chromium)"; exit 77; }

live_init status_page_browser_test "${FETCHPOOL_BROWSER_TEST_LIMIT:-150}"
[[ -x $CTL ]] || fail "no fetchpoolctl at $CTL (build first)"
WORK=$LIVE_WORK
ARTIFACTS=$LIVE_BUILD_DIR/artifacts
mkdir -p "$ARTIFACTS"

live_start_origin QUIET
live_start_origin FAST
live_start_origin SLOW --response_delay_ms=200
live_start_fetchpoold FP --max_connections_per_host=1 --wait_timeout=60s --idle_timeout=600s
[[ -n $FP_METRICS_PORT ]] || fail "fetchpoold did not say its metrics port"
PAGE=http://127.0.0.1:$FP_METRICS_PORT/
log "fetchpoold gRPC 127.0.0.1:$FP_PORT, status page $PAGE"

FETCH=(timeout 70 "$CTL" --target="127.0.0.1:$FP_PORT" --timeout=65s fetch)
"${FETCH[@]}" "http://127.0.0.1:$QUIET_PORT/echo" >/dev/null || fail "fetch from QUIET failed"
# Load loops, in the background until the script ends: live_cleanup stops
# them with the servers (a loop also ends at its first failed fetch).
# A loop passes the TERM on to its fetch in flight, which would otherwise
# outlive it.
loop() {
  local child=''
  trap 'kill "$child" 2>/dev/null; exit 0' TERM
  while time_left; do
    "${FETCH[@]}" "$1" >/dev/null 2>>"$WORK/load.err" &
    child=$!  # timeout itself: it hands a TERM on to fetchpoolctl
    wait "$child" || return 0
  done
}
loop "http://127.0.0.1:$FAST_PORT/echo" &
LIVE_PIDS+=($!)
for _ in 1 2 3 4 5 6 7 8; do
  loop "http://127.0.0.1:$SLOW_PORT/echo" &
  LIVE_PIDS+=($!)
done

# Wait until the server itself shows what the page should: 3 pools, SLOW
# with waiters.
ready=0
while time_left; do
  json=$(http_get 127.0.0.1 "$FP_METRICS_PORT" /stats.json || true)
  if python3 - "$json" "$SLOW_PORT" <<'EOF'; then
import json, sys
stats = json.loads(sys.argv[1] or "{}")
pools = {p["host"]: p for p in stats.get("pools", [])}
slow = pools.get("http://127.0.0.1:" + sys.argv[2], {})
sys.exit(0 if len(pools) == 3 and slow.get("waitQueueLength", 0) >= 1 else 1)
EOF
    ready=1
    break
  fi
  sleep 0.2
done
((ready)) || fail "fetchpoold never showed 3 pools with waiters on SLOW: $json"

# --headless --dump-dom prints the DOM once a budget of virtual time has
# run: 1 s refreshes, so 4.5 s is 4 refreshes (the first has no rates yet).
# Virtual timers fire at once in real time, but virtual time stands still
# while a fetch is pending: a pass-through proxy that answers /stats.json
# 0.5 s late makes each refresh take real time, so the page sees real
# growth between its snapshots. The page and the JSON are fetchpoold's,
# byte for byte.
python3 - "$FP_METRICS_PORT" >"$WORK/proxy.out" 2>"$WORK/proxy.err" <<'EOF' &
import http.server, sys, time, urllib.error, urllib.request
UPSTREAM = "http://127.0.0.1:" + sys.argv[1]
class Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/stats.json"):
            time.sleep(0.5)
        try:
            with urllib.request.urlopen(UPSTREAM + self.path, timeout=10) as r:
                status, body, kind = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, body, kind = e.code, e.read(), "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
EOF
PROXY_PID=$!
LIVE_PIDS+=("$PROXY_PID")
line=$(wait_for_line "$WORK/proxy.out" '^listening on' "$PROXY_PID" "the delaying proxy")
PAGE=http://127.0.0.1:${line##*:}/
# The browser is not under test: it runs without the sanitizer builds'
# preloads (dev.sh sanitize thread sets LD_PRELOAD for fetchpoold's sake).
browser() {
  timeout 60 env -u LD_PRELOAD "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$WORK/chromium" --virtual-time-budget=4500 \
    --window-size=1500,330 --hide-scrollbars "$@" "$PAGE${FRAGMENT:-}" 2>>"$WORK/chromium.err"
}
browser --dump-dom >"$WORK/dom.html" || fail "chromium --dump-dom failed"
cp "$WORK/dom.html" "$ARTIFACTS/status_page_dom.html"

cat >"$WORK/dom.py" <<'EOF'
import html.parser, sys

class Dom(html.parser.HTMLParser):
    """Rows of #rows: host -> {col: (value, classes)}; body data-refreshes."""
    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell, self.refreshes, self.in_rows = {}, None, None, 0, False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.refreshes = int(a.get("data-refreshes", "0"))
        elif tag == "tbody" and a.get("id") == "rows":
            self.in_rows = True
        elif tag == "tr" and self.in_rows:
            self.row = self.rows.setdefault(a.get("data-host"), {"_classes": a.get("class", "")})
        elif tag == "td" and self.row is not None:
            self.row[a.get("data-col")] = (a.get("data-value"), a.get("class") or "")
    def handle_endtag(self, tag):
        if tag == "tbody":
            self.in_rows = False


def load(path):
    dom = Dom()
    dom.feed(open(path).read())
    return dom
EOF
PYTHONPATH=$WORK python3 - "$WORK/dom.html" "$QUIET_PORT" "$FAST_PORT" "$SLOW_PORT" <<'EOF' || fail "DOM checks failed (DOM in $ARTIFACTS/status_page_dom.html)"
import sys
from dom import load
dom = load(sys.argv[1])
quiet, fast, slow = ("http://127.0.0.1:" + p for p in sys.argv[2:5])
errors = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        errors.append(what)
def num(host, col):
    return float(dom.rows.get(host, {}).get(col, ("nan", ""))[0] or "nan")
def saturated(host):
    return "saturated" in dom.rows.get(host, {}).get("waiting", ("", ""))[1].split()

check(dom.refreshes >= 3, f"the page refreshed {dom.refreshes} times (>= 3)")
check(sorted(dom.rows) == sorted([quiet, fast, slow]), f"3 pool rows: {sorted(dom.rows)}")
check(num(quiet, "busy") == 0 and num(quiet, "idle") == 1 and num(quiet, "waiting") == 0,
      f"QUIET busy {num(quiet, 'busy')} idle {num(quiet, 'idle')} waiting {num(quiet, 'waiting')}")
check(num(fast, "max") == 1 and num(fast, "busy") + num(fast, "idle") == 1 and num(fast, "waiting") == 0,
      f"FAST max {num(fast, 'max')} busy {num(fast, 'busy')} idle {num(fast, 'idle')} waiting {num(fast, 'waiting')}")
check(num(slow, "max") == 1 and num(slow, "busy") == 1 and num(slow, "waiting") >= 1,
      f"SLOW max {num(slow, 'max')} busy {num(slow, 'busy')} waiting {num(slow, 'waiting')}")
check(num(slow, "rps") > 0, f"SLOW req/s {num(slow, 'rps')} > 0")
# FAST's one loop starts a fetchpoolctl process per fetch: a few a second,
# so a virtual-time interval (a few hundred ms of real time) may see none.
print(f"info FAST req/s {num(fast, 'rps')} (not checked)")
check(saturated(slow) and not saturated(fast) and not saturated(quiet),
      f"WAIT highlighted: SLOW {saturated(slow)}, FAST {saturated(fast)}, QUIET {saturated(quiet)}")
sys.exit(1 if errors else 0)
EOF

# The filter and the sort, as a link would set them (the URL fragment).
FRAGMENT="#filter=:$SLOW_PORT" browser --dump-dom >"$WORK/filtered.html" || fail "chromium failed"
# By host, in the direction that does not put SLOW first: the default order (waiters
# first) has it first, so only a sort that took effect passes.
lowest=$(printf '%s\n' "$QUIET_PORT" "$FAST_PORT" "$SLOW_PORT" | sort | head -n1)
ASC=1
[[ $lowest == "$SLOW_PORT" ]] && ASC=0
FRAGMENT="#sort=host&asc=$ASC" browser --dump-dom >"$WORK/sorted.html" || fail "chromium failed"
PYTHONPATH=$WORK python3 - "$WORK" "$QUIET_PORT" "$FAST_PORT" "$SLOW_PORT" "$ASC" <<'EOF' || fail "filter/sort checks failed"
import sys
from dom import load
work, ports = sys.argv[1], sys.argv[2:5]
hosts = ["http://127.0.0.1:" + p for p in ports]
filtered = list(load(work + "/filtered.html").rows)
ok = filtered == [hosts[2]]
print(("ok   " if ok else "FAIL ") + f"#filter=:{ports[2]} shows {filtered}")
by_host = list(load(work + "/sorted.html").rows)
asc = sys.argv[5]
ok2 = by_host == sorted(hosts, reverse=asc == "0") and by_host[0] != hosts[2]
print(("ok   " if ok2 else "FAIL ") + f"#sort=host&asc={asc} orders {by_host}")
sys.exit(0 if ok and ok2 else 1)
EOF

browser --screenshot="$ARTIFACTS/status_page.png" >/dev/null || fail "chromium --screenshot failed"
[[ -s $ARTIFACTS/status_page.png ]] || fail "no screenshot written"
log "PASS: DOM checks ok; screenshot $ARTIFACTS/status_page.png"
