#!/usr/bin/env bash
# bench/lib/charts.sh on committed inputs: a runs.tsv of bench/run.sh and a
# rows.jsonl of bench/field-failures/run.sh (tests/bench/lib/data/), and the
# README's figures (docs/bench/*.tsv).
#
#   charts_test.sh [OUT_DIR]      (default: a temporary directory)
#
# Checks:
#   - bench-data takes the same medians as the report's tables (a hung run
#     and a missing latency run are left out, not counted as 0);
#   - each SVG parses as XML with an <svg> root and carries its series: panel
#     titles, p50/p99, every scenario and client label, the values;
#   - the README's pictures (docs/bench/*.svg) carry the same text as the
#     ones drawn now from docs/bench/*.tsv: the committed pictures match the
#     committed figures;
#   - bad input fails loudly.
# Needs gnuplot (gnuplot-nox), jq and python3 (XML parsing): ./dev.sh deps
# installs them. No skip: a missing tool fails the test.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CHARTS=$ROOT/bench/lib/charts.sh
DATA=$HERE/data
OUT=${1:-$(mktemp -d /tmp/charts_test.XXXXXX)}
mkdir -p "$OUT"

checks=0
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { checks=$((checks + 1)); }

for tool in gnuplot jq python3; do
  command -v "$tool" >/dev/null || fail "$tool is missing (./dev.sh deps installs it)"
done

# svg_text SVG: the text of every <text> element, one per line; fails unless
# the file is well-formed XML with an <svg> root.
svg_text() {
  python3 - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
if root.tag != "{http://www.w3.org/2000/svg}svg":
    sys.exit("root element is %s, not svg" % root.tag)
for t in root.iter("{http://www.w3.org/2000/svg}text"):
    s = "".join(t.itertext()).strip()
    if s:
        print(s)
EOF
}

# expect_texts SVG TEXT...: each TEXT is the whole text of some element.
expect_texts() {
  local svg=$1 texts t
  shift
  texts=$(svg_text "$svg") || fail "$svg is not a valid SVG"
  for t in "$@"; do
    grep -qxF -- "$t" <<<"$texts" || fail "$(basename "$svg") has no text \"$t\" (texts: $(tr '\n' '|' <<<"$texts"))"
    ok
  done
}

# expect_record TSV LINE: LINE (tabs as \t) is a whole line of TSV.
expect_record() {
  local line
  line=$(printf '%b' "$2")
  grep -qxF -- "$line" "$1" || fail "$(basename "$1") has no line \"$2\":"$'\n'"$(cat "$1")"
  ok
}

# ---- chart 1: bench/run.sh -------------------------------------------------------------

"$CHARTS" bench-data "$DATA/runs.tsv" >"$OUT/bench-chart.tsv"
# Medians over the sample's 2 rounds, as report.sh's median prints them.
expect_record "$OUT/bench-chart.tsv" 'throughput\tA wrk → origin\t105255.2\t-'
expect_record "$OUT/bench-chart.tsv" 'throughput\tB nginx proxy\t32258.8\t16.1'
# Round 2 of E (h2load) hung: the median is round 1's alone.
expect_record "$OUT/bench-chart.tsv" 'throughput\tE Fetch (h2load)\t13438.3\t76.4'
expect_record "$OUT/bench-chart.tsv" 'throughput\tS FetchStream\t15191.4\t56.1'
expect_record "$OUT/bench-chart.tsv" 'latency\tE Fetch (fetch_load)\t1560.2\t112450.3\t6307.0'
# Round 2 has no latency run of C: round 1's.
expect_record "$OUT/bench-chart.tsv" 'latency\tC gRPC no-op\t314.8\t5626.0\t8352.0'
grep -q $'^title\tbench\tbench/run.sh .*median of 2 round(s)$' "$OUT/bench-chart.tsv" ||
  fail "bench-chart.tsv: no title line with 2 rounds"
ok

