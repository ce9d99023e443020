#!/usr/bin/env bash
# bench/lib/charts.sh: the benchmarks' pictures, as SVG drawn by gnuplot.
#
#   charts.sh bench-data RUNS_TSV    > DATA.tsv  medians of bench/run.sh's runs.tsv
#   charts.sh ff-data ROWS_JSONL     > DATA.tsv  rows of bench/field-failures/run.sh
#   charts.sh bench DATA.tsv OUT.svg             throughput, CPU per request, latency
#   charts.sh ff DATA.tsv OUT.svg                connections opened and TIME_WAIT
#
# The harnesses call the *-data step and the chart step at their end; the
# README's pictures are drawn from docs/bench/*.tsv, the same data format
# written by hand from the README's tables (a full bench run takes minutes).
#
# DATA.tsv, tab-separated, one record per line ("-" for a value not measured):
#   title<TAB>PART<TAB>TEXT           where the numbers come from: the subtitle of
#                                     the chart (PART: bench, ff) or of the
#                                     latency panel (latency)
#   throughput<TAB>LABEL<TAB>REQ_PER_S<TAB>MIDDLE_HOP_CPU_US_PER_REQ
#   latency<TAB>LABEL<TAB>P50_US<TAB>P99_US<TAB>RATE
#   ff<TAB>SCENARIO<TAB>CLIENT<TAB>CONNECTIONS_OPENED<TAB>TIME_WAIT
#
# gnuplot comes from Debian's gnuplot-nox (./dev.sh deps installs it): one
# apt package, SVG built in, no Python environment to set up in CI.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { printf 'charts.sh: %s\n' "$*" >&2; exit 1; }

# ---- data from the harnesses' results ------------------------------------------------

