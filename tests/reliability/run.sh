#!/bin/sh
# Regenerates docs/reliability.md (issue 7): every fault, kill, disk-full,
# reorg, load, leak and fuzz figure, measured against a real bitcoind.
#
#   tests/reliability/run.sh --quick            every scenario, minutes
#   tests/reliability/run.sh --full             the documented run (~40 min)
#   tests/reliability/run.sh --full --only load,fuzz   rerun sections
#
# Environment:
#   SIGNETD_BUILD_DIR  a release-ish build (signetd, tools/oracle_index);
#                      default build/
#   SIGNETD_ASAN_BIN   signetd built with -DSIGNETD_SANITIZE=address,undefined
#                      for the LeakSanitizer section
#   SIGNETD_FUZZ_BUILD where to build the libFuzzer targets (clang);
#                      default build-fuzz/
#   BITCOIND           bitcoind binary (else .deps/bitcoin or PATH)
# The disk-full section mounts a tmpfs (needs root or CAP_SYS_ADMIN).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${SIGNETD_BUILD_DIR:=$repo/build}"
: "${SIGNETD_BIN:=$SIGNETD_BUILD_DIR/signetd}"
export SIGNETD_BUILD_DIR SIGNETD_BIN
mode=--quick
args=""
for a in "$@"; do
	case "$a" in
	--quick) mode=--quick ;;
	--full) mode=--full ;;
	*) args="$args $a" ;;
	esac
done
[ "$mode" = --full ] && full=--full || full=
# shellcheck disable=SC2086
exec /usr/bin/python3 "$here/run.py" $full $args