"$CHARTS" bench "$OUT/bench-chart.tsv" "$OUT/bench-chart.svg"
expect_texts "$OUT/bench-chart.svg" \
  "fetchpool against an nginx keep-alive proxy" "Throughput, req/s" \
  "Middle-hop CPU per request, µs" "Latency at half load (log scale)" "p50" "p99" \
  "A wrk → origin" "B nginx proxy" "C gRPC no-op (h2load)" "E Fetch (h2load)" \
  "E Fetch (fetch_load)" "S FetchStream" "A direct" "C gRPC no-op" \
  "105k" "32k" "16.1" "56.1" "1.6 ms" "112.5 ms" "315 µs"

# ---- chart 2: bench/field-failures/run.sh ----------------------------------------------

"$CHARTS" ff-data "$DATA/field-failures-rows.jsonl" >"$OUT/field-failures-chart.tsv"
S1="1. bursts: 5 x 256 concurrent GET, 1 s apart"
S2B="2b. the same, origin behind nginx (closes at once when a client leaves)"
expect_record "$OUT/field-failures-chart.tsv" "ff\t$S1\tGo net/http, default Transport (MaxIdleConnsPerHost 2)\t1251\t1249"
expect_record "$OUT/field-failures-chart.tsv" "ff\t$S1\tfetchpool defaults (64 per host, idle cap = cap)\t64\t0"
expect_record "$OUT/field-failures-chart.tsv" "ff\t$S2B\tfetchpool --on_deadline=drain\t51\t0"
[[ $(grep -c $'^ff\t' "$OUT/field-failures-chart.tsv") -eq 8 ]] || fail "field-failures-chart.tsv: not 8 rows"
ok

"$CHARTS" ff "$OUT/field-failures-chart.tsv" "$OUT/field-failures-chart.svg"
expect_texts "$OUT/field-failures-chart.svg" \
  "connections opened" "TIME_WAIT after (client + origin side)" \
  "$S1" "2. slow origin 50-300 ms, client timeout 150 ms" "$S2B" \
  "Go net/http, default Transport (MaxIdleConnsPerHost 2)" \
  "fetchpool defaults (64 per host, idle cap = cap)" "fasthttp (closes on timeout)" \
  "fetchpool --on_deadline=abort" "fetchpool --on_deadline=drain" \
  "1251" "1249" "64" "409" "51"

# ---- the README's pictures --------------------------------------------------------------

for name in bench-chart field-failures-chart; do
  kind=bench
  [[ $name == field-failures-chart ]] && kind=ff
  "$CHARTS" "$kind" "$ROOT/docs/bench/$name.tsv" "$OUT/readme-$name.svg"
  [[ -f $ROOT/docs/bench/$name.svg ]] || fail "docs/bench/$name.svg is missing"
  if ! diff <(svg_text "$ROOT/docs/bench/$name.svg") <(svg_text "$OUT/readme-$name.svg") >"$OUT/$name.diff"; then
    fail "docs/bench/$name.svg does not match docs/bench/$name.tsv; redraw it with
  bench/lib/charts.sh $kind docs/bench/$name.tsv docs/bench/$name.svg
$(cat "$OUT/$name.diff")"
  fi
  ok
done
expect_texts "$ROOT/docs/bench/bench-chart.svg" "127k" "13.8" "91.9" "54.8" "p99" "45.6 ms"
expect_texts "$ROOT/docs/bench/field-failures-chart.svg" "1259" "1194" "385" "362"

# ---- bad input --------------------------------------------------------------------------

if "$CHARTS" bench "$DATA/missing.tsv" "$OUT/x.svg" 2>/dev/null; then fail "a missing input did not fail"; fi
ok
printf 'ff\tx\ty\t1\t2\n' >"$OUT/ff-only.tsv"
if "$CHARTS" bench "$OUT/ff-only.tsv" "$OUT/x.svg" 2>/dev/null; then fail "bench data without throughput records did not fail"; fi
ok

echo "charts_test: $checks checks passed; SVGs in $OUT"