# bench_data RUNS_TSV: the medians the report's tables show, as DATA.tsv.
bench_data() {
  RUNS_TSV=$1
  [[ -r $RUNS_TSV ]] || die "no $RUNS_TSV"
  # report.sh's median is the one the tables use, so the picture and the
  # table cannot disagree.
  # shellcheck source=report.sh
  source "$HERE/report.sh"
  local rounds
  rounds=$(awk -F'\t' '$1 ~ /^[0-9]+$/ { r[$1] = 1 } END { print length(r) }' "$RUNS_TSV")
  printf 'title\tbench\tbench/run.sh %s, closed loop, 64 in flight, median of %s round(s)\n' \
    "$(date -u +'%Y-%m-%d %H:%M UTC')" "$rounds"
  printf 'title\tlatency\topen loop at 50%% of each peak, median of %s round(s)\n' "$rounds"
  local row key label
  for row in "A|A wrk → origin" "B|B nginx proxy" "C|C gRPC no-op (h2load)" \
    "E_h2load|E Fetch (h2load)" "E_fetch_load|E Fetch (fetch_load)" "S|S FetchStream"; do
    key=${row%%|*}
    label=${row#*|}
    printf 'throughput\t%s\t%s\t%s\n' "$label" "$(dash "$(median "$key.rps")")" \
      "$(dash "$(median "$key.cpu_mid")")"
  done
  for row in "A|A direct" "B|B nginx proxy" "C|C gRPC no-op" "E|E Fetch (fetch_load)" \
    "S|S FetchStream"; do
    key=${row%%|*}
    label=${row#*|}
    printf 'latency\t%s\t%s\t%s\t%s\n' "$label" "$(dash "$(median "lat.$key.p50")")" \
      "$(dash "$(median "lat.$key.p99")")" "$(dash "$(median "lat.$key.rate")")"
  done
}

# dash VALUE: "-" for what report.sh calls n/a.
dash() { [[ $1 =~ ^-?[0-9.]+$ ]] && printf '%s' "$1" || printf -- '-'; }

# ff_data ROWS_JSONL: one ff record per row of the field-failures table.
ff_data() {
  [[ -r $1 ]] || die "no $1"
  command -v jq >/dev/null || die "needs jq"
  printf 'title\tff\tbench/field-failures/run.sh %s\n' "$(date -u +'%Y-%m-%d %H:%M UTC')"
  jq -r '["ff", .scenario, .label, (.origin_connections // "-"),
          (if .tw_client_side == null then "-" else .tw_client_side + .tw_origin_side end)]
         | map(tostring) | @tsv' "$1"
}

# ---- the charts --------------------------------------------------------------------------

# records KIND DATA: the records of KIND without their first field.
records() { awk -F'\t' -v k="$1" -v OFS='\t' '$1 == k { $1 = ""; sub(/^\t/, ""); print }' "$2"; }

# title PART DATA: the subtitle of PART (bench, latency, ff), quoted for gnuplot.
title() { gp_quote "$(awk -F'\t' -v p="$1" '$1 == "title" && $2 == p { print $3; exit }' "$2")"; }

# gp_quote TEXT: a gnuplot string literal ('' is a quote inside '...').
gp_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# gnuplot's common settings: values that are "-" are gaps, not zeros. (The
# terminals are noenhanced, or "fetch_load" would print a subscript.)
preamble() {
  cat <<'EOF'
set encoding utf8
set datafile separator "\t"
set datafile missing "-"
set border 3
set tics nomirror
set grid ytics lc rgb "#dddddd"
set style fill solid 0.85 border -1
kfmt(v) = v >= 10000 ? sprintf("%.0fk", v / 1000) : (v >= 1000 ? sprintf("%.1fk", v / 1000) : sprintf("%.0f", v))
usfmt(v) = v >= 1000 ? sprintf("%.1f ms", v / 1000) : sprintf("%.0f µs", v)
EOF
}

# bench_chart DATA OUT: three panels side by side: req/s, middle-hop CPU
# µs per request (one bar per scenario each), and p50/p99 at half load.
bench_chart() {
  local data=$1 out=$2 tmp
  tmp=$(mktemp -d)
  # One chart per run of this script: EXIT also covers die.
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  records throughput "$data" >"$tmp/thr.tsv"
  records latency "$data" >"$tmp/lat.tsv"
  [[ -s $tmp/thr.tsv ]] || die "$data has no throughput records"
  {
    preamble
    cat <<EOF
set terminal svg size 1500,560 dynamic noenhanced font "DejaVu Sans,12" background rgb "white"
set output $(gp_quote "$out")
set multiplot layout 1,3 title ("fetchpool against an nginx keep-alive proxy\n" . $(title bench "$data")) font ",14"
set style data histograms
set style histogram clustered gap 1
set xtics rotate by -30 left
set bmargin 8
# The same top margin in every panel, whatever its title's lines, so the
# three plots line up.
set tmargin 5
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0
set title "Throughput, req/s"
unset key
plot $(gp_quote "$tmp/thr.tsv") using 2:xtic(1) lc rgb "#4878a8" title "req/s", \
  '' using (\$0):2:(kfmt(\$2)) with labels offset 0,0.7 notitle
set title "Middle-hop CPU per request, µs\n(nginx for B, fetchpoold for C, E, S; none for A)"
plot $(gp_quote "$tmp/thr.tsv") using 3:xtic(1) lc rgb "#d08040" title "CPU µs/req", \
  '' using (\$0):3:(sprintf("%.1f", \$3)) with labels offset 0,0.7 notitle
EOF
    if [[ -s $tmp/lat.tsv ]]; then
      # Latencies span µs to ms: a log scale keeps both readable.
      cat <<EOF
set title ("Latency at half load (log scale)\n" . $(title latency "$data"))
set logscale y
# Headroom above the tallest bar for the key and the values.
set yrange [10:$(awk -F'\t' '{ for (c = 2; c <= 3; c++) if ($c + 0 > m) m = $c + 0 } END { print (m > 10 ? m : 10) * 30 }' "$tmp/lat.tsv")]
set ytics ("10 µs" 10, "100 µs" 100, "1 ms" 1000, "10 ms" 10000, "100 ms" 100000, "1 s" 1000000)
set offsets 0, 0, 0, 0
set key inside top left
plot $(gp_quote "$tmp/lat.tsv") using 2:xtic(1) lc rgb "#5a9e5a" title "p50", \
  '' using 3 lc rgb "#a04040" title "p99", \
  '' using (\$0 - 1.0/6):2:(usfmt(\$2)) with labels offset 0,0.7 font ",9" notitle, \
  '' using (\$0 + 1.0/6):3:(usfmt(\$3)) with labels offset 0,0.7 font ",9" notitle
EOF
    else
      # No figures (the README's data has none): an empty panel that says
      # why, so the picture keeps its layout.
      cat <<EOF
set title ("Latency at half load\n" . $(title latency "$data"))
unset xtics
unset ytics
unset border
unset grid
set xrange [0:1]
set yrange [0:1]
set label 1 "no latency figures in this data" at 0.5, 0.5 center
plot NaN notitle
EOF
    fi
    echo 'unset multiplot'
  } >"$tmp/chart.gp"
  gnuplot "$tmp/chart.gp" || die "gnuplot failed on $tmp/chart.gp"
}

# ff_chart DATA OUT: one panel per scenario, stacked; per client, two
# horizontal bars: connections opened and TIME_WAIT (client + origin side).
ff_chart() {
  local data=$1 out=$2 tmp
  tmp=$(mktemp -d)
  # One chart per run of this script: EXIT also covers die.
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  records ff "$data" >"$tmp/ff.tsv"
  [[ -s $tmp/ff.tsv ]] || die "$data has no ff records"
  # One file per scenario, in the order they first appear: ff.N.tsv with
  # CLIENT, CONNECTIONS, TIME_WAIT; and the scenarios' names and row counts.
  awk -F'\t' -v OFS='\t' -v dir="$tmp" '
    !($1 in n) { order[++s] = $1 }
    { n[$1]++; idx = 0; for (i = 1; i <= s; i++) if (order[i] == $1) idx = i
      print $2, $3, $4 > (dir "/ff." idx ".tsv") }
    END { for (i = 1; i <= s; i++) print order[i], n[order[i]] > (dir "/scenarios.tsv") }' "$tmp/ff.tsv"
  local rows panels
  rows=$(awk -F'\t' '{ r += $2 } END { print r }' "$tmp/scenarios.tsv")
  panels=$(wc -l <"$tmp/scenarios.tsv")
  # Pixels: a fixed head, then each panel its title plus 38 px per client.
  local head=70 per_row=38 per_panel=62 key=45 height
  height=$((head + key + rows * per_row + panels * per_panel))
  {
    preamble
    cat <<EOF
set terminal svg size 1300,$height dynamic noenhanced font "DejaVu Sans,12" background rgb "white"
set output $(gp_quote "$out")
set multiplot title ("Field failures: connections opened and TIME_WAIT per client\n" . $(title ff "$data")) font ",14"
set border 1
set grid noytics xtics
set xrange [0:*]
set ytics scale 0
set lmargin at screen 0.36
set rmargin at screen 0.97
EOF
    local i=0 name n y=$((height - head)) h
    while IFS=$'\t' read -r name n; do
      i=$((i + 1))
      h=$((n * per_row + per_panel))
      ((i == 1)) && h=$((h + key))
      y=$((y - h))
      local max
      max=$(awk -F'\t' '{ for (c = 2; c <= 3; c++) if ($c + 0 > m) m = $c + 0 } END { print (m > 0 ? m : 1) * 1.15 }' "$tmp/ff.$i.tsv")
      cat <<EOF
set origin 0, $(awk -v a="$y" -v b="$height" 'BEGIN { printf "%.4f", a / b }')
set size 1, $(awk -v a="$h" -v b="$height" 'BEGIN { printf "%.4f", a / b }')
set title $(gp_quote "$name") font ",13"
set yrange [$n - 0.5 : -0.5]
set xrange [0:$max]
EOF
      # The key once, in the first panel.
      if ((i == 1)); then echo 'set key outside top center horizontal'; else echo 'unset key'; fi
      cat <<EOF
plot $(gp_quote "$tmp/ff.$i.tsv") using (\$2 / 2):(\$0 - 0.19):(\$2 / 2):(0.17):ytic(1) with boxxyerror lc rgb "#4878a8" title "connections opened", \\
  '' using (\$3 / 2):(\$0 + 0.19):(\$3 / 2):(0.17) with boxxyerror lc rgb "#c05050" title "TIME_WAIT after (client + origin side)", \\
  '' using 2:(\$0 - 0.19):(sprintf(" %d", \$2)) with labels left font ",10" notitle, \\
  '' using 3:(\$0 + 0.19):(sprintf(" %d", \$3)) with labels left font ",10" notitle
EOF
    done <"$tmp/scenarios.tsv"
    echo 'unset multiplot'
  } >"$tmp/chart.gp"
  gnuplot "$tmp/chart.gp" || die "gnuplot failed on $tmp/chart.gp"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    bench-data) [[ $# -eq 1 ]] || die "usage: charts.sh bench-data RUNS_TSV"; bench_data "$1" ;;
    ff-data) [[ $# -eq 1 ]] || die "usage: charts.sh ff-data ROWS_JSONL"; ff_data "$1" ;;
    bench | ff)
      [[ $# -eq 2 ]] || die "usage: charts.sh $cmd DATA.tsv OUT.svg"
      [[ -r $1 ]] || die "no $1"
      command -v gnuplot >/dev/null || die "needs gnuplot (Debian package gnuplot-nox; ./dev.sh deps)"
      "${cmd}_chart" "$1" "$2"
      ;;
    *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
