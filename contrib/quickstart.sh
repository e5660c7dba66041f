#!/usr/bin/env bash
# quickstart.sh - install, build, and run signetd against a local chain.
#
#   contrib/quickstart.sh              # foreground; Ctrl-C stops everything
#   contrib/quickstart.sh --detach     # leave it running; --stop ends it
#   contrib/quickstart.sh --check      # set up, verify the curl lines, stop
#
# On a fresh Debian 12 machine (root or sudo) it:
#  1. installs the Debian packages (contrib/install-deps.sh);
#  2. installs bitcoind under .deps/bitcoin (contrib/get-bitcoind.sh), unless
#     BITCOIND (and BITCOIN_CLI) point at your own binaries;
#  3. builds build/signetd (cmake), unless SIGNETD_BIN points at one;
#  4. starts a private chain in the work dir: by default a custom signet with
#     a fresh challenge key, mined by `signetd miner generate` every
#     --interval seconds (--regtest: regtest with generatetoaddress), and
#     makes a few wallet payments to taproot addresses;
#  5. starts signetd on 127.0.0.1:--port (8000) and prints curl lines to try.
# Already running a node?  Set RPC_ENDPOINT (and COOKIE_PATH or RPC_USER /
# RPC_PASS, CHAIN, ZMQ_HASHBLOCK ...): steps 2 and 4 are skipped and signetd
# follows that node (every signetd key is read from its UPPERCASE env var).
#
# Options: --signet (the default once the miner is built in) | --regtest,
# --port N (8000), --interval S (10), --workdir DIR (.quickstart),
# --detach, --check, --stop.
# Node ports: QS_RPC_PORT, QS_P2P_PORT, QS_ZMQ_PORT (rawtx: +1); defaults are
# the LeCoffre node's (signet 38332/38333/29000) or regtest's (18443/18444/28332).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

mode=run chain=auto port=8000 interval=10 work="$top/.quickstart"
while [ $# -gt 0 ]; do
  case "$1" in
    --signet) chain=signet ;;
    --regtest) chain=regtest ;;
    --port) port=$2; shift ;;
    --port=*) port=${1#*=} ;;
    --interval) interval=$2; shift ;;
    --interval=*) interval=${1#*=} ;;
    --workdir) work=$2; shift ;;
    --workdir=*) work=${1#*=} ;;
    --detach) mode=detach ;;
    --check) mode=check ;;
    --stop) mode=stop ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$work"
work=$(cd "$work" && pwd)
pidfile="$work/pids"

say() { echo "quickstart: $*"; }
die() { echo "quickstart: ERROR: $*" >&2; exit 1; }

# --- stopping ---------------------------------------------------------------
# pids holds "name pid" lines of what we started; stop them newest first.
stop_all() {
  [ -f "$pidfile" ] || return 0
  local name pid
  tac "$pidfile" | while read -r name pid; do
    if ! is_running "$pid"; then say "$name ($pid) has stopped"; continue; fi
    if [ "$name" = bitcoind ] && [ -n "${cli_cmd:-}" ]; then
      "${cli[@]}" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    else
      kill -TERM "$pid" 2>/dev/null || true
    fi
    for _ in $(seq 1 300); do is_running "$pid" || break; sleep 0.2; done
    if is_running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    say "stopped $name ($pid)"
  done || true
  rm -f "$pidfile"
}

started() { echo "$1 $2" >>"$pidfile"; }
# is_running PID: alive and not a zombie waiting for its parent
is_running() {
  kill -0 "$1" 2>/dev/null || return 1
  local st
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "${st:0:1}" != Z ]
}
# spawn CMD...: in the background; with --detach in its own session so that
# closing the terminal does not stop it
spawn() {
  if [ "$mode" = detach ]; then setsid "$@" & else "$@" & fi
}

if [ "$mode" = stop ]; then
  if [ -f "$work/cli" ]; then
    read -r -a cli <"$work/cli"
    cli_cmd=1
  fi
  stop_all
  exit 0
fi

if [ -f "$pidfile" ]; then
  while read -r name pid; do
    is_running "$pid" &&
      die "$name ($pid) from an earlier run is still running: contrib/quickstart.sh --stop --workdir $work"
  done <"$pidfile"
  rm -f "$pidfile"
fi

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$mode" != detach ] || [ "$rc" -ne 0 ]; then
    stop_all
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1-3: packages, bitcoind, build ------------------------------------------
contrib/install-deps.sh
external_node=0
[ -n "${RPC_ENDPOINT:-}" ] && external_node=1
if [ $external_node = 0 ]; then
  if [ -z "${BITCOIND:-}" ]; then
    contrib/get-bitcoind.sh "$top/.deps/bitcoin"
    BITCOIND="$top/.deps/bitcoin/bin/bitcoind"
  fi
  BITCOIN_CLI=${BITCOIN_CLI:-$(dirname "$BITCOIND")/bitcoin-cli}
  [ -x "$BITCOIN_CLI" ] || die "bitcoin-cli not found next to $BITCOIND: set BITCOIN_CLI"
