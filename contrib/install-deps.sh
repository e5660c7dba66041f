#!/usr/bin/env bash
# install-deps.sh - the Debian 12 packages signetd needs to build, test and run.
# Usage: contrib/install-deps.sh [--build-only | --runtime-only] [EXTRA_PKG...]
#   (default) everything to build, fuzz and test; --build-only: what the
#   compiler needs (the image's build stage); --runtime-only: the shared
#   libraries signetd links (the image's runtime stage).  EXTRA_PKG are
#   installed in the same apt run.  Needs root or sudo.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
build=(build-essential cmake pkg-config
       libzmq3-dev libsecp256k1-dev libcurl4-openssl-dev libjansson-dev
       liblmdb-dev libssl-dev libmicrohttpd-dev zlib1g-dev
       libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev)
test=(clang libclang-rt-14-dev lmdb-utils
      python3 python3-pytest python3-zmq python3-yaml python3-grpcio
      python3-grpc-tools nginx-light prometheus
      wrk curl ca-certificates valgrind systemd)
pkgs=("${build[@]}" "${test[@]}")
case "${1:-}" in
  --runtime-only)
    pkgs=(libzmq5 libsecp256k1-1 libcurl4 libjansson4 liblmdb0 libssl3
          libmicrohttpd12 zlib1g libgrpc29 libprotobuf-c1)
    shift ;;
  --build-only) pkgs=("${build[@]}"); shift ;;
esac
pkgs+=("$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# prometheus' postinst may try to start a service; no init system is fine.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
