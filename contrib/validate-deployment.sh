#!/usr/bin/env bash
# validate-deployment.sh - check a running signetd deployment end to end.
#
#   contrib/validate-deployment.sh            # defaults below, or set:
#   RPC_URL=http://127.0.0.1:38332  COOKIE_PATH=... | RPC_USER=.. RPC_PASS=..
#   NODE_CLI="docker compose exec -T bitcoind bitcoin-cli -signet"  (instead of RPC_URL)
#   ORACLE_URL=http://127.0.0.1:8000      signetd itself
#   BLINDBIT_URL=http://127.0.0.1/blindbit the nginx route in front of it
#   WAIT=20                               seconds to let the index catch up the tip
#
# Prints one PASS/FAIL line per check; exits 0 when all pass, 1 otherwise.
set -uo pipefail

RPC_URL=${RPC_URL:-http://127.0.0.1:38332}
ORACLE_URL=${ORACLE_URL:-http://127.0.0.1:8000}
BLINDBIT_URL=${BLINDBIT_URL:-http://127.0.0.1/blindbit}
WAIT=${WAIT:-20}
ORACLE_URL=${ORACLE_URL%/}
BLINDBIT_URL=${BLINDBIT_URL%/}
fails=0

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# node_call METHOD -> JSON result on stdout, non-zero when the node is unreachable
node_call() {
  if [ -n "${NODE_CLI:-}" ]; then
    $NODE_CLI "$1"
    return
  fi
  local auth
  if [ -n "${COOKIE_PATH:-}" ]; then
    auth=$(cat "$COOKIE_PATH") || return 1
  else
    auth="${RPC_USER:-}:${RPC_PASS:-}"
  fi
  auth=${auth//\\/\\\\}
  auth=${auth//\"/\\\"}
  # credentials go through a curl config on stdin, never argv
  printf 'user = "%s"\n' "$auth" |
    curl -sS -f --max-time 10 -K - -H 'Content-Type: application/json' \
      --data-binary "{\"jsonrpc\":\"1.0\",\"id\":\"v\",\"method\":\"$1\",\"params\":[]}" \
      "$RPC_URL/" | sed -e 's/^{"result"://' -e 's/,"error":null.*$//'
}

# json_int FIELD < json -> the first integer value of "FIELD"
json_int() { grep -o "\"$1\"[[:space:]]*:[[:space:]]*-\?[0-9]\+" | head -1 | grep -o -- '-\?[0-9]\+$'; }
json_str() { grep -o "\"$1\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" | head -1 | sed 's/.*"\([^"]*\)"$/\1/'; }

# http_get URL -> sets code and body
http_get() {
  local out
  out=$(curl -sS --max-time 10 -w '\n%{http_code}' "$1" 2>&1) || { code=000; body=$out; return 1; }
  code=${out##*$'\n'}
  body=${out%$'\n'*}
}

# 1. the node
node_height=""
if info=$(node_call getblockchaininfo 2>&1) && node_height=$(printf '%s' "$info" | json_int blocks); then
  pass "node reachable: chain=$(printf '%s' "$info" | json_str chain) height=$node_height"
else
  fail "node unreachable at ${NODE_CLI:-$RPC_URL}: $(printf '%s' "$info" | head -c 200)"
fi

# 2. the oracle's health
if http_get "$ORACLE_URL/health" && [ "$code" = 200 ]; then
  pass "oracle healthy: $ORACLE_URL/health 200"
else
  fail "oracle not healthy: $ORACLE_URL/health $code $(printf '%s' "$body" | head -c 300)"
fi

# 3. the index tip equals the node's (the node may move on: re-read both)
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

# 4. the /blindbit/ route through nginx
if http_get "$BLINDBIT_URL/block-height" && [ "$code" = 200 ] &&
   h=$(printf '%s' "$body" | json_int block_height); then
  pass "$BLINDBIT_URL/block-height 200: block_height=$h"
else
  fail "$BLINDBIT_URL/block-height: $code $(printf '%s' "$body" | head -c 200)"
fi
if http_get "$BLINDBIT_URL/status" && [ "$code" = 200 ]; then
  pass "$BLINDBIT_URL/status 200: status=$(printf '%s' "$body" | json_str status)"
else
  fail "$BLINDBIT_URL/status: $code $(printf '%s' "$body" | head -c 200)"
fi

if [ $fails -eq 0 ]; then
  echo "validate-deployment: all checks passed"
  exit 0
fi
echo "validate-deployment: $fails check(s) failed"
exit 1
