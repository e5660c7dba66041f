#!/usr/bin/env bash
# test.sh - install everything the tests need, build, and run every test.
#
#   contrib/test.sh            # what README and CI run
#
# 1. apt packages (contrib/install-deps.sh, contrib/container.sh install) and a real bitcoind
#    (contrib/get-bitcoind.sh .deps/bitcoin, unless $BITCOIND is set);
# 2. a gcc -Werror build, unit tests;
# 3. an ASan+UBSan build, the whole suite: unit, fuzz corpus replay,
#    integration tests against real bitcoind, nginx, promtool, and the
#    LeCoffre stack with podman + docker-compose (integration.stack);
# 4. the integration tests again (release build) with the clock 400 days ahead
#    (tests/clock/ahead.sh: libfaketime);
# 5. a clang libFuzzer build: each fuzz target runs $FUZZ_SECONDS (10) s.
# A test that cannot run (no bitcoind, no nginx) fails; nothing skips.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

contrib/install-deps.sh
# podman, buildah, docker-compose, mmdebstrap...: the stack test
# (tests/integration/test_stack.py) builds the image and runs the LeCoffre
# compose stack; it makes the Debian base images itself when missing
contrib/container.sh install
if [ -z "${BITCOIND:-}" ]; then
  contrib/get-bitcoind.sh "$top/.deps/bitcoin"
  export BITCOIND="$top/.deps/bitcoin/bin/bitcoind"
  export BITCOIN_CLI="$top/.deps/bitcoin/bin/bitcoin-cli"
  export BITCOIN_UTIL="$top/.deps/bitcoin/bin/bitcoin-util"
fi
"$BITCOIND" -version | head -1

echo "== build (gcc, -Werror) + unit tests"
cmake -S . -B build/werror -DSIGNETD_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/werror -j"$jobs"
ctest --test-dir build/werror -L unit --no-tests=error --output-on-failure -j"$jobs"

echo "== build (ASan+UBSan) + full suite"
cmake -S . -B build/asan -DSIGNETD_WERROR=ON -DSIGNETD_SANITIZE=address,undefined \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/asan -j"$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build/asan --no-tests=error --output-on-failure -j"$jobs" --timeout 1500 "$@"
echo "== integration tests again, every clock ${CLOCK_OFFSET:-+400 days} ahead (libfaketime)"
# Recorded chains age and thresholds drift: the suite must pass next year.
# On the release build: libfaketime interposes every clock read, which
# under ASan too pushes the latency tests past their bounds.  Two tests stay
# in the normal pass only, neither reads a date: integration.stack (podman's
# own clock checks break under faketime) and integration.api_abuse (latency
# and connection-hold bounds under floods, which libfaketime's interposed
# clock reads distort: p99 204 ms against 100, held connections dropped).
tests/clock/ahead.sh build/werror -L integration -E 'integration.(stack|api_abuse)' \
  -j"$jobs" --timeout 1500 "$@"
echo "== fuzz (clang libFuzzer + ASan/UBSan): every target fuzzes ${FUZZ_SECONDS:-10} s"
CC=clang cmake -S . -B build/fuzz -DSIGNETD_WERROR=ON -DSIGNETD_FUZZ=ON \
  -DSIGNETD_SANITIZE=address,undefined -DSIGNETD_INTEGRATION_TESTS=OFF \
  -DSIGNETD_FUZZ_SECONDS="${FUZZ_SECONDS:-10}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/fuzz -j"$jobs"
ctest --test-dir build/fuzz -L fuzzrun --no-tests=error --output-on-failure
echo "== all tests passed"
