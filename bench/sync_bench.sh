#!/usr/bin/env bash
# sync_bench.sh - fresh-sync benchmark of the index, next to the EC ceiling.
#
#   bench/sync_bench.sh [BUILD_DIR]        (default build)
#
# 1. Starts a regtest bitcoind in $BENCH_DIR (default /tmp/signetd-bench) and,
#    the first time, builds the benchmark chain with bench/gen_chain.py
#    (BENCH_BLOCKS x BENCH_TXS eligible txs, default 60 x 1500, ~10 min once).
# 2. Measures the EC ceiling with build/bench/bench_tweak in the same run.
# 3. Runs a fresh signetd sync (all four index kinds, REST source) RUNS times
#    (default 3) and prints wall time, tweaks/s, blocks/s, peak RSS, DB size.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BENCH_DIR=${BENCH_DIR:-/tmp/signetd-bench}
BLOCKS=${BENCH_BLOCKS:-60}
TXS=${BENCH_TXS:-1500}
RUNS=${RUNS:-3}
SOURCE=${BENCH_SOURCE:-auto}
BITCOIND=${BITCOIND:-$(pwd)/.deps/bitcoin/bin/bitcoind}
PORT=${BENCH_RPC_PORT:-28555}
mkdir -p "$BENCH_DIR/node"
nodeargs=(-regtest -datadir="$BENCH_DIR/node" -rpcport="$PORT" -rpcbind=127.0.0.1
          -rpcallowip=127.0.0.1 -port=$((PORT + 1)) -listen=0 -rest=1
          -blockmaxweight=4000000 -maxmempool=2000 -fallbackfee=0.0001
          -rpcthreads=8 -printtoconsole=0)
"$BITCOIND" "${nodeargs[@]}" &
node_pid=$!
cleanup() { kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; }
trap cleanup EXIT
cookie="$BENCH_DIR/node/regtest/.cookie"
rpc() {
  curl -s --user "$(cat "$cookie")" -H 'content-type: application/json' \
    --data "{\"jsonrpc\":\"1.0\",\"id\":0,\"method\":\"$1\",\"params\":[${2:-}]}" \
    "http://127.0.0.1:$PORT/"
}
for _ in $(seq 1 100); do [ -f "$cookie" ] && rpc getblockcount | grep -q '"result"' && break; sleep 0.2; done
tip=$(rpc getblockcount | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
if [ "$tip" -lt "$BLOCKS" ]; then
  echo "sync_bench: generating the chain ($BLOCKS x $TXS), once" >&2
  python3 bench/gen_chain.py --rpc-url "http://127.0.0.1:$PORT" --cookie "$cookie" \
    --blocks "$BLOCKS" --txs "$TXS"
  tip=$(rpc getblockcount | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
fi
size=$(du -sb "$BENCH_DIR/node/regtest/blocks" | cut -f1)
echo "chain: tip $tip, block files $((size / 1000000)) MB"

echo "== EC ceiling (same run)"
"$BUILD/bench/bench_tweak" || echo "bench_tweak failed"

echo "== fresh sync, $RUNS runs"
for run in $(seq 1 "$RUNS"); do
  d=$(mktemp -d "$BENCH_DIR/sd.XXXX")
  hport=$((PORT + 10 + run))
  cat >"$d/blindbit.toml" <<TOML
host = "127.0.0.1:$hport"
chain = "regtest"
rpc_endpoint = "http://127.0.0.1:$PORT"
cookie_path = "$cookie"
sync_start_height = 1
max_parallel_requests = 4
max_parallel_tweak_computations = $(nproc)
tweaks_only = 0
tweaks_full_basic = 1
tweaks_full_with_dust_filter = 1
tweaks_cut_through_with_dust_filter = 1
block_source = "$SOURCE"
zmq_hashblock = "off"
zmq_rawtx = "off"
log_level = "warn"
TOML
  t0=$(date +%s.%N)
  "$BUILD/signetd" -datadir "$d" 2>"$d/stderr.log" &
  sd=$!
  peak=0
  while :; do
    h=$(curl -s "http://127.0.0.1:$hport/block-height" 2>/dev/null | python3 -c \
        'import json,sys
try: print(json.load(sys.stdin)["block_height"])
except Exception: print(-1)')
    rss=$(awk '/VmHWM/{print $2}' "/proc/$sd/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    [ "$h" -ge "$tip" ] && break
    kill -0 "$sd" 2>/dev/null || { echo "signetd died:"; tail "$d/stderr.log"; exit 1; }
    sleep 0.05
  done
  t1=$(date +%s.%N)
  tweaks=$(curl -s "http://127.0.0.1:$hport/metrics" | awk '/^signetd_tweaks_indexed_total /{print $2}')
  kill "$sd"; wait "$sd" || true
  db=$(du -sb "$d/index" | cut -f1)
  python3 - "$t0" "$t1" "$tip" "${tweaks:-0}" "$peak" "$db" "$run" <<'PY'
import sys
t0, t1, tip, tweaks, peak, db, run = sys.argv[1:]
wall = float(t1) - float(t0)
print(f"run {run}: wall {wall:.2f} s, {int(float(tweaks))} tweaks, "
      f"{float(tweaks)/wall:,.0f} tweaks/s, {int(tip)/wall:,.1f} blocks/s, "
      f"peak RSS {int(peak)/1024:.0f} MiB, DB {int(db)/1e6:.1f} MB")
PY
  rm -rf "$d"
done
