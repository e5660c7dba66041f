#!/usr/bin/env bash
# sync_bench.sh - fresh-sync benchmark of the index, next to the EC ceiling.
#
#   bench/sync_bench.sh [BUILD_DIR]        (default build)
#
# 1. Starts a regtest bitcoind in $BENCH_DIR (default /tmp/signetd-bench) and,
#    the first time, builds the benchmark chain with bench/gen_chain.py
#    (BENCH_BLOCKS x BENCH_TXS eligible txs, default 60 x 1500, ~10-15 min
#    once; later runs reuse it).  Prints the chain's shape (getblockstats).
# 2. Measures the EC ceiling with BUILD/bench/bench_tweak in the same run.
# 3. Runs a fresh signetd sync (all four index kinds, REST source) RUNS times
#    (default 3) and prints wall time, CPU time of signetd (and of bitcoind
#    serving it), tweaks/s, blocks/s, peak RSS, DB size (and, with
#    mdb_stat from lmdb-utils, its bytes a tweak by table) and the 1-min load
#    average: the machine may be shared, so compare tweaks per CPU second
#    with the ceiling's per-CPU-second rate too.
#
# env: BITCOIND, BENCH_DIR, BENCH_BLOCKS, BENCH_TXS, RUNS, BENCH_SOURCE
#      (auto|rest|rpc), BENCH_RPC_PORT (default 28555), TWEAK_THREADS
#      (max_parallel_tweak_computations, default nproc), CEILING_S (seconds
#      per bench_tweak measurement, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BENCH_DIR=${BENCH_DIR:-/tmp/signetd-bench}
BLOCKS=${BENCH_BLOCKS:-60}
TXS=${BENCH_TXS:-1500}
RUNS=${RUNS:-3}
SOURCE=${BENCH_SOURCE:-auto}
THREADS=${TWEAK_THREADS:-$(nproc)}
BITCOIND=${BITCOIND:-$(pwd)/.deps/bitcoin/bin/bitcoind}
PORT=${BENCH_RPC_PORT:-28555}
PY=python3
mkdir -p "$BENCH_DIR/node"
if pgrep -f -- "-datadir=$BENCH_DIR/node" >/dev/null; then
  echo "sync_bench: a bitcoind already runs on $BENCH_DIR/node; stop it first" >&2
  exit 1
fi
nodeargs=(-regtest -datadir="$BENCH_DIR/node" -rpcport="$PORT" -rpcbind=127.0.0.1
          -rpcallowip=127.0.0.1 -port=$((PORT + 1)) -listen=0 -rest=1
          -blockmaxweight=4000000 -maxmempool=2000 -fallbackfee=0.0001
          -rpcthreads=8 -printtoconsole=0)
"$BITCOIND" "${nodeargs[@]}" &
node_pid=$!
sd=
cleanup() {
  [ -n "$sd" ] && kill "$sd" 2>/dev/null || true
  kill "$node_pid" 2>/dev/null || true
  wait "$node_pid" 2>/dev/null || true
}
trap cleanup EXIT
cookie="$BENCH_DIR/node/regtest/.cookie"
rpc() {
  curl -s --user "$(cat "$cookie")" -H 'content-type: application/json' \
    --data "{\"jsonrpc\":\"1.0\",\"id\":0,\"method\":\"$1\",\"params\":[${2:-}]}" \
    "http://127.0.0.1:$PORT/"
}
# utime+stime of a pid in seconds
cpu_of() {
  awk -v t="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12 + $13) / t}' "/proc/$1/stat"
}
for _ in $(seq 1 300); do [ -f "$cookie" ] && rpc getblockcount | grep -q "\"result\":[0-9]" && break; sleep 0.2; done
tip=$(rpc getblockcount | $PY -c 'import json,sys; print(json.load(sys.stdin)["result"])')
if [ "$tip" -lt "$BLOCKS" ]; then
  echo "sync_bench: generating the chain ($BLOCKS x $TXS), once" >&2
  $PY bench/gen_chain.py --rpc-url "http://127.0.0.1:$PORT" --cookie "$cookie" \
    --blocks "$BLOCKS" --txs "$TXS"
  tip=$(rpc getblockcount | $PY -c 'import json,sys; print(json.load(sys.stdin)["result"])')
fi
size=$(du -sb "$BENCH_DIR/node/regtest/blocks" | cut -f1)
echo "chain: tip $tip, block files $((size / 1000000)) MB"
# shape of the benchmark blocks (those with more than 1000 txs)
$PY - "$PORT" "$cookie" "$tip" <<'PY'
import base64, http.client, json, sys
port, cookie, tip = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
auth = "Basic " + base64.b64encode(open(cookie).read().strip().encode()).decode()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
def call(m, *p):
    c.request("POST", "/", json.dumps({"jsonrpc": "1.0", "id": 0, "method": m, "params": list(p)}),
              {"Authorization": auth, "Content-Type": "application/json"})
    return json.loads(c.getresponse().read())["result"]
st = [call("getblockstats", h, ["height", "txs", "ins", "outs", "total_size"]) for h in range(1, tip + 1)]
big = [s for s in st if s["txs"] > 1000]
if big:
    print(f"chain: {len(big)} bench blocks (heights {big[0]['height']}-{big[-1]['height']}): "
          f"{sum(s['txs'] - 1 for s in big)} txs, {sum(s['ins'] for s in big)} inputs, "
          f"{min(s['txs'] - 1 for s in big)}-{max(s['txs'] - 1 for s in big)} txs/block, "
          f"{min(s['total_size'] for s in big) / 1000:.0f}-{max(s['total_size'] for s in big) / 1000:.0f} kB/block, "
          f"{sum(s['total_size'] for s in big) / 1e6:.1f} MB")
