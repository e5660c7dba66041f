#!/bin/sh
# fetch.sh - blocks/s and MB/s fetched+parsed for the regtest-a chain on each
# block source (REST binary + spenttxouts, getblock 3), plus offline parser
# throughput.  Starts its own regtest bitcoind on a free loopback port.
#
# usage: bench/fetch.sh [BUILD_DIR] [REPEAT]     (default build, 5)
# env:   BITCOIND, BITCOIN_CLI (else .deps/bitcoin/bin or PATH)
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$REPO/build}
REPEAT=${2:-5}
BITCOIND=${BITCOIND:-$(command -v bitcoind || echo "$REPO/.deps/bitcoin/bin/bitcoind")}
BITCOIN_CLI=${BITCOIN_CLI:-$(command -v bitcoin-cli || echo "$REPO/.deps/bitcoin/bin/bitcoin-cli")}
DUMP=$BUILD/tools/rpc_dump
PARSE=$BUILD/bench/bench_parse
[ -x "$DUMP" ] || { echo "fetch.sh: $DUMP missing (build first)" >&2; exit 1; }

DIR=$(mktemp -d /tmp/sd-bench-XXXXXX)
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$BITCOIND" -datadir="$DIR" -regtest -server=1 -listen=0 -rest=1 \
	-rpcbind=127.0.0.1:"$PORT" -rpcallowip=127.0.0.1 -rpcthreads=8 \
	-printtoconsole=0 -txindex=0 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT INT TERM
CLI="$BITCOIN_CLI -datadir=$DIR -regtest -rpcport=$PORT"
$CLI -rpcwait getblockcount >/dev/null
while read -r blk; do
	echo "$blk" | $CLI -stdin submitblock >/dev/null
done < "$REPO/tests/data/regtest-a/blocks.hex"
TIP=$($CLI getblockcount)
echo "regtest-a replayed: tip $TIP"

for src in rest rpc; do
	"$DUMP" --url "http://127.0.0.1:$PORT" --cookie "$DIR/regtest/.cookie" \
		--source "$src" --from 1 --to "$TIP" --repeat "$REPEAT" --quiet
done
if [ -x "$PARSE" ]; then
	"$PARSE" "$REPO/tests/data/regtest-a/blocks.hex" 50
fi
