#!/usr/bin/env bash
# validate-deployment.sh - check signetd in the LeCoffre stack end to end.
# Run it from the stack's folder (where logs/ is); defaults are the stack's:
#
#   signetd/contrib/validate-deployment.sh
#
#   DOCKER=docker                 container CLI (podman works too)
#   NODE_CLI="docker exec bitcoin-signet bitcoin-cli -signet -rpccookiefile=/home/bitcoin/.bitcoin/signet/.cookie"
#                                 how to ask the node (or RPC_URL + COOKIE_PATH |
#                                 RPC_USER/RPC_PASS for JSON-RPC with curl)
#   ORACLE_CONTAINER=blindbit-oracle (empty: not checked)   MINER_CONTAINER=(found by compose service
#                                 label signet_miner)
#   ORACLE_URL=http://127.0.0.1:8000   signetd itself (the published port)
#   BLINDBIT_URL=http://localhost/blindbit   the stack's public URL: port 80 must
#                                 redirect to HTTPS, which is followed
#                                 (empty: no nginx checks)
#   INSECURE=1                    accept a self-signed certificate (curl -k)
#   LOG_DIR=./logs                the stack's log folders (blindbit/, miner/)
#   MINER=auto|required|off       check the miner when it runs | always | never
#   WAIT=20                       seconds to let the index catch up the tip
#
# Checks: the node answers; the oracle container is healthy (its HEALTHCHECK);
# /health is 200; the index tip equals the node's; /metrics has the index
# height; through nginx: port 80 redirects to HTTPS, /blindbit/block-height
# and /blindbit/tweak-index/<tip> answer, /blindbit/status, /metrics and
# /health are NOT public; logs/blindbit/signetd.log is fresh logfmt with
# block_connected; the miner runs, logs logfmt to logs/miner/ and its last
# mined block is in the node's chain.
# Prints one PASS/FAIL line per check (INFO for what was not asked); exits 0
# when all pass, 1 otherwise.
set -uo pipefail