print(f"chain: all {tip} blocks {sum(s['total_size'] for s in st) / 1e6:.1f} MB")
PY

echo "== EC ceiling (same run; load1 $(cut -d' ' -f1 /proc/loadavg))"
ceil_out=$("$BUILD/bench/bench_tweak" "$THREADS" "${CEILING_S:-2}" || echo "bench_tweak failed")
echo "$ceil_out"
ceil_line=$(echo "$ceil_out" | grep "bench=ec_raw threads=$THREADS " | head -1)
ceil=$(echo "$ceil_line" | sed -n 's/.*tweaks_per_s=\([0-9]*\).*/\1/p')
ceil_cpu=$(echo "$ceil_out" | grep "bench=ec_raw threads=1 " | sed -n 's/.*per_cpu_s=\([0-9]*\).*/\1/p')
echo "ceiling: ${ceil:-?} tweaks/s with $THREADS threads, ${ceil_cpu:-?} tweaks per CPU second"

echo "== fresh sync, $RUNS runs (max_parallel_tweak_computations = $THREADS, source $SOURCE)"
results=()
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
max_parallel_tweak_computations = $THREADS
tweaks_only = 0
tweaks_full_basic = 1
tweaks_full_with_dust_filter = 1
tweaks_cut_through_with_dust_filter = 1
block_source = "$SOURCE"
zmq_hashblock = "off"
zmq_rawtx = "off"
log_level = "info"
TOML
  node_cpu0=$(cpu_of "$node_pid")
  out=$($PY bench/sync_wait.py "$BUILD/signetd" "$d" "$hport" "$tip") ||
    { echo "signetd died:"; tail "$d/stderr.log"; exit 1; }
  read -r t0 t1 sd_cpu peak tweaks <<<"$(echo "$out" | head -1)"
  sd=$(echo "$out" | tail -1)
  load=$(cut -d' ' -f1 /proc/loadavg)
  node_cpu=$($PY -c "print($(cpu_of "$node_pid") - $node_cpu0)")
  kill "$sd"; while kill -0 "$sd" 2>/dev/null; do sleep 0.05; done; sd=
  synced_ms=$(sed -n 's/.*msg=synced .* ms=\([0-9]*\).*/\1/p' "$d/stderr.log" | tail -1)
  db=$(du -sb "$d/index" | cut -f1)
  line=$($PY - "$t0" "$t1" "$tip" "${tweaks:-0}" "$peak" "$db" "$run" "$sd_cpu" \
      "$node_cpu" "${synced_ms:-0}" "$load" "${ceil:-0}" "${ceil_cpu:-0}" <<'PY'
import sys
t0, t1, tip, tweaks, peak, db, run, cpu, ncpu, sms, load, ceil, ceil_cpu = sys.argv[1:]
wall = float(t1) - float(t0)
tw, cpu, ceil, ceil_cpu = float(tweaks), float(cpu), float(ceil), float(ceil_cpu)
pass_s = float(sms) / 1000 or wall
out = (f"run {run}: wall {wall:.2f} s (sync pass {pass_s:.2f} s), signetd CPU {cpu:.2f} s, "
       f"bitcoind CPU {float(ncpu):.2f} s, {int(tw)} tweaks, {tw / wall:,.0f} tweaks/s, "
       f"{int(tip) / wall:,.1f} blocks/s, peak RSS {int(peak) / 1024:.0f} MiB, "
       f"DB {int(db) / 1e6:.1f} MB, load1 {load}")
if ceil:
    out += f"; {100 * tw / wall / ceil:.0f}% of ceiling (wall)"
if ceil_cpu and cpu:
    out += f", {tw / cpu:,.0f} tweaks per CPU s = {100 * tw / cpu / ceil_cpu:.0f}% of 1-core ceiling"
print(out)
PY
)
  echo "$line"
  # the index by table (LMDB pages in use x page size), once
  if [ "$run" = 1 ] && command -v mdb_stat >/dev/null; then
    mdb_stat -ea "$d/index" | awk -v tw="${tweaks:-0}" '
      /^Status of / { t = $3 } /Page size:/ { ps = $3 }
      /(Branch|Leaf|Overflow) pages:/ { pages[t] += $3 }
      END { s = "DB by table (pages in use, B a tweak):"
            for (k in pages) if (k != "Main" && pages[k])
              s = s sprintf(" %s %.0f", k, pages[k] * ps / (tw ? tw : 1))
            print s }'
  fi
  results+=("$(echo "$line" | sed -n 's/.*wall \([0-9.]*\) s.*signetd CPU \([0-9.]*\) s.*/\1 \2/p')")
  rm -rf "$d"
done
printf '%s\n' "${results[@]}" | $PY -c '
import statistics, sys
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
if rows:
    w = [r[0] for r in rows]; c = [r[1] for r in rows]
    print(f"median of {len(rows)}: wall {statistics.median(w):.2f} s [{min(w):.2f}-{max(w):.2f}], "
          f"signetd CPU {statistics.median(c):.2f} s [{min(c):.2f}-{max(c):.2f}]")
'
