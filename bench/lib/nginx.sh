# bench/lib/nginx.sh: nginx configs for bench/run.sh (sourced, not run).
#
# The templates are bench/nginx/origin.conf.in and bench/nginx/proxy.conf.in;
# @NAME@ placeholders are filled here. Both run one worker, in the
# foreground (daemon off), with every path inside the run's temp dir.

# A 100-byte body, letters only (safe inside an nginx string).
ORIGIN_BODY=$(printf 'fetchpoolbenchoriginbody%076d' 0 | tr 0 x)

# render_nginx TEMPLATE OUT PORT [ORIGIN_PORT]
render_nginx() {
  local template=$1 out=$2 port=$3 origin_port=${4:-}
  local name
  name=$(basename "$out" .conf)
  mkdir -p "$BENCH_TMP/$name-temp"
  sed -e "s|@PREFIX@|$BENCH_TMP|g" \
    -e "s|@NAME@|$name|g" \
    -e "s|@PORT@|$port|g" \
    -e "s|@ORIGIN_PORT@|$origin_port|g" \
    -e "s|@BODY@|$ORIGIN_BODY|g" \
    "$template" >"$out"
}

# start_nginx CONF: starts nginx in the background; prints the master pid.
start_nginx() {
  local conf=$1 name
  name=$(basename "$conf" .conf)
  nginx -t -q -p "$BENCH_TMP" -e "$BENCH_TMP/$name-error.log" -c "$conf" >&2 ||
    die "nginx rejected $conf (see $BENCH_TMP/$name-error.log)"
  nginx -p "$BENCH_TMP" -e "$BENCH_TMP/$name-error.log" -c "$conf" \
    >"$BENCH_TMP/$name-stdout.log" 2>&1 </dev/null &
  echo $!
}