DOCKER=${DOCKER:-docker}
NODE_CLI=${NODE_CLI-$DOCKER exec bitcoin-signet bitcoin-cli -signet -rpccookiefile=/home/bitcoin/.bitcoin/signet/.cookie}
ORACLE_CONTAINER=${ORACLE_CONTAINER-blindbit-oracle}
ORACLE_URL=${ORACLE_URL:-http://127.0.0.1:8000}
BLINDBIT_URL=${BLINDBIT_URL-http://localhost/blindbit}
LOG_DIR=${LOG_DIR:-./logs}
MINER=${MINER:-auto}
WAIT=${WAIT:-20}
ORACLE_URL=${ORACLE_URL%/}
BLINDBIT_URL=${BLINDBIT_URL%/}
curl_tls=()
[ "${INSECURE:-0}" = 1 ] && curl_tls=(-k)
fails=0

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
info() { echo "INFO $*"; }

# node_call METHOD [PARAMS...] -> JSON result on stdout, non-zero when unreachable
node_call() {
  local m=$1
  shift
  if [ -z "${RPC_URL:-}" ]; then
    $NODE_CLI "$m" "$@"
    return
  fi
  local auth params=""
  if [ -n "${COOKIE_PATH:-}" ]; then
    auth=$(cat "$COOKIE_PATH") || return 1
  else
    auth="${RPC_USER:-}:${RPC_PASS:-}"
  fi
  auth=${auth//\\/\\\\}
  auth=${auth//\"/\\\"}
  local p
  for p in "$@"; do
    case $p in ''|*[!0-9]*) p="\"$p\"" ;; esac
    params="${params:+$params,}$p"
  done
  # credentials go through a curl config on stdin, never argv
  printf 'user = "%s"\n' "$auth" |
    curl -sS -f --max-time 10 -K - -H 'Content-Type: application/json' \
      --data-binary "{\"jsonrpc\":\"1.0\",\"id\":\"v\",\"method\":\"$m\",\"params\":[$params]}" \
      "$RPC_URL/" | sed -e 's/^{"result"://' -e 's/,"error":null.*$//' -e 's/^"\(.*\)"$/\1/'
}

# json_int FIELD < json -> the first integer value of "FIELD"
json_int() { grep -o "\"$1\"[[:space:]]*:[[:space:]]*-\?[0-9]\+" | head -1 | grep -o -- '-\?[0-9]\+$'; }
json_str() { grep -o "\"$1\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" | head -1 | sed 's/.*"\([^"]*\)"$/\1/'; }

# http_get URL [curl options] -> sets code, body (and url_effective)
http_get() {
  local url=$1 out
  shift
  out=$(curl -sS --max-time 10 "${curl_tls[@]}" "$@" -w '\n%{http_code} %{url_effective}' "$url" 2>&1) \
    || { code=000; body=$out; return 1; }
  local last=${out##*$'\n'}
  code=${last%% *}
  url_effective=${last#* }
  body=${out%$'\n'*}
}

# 1. the node
node_height=""
if info=$(node_call getblockchaininfo 2>&1) && node_height=$(printf '%s' "$info" | json_int blocks); then
  pass "node reachable: chain=$(printf '%s' "$info" | json_str chain) height=$node_height"
else
  fail "node unreachable (${RPC_URL:-$NODE_CLI}): $(printf '%s' "$info" | head -c 200)"
fi

# 2. the oracle container's HEALTHCHECK
if [ -n "$ORACLE_CONTAINER" ]; then
  st=$($DOCKER inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \
       "$ORACLE_CONTAINER" 2>&1)
  case $st in
    "running healthy") pass "container $ORACLE_CONTAINER: running, healthy" ;;
    *) fail "container $ORACLE_CONTAINER: $st (want: running healthy)" ;;
  esac
fi

# 3. the oracle's health
if http_get "$ORACLE_URL/health" && [ "$code" = 200 ]; then
  pass "oracle healthy: $ORACLE_URL/health 200"
else
  fail "oracle not healthy: $ORACLE_URL/health $code $(printf '%s' "$body" | head -c 300)"
fi

# 4. the index tip equals the node's (the node may move on: re-read both)
oracle_height=""
deadline=$((SECONDS + WAIT))
while :; do
  oracle_height=""
  if http_get "$ORACLE_URL/block-height" && [ "$code" = 200 ]; then
    oracle_height=$(printf '%s' "$body" | json_int block_height)
  fi
  [ -n "$node_height" ] && [ "$oracle_height" = "$node_height" ] && break
  [ $SECONDS -ge $deadline ] && break
  sleep 1
  if info=$(node_call getblockchaininfo 2>/dev/null); then
    node_height=$(printf '%s' "$info" | json_int blocks)
  fi
done
if [ -n "$node_height" ] && [ "$oracle_height" = "$node_height" ]; then
  pass "oracle tip = node tip: $oracle_height"
else
  fail "oracle tip ${oracle_height:-unknown} != node tip ${node_height:-unknown} (after ${WAIT}s)"
fi

# 5. /metrics (Prometheus text): the index height is there and current
if http_get "$ORACLE_URL/metrics" && [ "$code" = 200 ] &&
   m=$(printf '%s\n' "$body" | awk '$1=="signetd_index_height"{print $2; exit}') && [ -n "$m" ]; then
  if [ -n "$oracle_height" ] && [ "${m%.*}" -ge "$oracle_height" ] 2>/dev/null; then
    pass "$ORACLE_URL/metrics: signetd_index_height $m"
  else
    fail "$ORACLE_URL/metrics: signetd_index_height $m behind the index tip ${oracle_height:-unknown}"
  fi
else
  fail "$ORACLE_URL/metrics: $code, no signetd_index_height"
fi

# 6. nginx: port 80 redirects to HTTPS, /blindbit/ answers, operator views hidden
if [ -z "$BLINDBIT_URL" ]; then
  info "nginx not checked (BLINDBIT_URL empty)"
else
case $BLINDBIT_URL in
  http://*)
    if http_get "$BLINDBIT_URL/block-height" && [ "${code#30}" != "$code" ]; then
      pass "$BLINDBIT_URL redirects ($code) to HTTPS"
    else
      fail "$BLINDBIT_URL/block-height: $code, want a redirect to HTTPS"
    fi ;;
esac
if http_get "$BLINDBIT_URL/block-height" -L && [ "$code" = 200 ] &&
   h=$(printf '%s' "$body" | json_int block_height); then
  case $url_effective in
    https://*) pass "$url_effective 200: block_height=$h" ;;
    *) fail "$url_effective answered without HTTPS" ;;
  esac
  if http_get "$BLINDBIT_URL/tweak-index/$h" -L && [ "$code" = 200 ] &&
     [ "${body:0:1}" = "[" ]; then
    pass "$BLINDBIT_URL/tweak-index/$h 200 ($(printf '%s' "$body" | grep -o '"' | wc -l | awk '{print $1/2}') tweaks)"
  else
    fail "$BLINDBIT_URL/tweak-index/$h: $code $(printf '%s' "$body" | head -c 200)"
  fi
else
  fail "$BLINDBIT_URL/block-height: $code $(printf '%s' "$body" | head -c 200)"
fi
for p in status metrics health; do
  if http_get "$BLINDBIT_URL/$p" -L && { [ "$code" = 403 ] || [ "$code" = 404 ]; }; then
    pass "$BLINDBIT_URL/$p not public ($code)"
  else
    fail "$BLINDBIT_URL/$p is public: $code (contrib/nginx/blindbit.location denies it)"
  fi
done
fi

# logfmt_ok FILE -> the last 50 lines are ts= level= mod= msg= lines
logfmt_ok() {
  tail -n 50 "$1" | grep -Evq '^ts=[^ ]+ level=(trace|debug|info|warn|error) mod=[^ ]+ msg=[a-z_]+( |$)' && return 1
  [ -s "$1" ]
}

# 7. the oracle's log file (what Promtail ships)
f=$LOG_DIR/blindbit/signetd.log
if [ -f "$f" ] && logfmt_ok "$f" && grep -q 'msg=block_connected' "$f"; then
  pass "$f: logfmt, $(grep -c 'msg=block_connected' "$f") block_connected"
else
  fail "$f: missing, empty, not logfmt or without block_connected"
fi

# 8. the miner (profile signet_miner)
miner_ctr=${MINER_CONTAINER:-}
if [ -z "$miner_ctr" ] && [ "$MINER" != off ]; then
  miner_ctr=$($DOCKER ps -q --filter label=com.docker.compose.service=signet_miner 2>/dev/null | head -1)
fi
if [ "$MINER" = off ] || { [ "$MINER" = auto ] && [ -z "$miner_ctr" ]; }; then
  info "miner not checked (MINER=$MINER, no running signet_miner container)"
else
  st=$($DOCKER inspect -f '{{.State.Status}}' "${miner_ctr:-signet_miner}" 2>&1)
  if [ "$st" = running ]; then
    pass "miner container running"
  else
    fail "miner container: ${st:-not found}"
  fi
  f=$LOG_DIR/miner/miner.log
  if [ -f "$f" ] && logfmt_ok "$f" && last=$(grep 'msg=block_mined' "$f" | tail -1) && [ -n "$last" ]; then
    mh=$(printf '%s' "$last" | sed -n 's/.* height=\([0-9]*\).*/\1/p')
    mhash=$(printf '%s' "$last" | sed -n 's/.* hash=\([0-9a-f]*\).*/\1/p')
    chain_hash=$(node_call getblockhash "$mh" 2>/dev/null | tr -d '"[:space:]')
    if [ -n "$mhash" ] && [ "$chain_hash" = "$mhash" ]; then
      pass "$f: logfmt; last mined block $mh is in the node's chain"
    else
      fail "$f: last mined block $mh $mhash, node has ${chain_hash:-nothing} there"
    fi
  else
    fail "$f: missing, not logfmt or no block_mined yet"
  fi
fi

if [ $fails -eq 0 ]; then
  echo "validate-deployment: all checks passed"
  exit 0
fi
echo "validate-deployment: $fails check(s) failed"
exit 1