fi
if [ -n "${SIGNETD_BIN:-}" ]; then
  signetd=$SIGNETD_BIN
else
  say "building build/signetd"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target signetd
  signetd="$top/build/signetd"
fi
[ -x "$signetd" ] || die "no signetd binary at $signetd"
if [ "$chain" = auto ]; then
  chain=signet
  if ! "$signetd" miner --help 2>&1 | grep -q generate; then
    chain=regtest
    say "this signetd has no miner yet: using regtest (generatetoaddress)"
  fi
fi

# --- 4: the chain --------------------------------------------------------------
sd_dir="$work/signetd"
rm -rf "$sd_dir"
mkdir -p "$sd_dir"
cli_cmd=""
if [ $external_node = 0 ]; then
  if [ "$chain" = signet ]; then
    rpc_port=${QS_RPC_PORT:-38332} p2p_port=${QS_P2P_PORT:-38333} zmq_port=${QS_ZMQ_PORT:-29000}
  else
    rpc_port=${QS_RPC_PORT:-18443} p2p_port=${QS_P2P_PORT:-18444} zmq_port=${QS_ZMQ_PORT:-28332}
  fi
  node_dir="$work/node"
  rm -rf "$node_dir"
  mkdir -p "$node_dir"
  cookie="$node_dir/$chain/.cookie"
  challenge=""
  if [ "$chain" = signet ]; then
    rm -f "$work/miner.key"
    keyinfo=$("$signetd" miner keygen --key-file "$work/miner.key") ||
      die "signetd miner keygen failed"
    challenge=$(printf '%s' "$keyinfo" | sed -n 's/.*"multisig_challenge":"\([0-9a-f]*\)".*/\1/p')
    [ -n "$challenge" ] || die "no challenge in: $keyinfo"
    say "fresh signet challenge $challenge (key: $work/miner.key)"
  fi
  {
    echo "$chain=1"
    echo "server=1"
    echo "txindex=0"
    echo "fallbackfee=0.0002"
    echo "printtoconsole=0"
    echo "dnsseed=0"
    echo "fixedseeds=0"
    echo "listen=0"
    echo "rest=1"
    echo "[$chain]"
    [ -n "$challenge" ] && echo "signetchallenge=$challenge"
    echo "rpcport=$rpc_port"
    echo "rpcbind=127.0.0.1"
    echo "rpcallowip=127.0.0.1"
    echo "port=$p2p_port"
    echo "zmqpubhashblock=tcp://127.0.0.1:$zmq_port"
    echo "zmqpubrawtx=tcp://127.0.0.1:$((zmq_port + 1))"
  } >"$node_dir/bitcoin.conf"
  cli=("$BITCOIN_CLI" "-datadir=$node_dir")
  echo "${cli[*]}" >"$work/cli"
  cli_cmd=1
  say "starting bitcoind ($chain, RPC 127.0.0.1:$rpc_port) in $node_dir"
  spawn "$BITCOIND" "-datadir=$node_dir" >"$node_dir/bitcoind.out" 2>&1
  started bitcoind $!
  for _ in $(seq 1 300); do
    "${cli[@]}" getblockcount >/dev/null 2>&1 && break
    is_running $! || die "bitcoind exited: $(tail -5 "$node_dir/bitcoind.out" "$node_dir/$chain/debug.log" 2>/dev/null)"
    sleep 0.2
  done
  "${cli[@]}" getblockcount >/dev/null || die "bitcoind RPC did not come up"
  "${cli[@]}" -named createwallet wallet_name=qs >/dev/null
  mine_addr=$("${cli[@]}" getnewaddress mining bech32m)

  miner_args=(--rpc-url "http://127.0.0.1:$rpc_port" --rpc-cookie "$cookie"
              generate --address "$mine_addr" --min-nbits
              --block-interval "$interval" --key-file "$work/miner.key")
  # mine n blocks now (coinbases mature after 100)
  mine_now() {
    if [ "$chain" = signet ]; then
      "$signetd" miner --quiet "${miner_args[@]}" --max-blocks "$1" >>"$work/miner.log" 2>&1 ||
        die "signetd miner failed: $(tail -5 "$work/miner.log")"
    else
      "${cli[@]}" generatetoaddress "$1" "$mine_addr" >/dev/null
    fi
  }
  say "mining 101 blocks (coinbase maturity)"
  t0=$SECONDS
  mine_now 101
  say "height $("${cli[@]}" getblockcount) after $((SECONDS - t0))s"
  # the wallet learns of new blocks asynchronously: wait until it has
  # seen the mature coinbase before spending it
  for _ in $(seq 1 150); do
    awk -v b="$("${cli[@]}" getbalance)" 'BEGIN { exit !(b + 0 >= 1) }' && break
    sleep 0.2
  done
  say "paying 3 taproot addresses"
  for i in 1 2 3; do
    a=$("${cli[@]}" getnewaddress "pay$i" bech32m)
    "${cli[@]}" sendtoaddress "$a" "0.$i" >/dev/null
  done
  mine_now 1
  pay_height=$("${cli[@]}" getblockcount)
  say "payments confirmed in block $pay_height"

  # keep mining every $interval seconds
  if [ "$chain" = signet ]; then
    spawn "$signetd" miner "${miner_args[@]}" --ongoing >>"$work/miner.log" 2>&1
  else
    # shellcheck disable=SC2016  # expanded by the inner bash
    spawn bash -c 'while sleep "$0"; do "${@:2}" generatetoaddress 1 "$1" >/dev/null || exit 1; done' \
      "$interval" "$mine_addr" "${cli[@]}" >>"$work/miner.log" 2>&1
  fi
  started miner $!

  cat >"$sd_dir/blindbit.toml" <<EOF
