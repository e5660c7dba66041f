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
# preloaded into every process: pytest, bitcoind, signetd, nginx.  Two of its
# quirks need handling:
# - Python's time.sleep() fails with EINVAL unless the monotonic clock is
#   faked too, while bitcoind's RPC hangs when it is; so bitcoind runs
#   through a small wrapper that leaves its monotonic clock alone;
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
wrap=$(mktemp -d /tmp/signetd-clock.XXXXXX)
trap 'rm -rf "$wrap"' EXIT
cat >"$wrap/bitcoind" <<W
#!/bin/sh
FAKETIME_DONT_FAKE_MONOTONIC=1 exec "$BITCOIND" "\$@"
W
chmod +x "$wrap/bitcoind"
now=$(date -u +%s)
ahead=$(faketime "$offset" date -u +%s)
echo "clock-ahead: every process sees $(faketime "$offset" date -u '+%F %T UTC')"
# the preload really works (else this run would prove nothing)
[ $((ahead - now)) -gt 86400 ] || { echo "clock-ahead: faketime did not move the clock" >&2; exit 1; }
BITCOIND="$wrap/bitcoind" \
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
  faketime "$offset" ctest --test-dir "$build" --no-tests=error --output-on-failure "$@"
