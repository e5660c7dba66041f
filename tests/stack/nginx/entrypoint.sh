#!/bin/sh
# Docker's embedded DNS address, forwarded to the runtime's resolver.
set -eu
ns=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)
dnsmasq --listen-address=127.0.0.11 --bind-interfaces --no-resolv --no-hosts \
  --server="$ns" --cache-size=0 --user=root
exec "$@"
