#!/usr/bin/env bash
# http_bench.sh - HTTP load benchmark of the blindbit v1 routes, next to
# nginx serving the very same bytes as static files (issue 4).
#
#   bench/http_bench.sh [BUILD_DIR]        (default build)
#
# Uses the benchmark chain of bench/sync_bench.sh (run that once first: it
# builds the chain in $BENCH_DIR/node).  Starts that node, syncs a signetd
# into $BENCH_DIR/http-sd (kept between runs), picks the block with the most
# tweaks, saves each route's answer as a static file for nginx, then runs
# `wrk -t2 -c64 -d${DURATION}s --latency` against signetd and nginx, route by
# route, and prints req/s, p50 and p99 for both.
#
# env: BITCOIND, BENCH_DIR, BENCH_RPC_PORT (28555), DURATION (10), CONNS (64)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BENCH_DIR=${BENCH_DIR:-/tmp/signetd-bench}
BITCOIND=${BITCOIND:-$(pwd)/.deps/bitcoin/bin/bitcoind}
PORT=${BENCH_RPC_PORT:-28555}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
HPORT=$((PORT + 20))
NPORT=$((PORT + 21))
[ -d "$BENCH_DIR/node/regtest" ] || { echo "http_bench: run bench/sync_bench.sh first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "http_bench: wrk missing (contrib/install-deps.sh)" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

"$BITCOIND" -regtest -datadir="$BENCH_DIR/node" -rpcport="$PORT" -rpcbind=127.0.0.1 \
  -rpcallowip=127.0.0.1 -port=$((PORT + 1)) -listen=0 -rest=1 -printtoconsole=0 &
node_pid=$!
sd=
ngx_dir="$BENCH_DIR/nginx"
cleanup() {
  [ -n "$sd" ] && kill "$sd" 2>/dev/null || true
  [ -f "$ngx_dir/nginx.pid" ] && kill "$(cat "$ngx_dir/nginx.pid")" 2>/dev/null || true
  kill "$node_pid" 2>/dev/null || true
  wait "$node_pid" 2>/dev/null || true
}
trap cleanup EXIT
cookie="$BENCH_DIR/node/regtest/.cookie"
for _ in $(seq 1 300); do
  [ -f "$cookie" ] && curl -s --user "$(cat "$cookie")" --data \
    '{"method":"getblockcount","params":[]}' "http://127.0.0.1:$PORT/" | grep -q '"result":[0-9]' && break
  sleep 0.2
done
tip=$(curl -s --user "$(cat "$cookie")" --data '{"method":"getblockcount","params":[]}' \
  "http://127.0.0.1:$PORT/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')

d="$BENCH_DIR/http-sd"
mkdir -p "$d"
cat >"$d/blindbit.toml" <<TOML
host = "127.0.0.1:$HPORT"
chain = "regtest"
rpc_endpoint = "http://127.0.0.1:$PORT"
cookie_path = "$cookie"
sync_start_height = 1
max_parallel_requests = 4
tweaks_full_basic = 1
tweaks_full_with_dust_filter = 1
tweaks_cut_through_with_dust_filter = 1
zmq_hashblock = "off"
zmq_rawtx = "off"
log_level = "warn"
http_threads = $(nproc)
TOML
"$BUILD/signetd" -datadir "$d" 2>"$d/stderr.log" &
sd=$!
for _ in $(seq 1 1200); do
  h=$({ curl -s "http://127.0.0.1:$HPORT/block-height" 2>/dev/null || true; } |
      python3 -c 'import json,sys
try: print(json.load(sys.stdin)["block_height"])
except Exception: print(-1)')
  [ "$h" -ge "$tip" ] && break
  kill -0 "$sd" 2>/dev/null || { echo "signetd died:"; tail "$d/stderr.log"; exit 1; }
  sleep 0.1
done
[ "$h" -ge "$tip" ] || { echo "http_bench: signetd did not sync" >&2; exit 1; }

# the block with the most tweaks among the last 80
best=$(python3 - "$HPORT" "$tip" <<'PY'
import json, sys, urllib.request
port, tip = int(sys.argv[1]), int(sys.argv[2])
best, n = tip, -1
for h in range(max(1, tip - 80), tip + 1):
    k = len(json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/tweak-index/{h}")))
    if k > n:
        best, n = h, k
print(best, n)
PY
)
H=${best% *}
echo "chain tip $tip; biggest block $H with ${best#* } tweaks; load1 $(cut -d' ' -f1 /proc/loadavg)"

routes=("/tweak-index/$H" "/tweaks/$H?dustLimit=600" "/filter/new-utxos/$H"
        "/filter/spent/$H" "/block-height")
rm -rf "$ngx_dir" && mkdir -p "$ngx_dir/www"
i=0
for r in "${routes[@]}"; do
  curl -sf "http://127.0.0.1:$HPORT$r" -o "$ngx_dir/www/r$i"
  i=$((i + 1))
done
cat >"$ngx_dir/nginx.conf" <<NGX
worker_processes $(nproc);
pid $ngx_dir/nginx.pid;
error_log $ngx_dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $ngx_dir/tmp; proxy_temp_path $ngx_dir/tmp;
  fastcgi_temp_path $ngx_dir/tmp; uwsgi_temp_path $ngx_dir/tmp; scgi_temp_path $ngx_dir/tmp;
  default_type application/json;
  server {
    listen 127.0.0.1:$NPORT;
    root $ngx_dir/www;
  }
}
NGX
mkdir -p "$ngx_dir/tmp"
"$NGINX" -c "$ngx_dir/nginx.conf" -p "$ngx_dir" -e "$ngx_dir/error.log"

run_wrk() {  # url -> "req/s p50 p99"
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$1" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    /Non-2xx|Socket errors/ {err=err $0}
    END {printf "%s %s %s %s\n", rps, p50, p99, (err=="" ? "-" : "ERRORS")}'
}
printf "%-28s | %-30s | %-30s | %s\n" route "signetd req/s p50 p99" "nginx static req/s p50 p99" ratio
i=0
for r in "${routes[@]}"; do
  s=$(run_wrk "http://127.0.0.1:$HPORT$r")
  n=$(run_wrk "http://127.0.0.1:$NPORT/r$i")
  ratio=$(python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.2f}')" \
    "${s%% *}" "${n%% *}")
  printf "%-28s | %-30s | %-30s | %s\n" "$r" "$s" "$n" "$ratio"
  i=$((i + 1))
done
echo "bytes: $(for f in "$ngx_dir"/www/r*; do printf '%s ' "$(stat -c %s "$f")"; done)"
echo "load1 after: $(cut -d' ' -f1 /proc/loadavg)"
