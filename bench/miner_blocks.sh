#!/bin/sh
# miner_blocks.sh - blocks/s of `signetd miner generate` for N blocks from
# genesis at the signet minimum difficulty (default 100), on a fresh custom
# signet (new key, 1-of-1 multisig challenge, native signing, JSON-RPC).
# Also runs the same with --grind-cmd "bitcoin-util grind" (the reference's
# grinder; the reference itself needs a Core source tree and takes
# 1.7-2.0 s a block here, see the baselines measured on this machine kind).
#
# Usage: bench/miner_blocks.sh [N]
#   MINER_CMD   miner command (default build/tools/miner_main)
#   BITCOIND, BITCOIN_UTIL  node binaries (default from PATH)
#   SKIP_NATIVE=1 / SKIP_UTIL=1 skip the native / bitcoin-util run
set -eu
N=${1:-100}
MINER=${MINER_CMD:-build/tools/miner_main}
BITCOIND=${BITCOIND:-bitcoind}
BITCOIN_UTIL=${BITCOIN_UTIL:-bitcoin-util}
ADDR=tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx
TMP=$(mktemp -d /tmp/sd-minerbench.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

run() { # $1 label, rest: extra miner args
	label=$1; shift
	$MINER keygen --key-file "$TMP/$label.key" > "$TMP/$label.json"
	ch=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["multisig_challenge"])' "$TMP/$label.json")
	rp=$(port)
	mkdir -p "$TMP/$label"
	"$BITCOIND" -datadir="$TMP/$label" -signet -signetchallenge="$ch" -server=1 \
		-listen=0 -dnsseed=0 -fixedseeds=0 -rpcbind=127.0.0.1:"$rp" \
		-rpcallowip=127.0.0.1 -printtoconsole=0 -upnp=0 -natpmp=0 &
	PID=$!
	i=0
	until [ -f "$TMP/$label/signet/.cookie" ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done
	sleep 1
	t0=$(date +%s.%N)
	rc=0
	$MINER --rpc-url "http://127.0.0.1:$rp" --rpc-cookie "$TMP/$label/signet/.cookie" \
		generate --address $ADDR --min-nbits --max-blocks "$N" \
		--key-file "$TMP/$label.key" "$@" 2> "$TMP/$label.log" || rc=$?
	t1=$(date +%s.%N)
	if [ "$rc" != 0 ]; then
		echo "$label: miner exited $rc; last log lines:"
		grep -v block_mined "$TMP/$label.log" | tail -5
	fi
	n=$(grep -c msg=block_mined "$TMP/$label.log")
	hashes=$(grep -o 'hashes=[0-9]*' "$TMP/$label.log" | cut -d= -f2 | paste -sd+ | bc)
	grind=$(grep -o 'grind_s=[0-9.]*' "$TMP/$label.log" | cut -d= -f2 | paste -sd+ | bc)
	python3 - "$label" "$n" "$t0" "$t1" "$hashes" "$grind" <<'PY'
import sys
label, n, t0, t1, hashes, grind = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], float(sys.argv[6])
wall = t1 - t0
h = int(hashes) if hashes.strip() else 0
print(f"{label}: {n} blocks in {wall:.1f} s = {n/wall:.2f} blocks/s, {wall/n:.2f} s/block; "
      f"grinding {grind:.1f} s" + (f", {h/1e6/grind:.2f} MH/s" if h else ""))
PY
	kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
}

[ "${SKIP_NATIVE:-0}" = 1 ] || run native
[ "${SKIP_UTIL:-0}" = 1 ] || run bitcoin-util --grind-cmd "$BITCOIN_UTIL grind"
echo "reference contrib/signet/miner (baselines.md): 1.7-2.0 s/block = 0.50-0.59 blocks/s"
