#!/usr/bin/env bash
# tests/clock/ahead.sh BUILD_DIR [CTEST_ARGS...] - run a build's tests with
# every process's wall clock moved forward ($CLOCK_OFFSET, default
# '+400 days'), to prove that no test depends on today's date: recorded
# chains age, thresholds drift.  contrib/test.sh runs the integration tests
# of its ASan build this way after the normal run.
#
#   tests/clock/ahead.sh build/asan -L integration
#   CLOCK_OFFSET='+800 days' tests/clock/ahead.sh build/asan -R integration.health
#
# libfaketime (Debian's faketime package, installed here if missing) is
# preloaded into every process: pytest, bitcoind, signetd, nginx.  It moves
# the wall clock only: a faked monotonic clock hangs bitcoind's RPC and makes
# libmicrohttpd time out connections at once.  Two consequences handled here:
# - Python's time.sleep() then fails with EINVAL (libfaketime's
#   clock_nanosleep wrapper): tests/clock/py/sitecustomize.py sleeps through
#   select() instead;
# - ASan wants to come first in the library list: verify_asan_link_order=0.
set -euo pipefail
build=${1:?usage: tests/clock/ahead.sh BUILD_DIR [CTEST_ARGS...]}
shift
offset=${CLOCK_OFFSET:-+400 days}
: "${BITCOIND:?set BITCOIND (contrib/test.sh does)}"
if ! command -v faketime >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq faketime >/dev/null
fi
now=$(date -u +%s)
ahead=$(faketime "$offset" date -u +%s)
echo "clock-ahead: every process sees $(faketime "$offset" date -u '+%F %T UTC')"
# the preload really works (else this run would prove nothing)
[ $((ahead - now)) -gt 86400 ] || { echo "clock-ahead: faketime did not move the clock" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
FAKETIME_DONT_FAKE_MONOTONIC=1 PYTHONPATH="$here/py" faketime "$offset" \
  /usr/bin/python3 -c 'import time; time.sleep(0.01)' \
  || { echo "clock-ahead: python cannot sleep under faketime" >&2; exit 1; }
FAKETIME_DONT_FAKE_MONOTONIC=1 \
PYTHONPATH="$here/py${PYTHONPATH:+:$PYTHONPATH}" \
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
  faketime "$offset" ctest --test-dir "$build" --no-tests=error --output-on-failure "$@"