host = "127.0.0.1:$port"
chain = "$chain"
rpc_endpoint = "http://127.0.0.1:$rpc_port"
cookie_path = "$cookie"
zmq_hashblock = "tcp://127.0.0.1:$zmq_port"
zmq_rawtx = "tcp://127.0.0.1:$((zmq_port + 1))"
sync_start_height = 1
tweaks_full_basic = 1
tweaks_full_with_dust_filter = 1
tweaks_cut_through_with_dust_filter = 1
log_file = "signetd.log"
EOF
else
  say "following the node at $RPC_ENDPOINT (from the environment)"
  printf 'host = "127.0.0.1:%s"\nlog_file = "signetd.log"\n' "$port" >"$sd_dir/blindbit.toml"
  export HOST="127.0.0.1:$port"
  pay_height=""
fi

# --- 5: signetd ----------------------------------------------------------------
say "starting signetd on 127.0.0.1:$port (datadir $sd_dir)"
spawn "$signetd" -datadir "$sd_dir" >"$sd_dir/stderr.log" 2>&1
sd_pid=$!
started signetd $sd_pid
url="http://127.0.0.1:$port"
tip=""
for _ in $(seq 1 600); do
  is_running $sd_pid || die "signetd exited: $(tail -20 "$sd_dir/stderr.log")"
  if body=$(curl -sf "$url/block-height" 2>/dev/null); then
    tip=$(printf '%s' "$body" | grep -o '[0-9]\+' | head -1)
    [ -z "$pay_height" ] && break
    [ -n "$tip" ] && [ "$tip" -ge "$pay_height" ] && break
  fi
  sleep 0.2
done
[ -n "$tip" ] || die "signetd did not answer on $url"
h=${pay_height:-$tip}

cat <<EOF

signetd is serving the $chain chain on $url (indexed to height $tip).
Try:
  curl -s $url/block-height
  curl -s $url/tweaks/$h
  curl -s $url/tweak-index/$h
  curl -s $url/filter/new-utxos/$h
  curl -s $url/status
  curl -s $url/health
  curl -s $url/metrics
EOF
[ -n "$cli_cmd" ] && echo "  ${cli[*]} getblockchaininfo"
echo "Logs: $sd_dir/signetd.log${cli_cmd:+, $work/miner.log, $work/node/$chain/debug.log}"

if [ "$mode" = check ]; then
  fails=0
  check() { # check PATH NONEMPTY
    local code body
    body=$(curl -s -w '\n%{http_code}' "$url$1") || true
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    if [ "$code" = 200 ] && { [ "$2" = 0 ] || [ "${#body}" -gt 4 ]; }; then
      echo "PASS $1 $code ${body:0:80}"
    else
      echo "FAIL $1 $code ${body:0:200}"
      fails=$((fails + 1))
    fi
  }
  check /block-height 0
  if [ -n "$pay_height" ]; then
    check "/tweaks/$h" 1
    check "/tweak-index/$h" 1
    check "/filter/new-utxos/$h" 1
  fi
  check /status 1
  check /health 0
  [ $fails -eq 0 ] || die "$fails check(s) failed"
  say "check passed"
  exit 0
fi

if [ "$mode" = detach ]; then
  say "running in the background; stop with: contrib/quickstart.sh --stop${work:+ --workdir $work}"
  exit 0
fi
echo "Ctrl-C stops everything."
# foreground: until Ctrl-C or one of our processes exits
while :; do
  while read -r name pid; do
    is_running "$pid" || die "$name ($pid) exited"
  done <"$pidfile"
  sleep 1
done
