#!/bin/sh
# entrypoint.sh - the signetd image's entrypoint (/usr/local/bin/signetd-entrypoint),
# run by tini (PID 1: forwards SIGTERM, reaps; the daemon and the miner then
# stop on `docker stop` without waiting for the SIGKILL).
#
#   IMAGE                          -> signetd -datadir /data (the CMD)
#   IMAGE -datadir /data ...       -> signetd -datadir /data ...
#   IMAGE miner generate ...       -> signetd miner generate ...  (also signet-miner)
#   IMAGE sh / anything else       -> run as given
#
# Started as root (the default), it first makes the data volume and the log
# folders belong to the image's user signetd (uid:gid 10001:10001) -- an
# existing blindbit_data volume written by the upstream image (root) and log
# folders created by root both work -- then drops to that user with setpriv.
# Started as another user (compose `user:`), it changes nothing.
#
# The node's cookie (COOKIE_PATH for the daemon, RPC_COOKIE for the miner):
# bitcoind writes it 0600 in a 0700 signet/ folder.  The operator starts
# bitcoind with -rpccookieperms=group and makes signet/ group-searchable
# (chmod 0750); this script then adds the cookie's group to signetd's groups.
# When the cookie is still unreadable it says why, and starts anyway (the
# daemon retries the node; the message stays in the log).
#
# The miner logs to stderr; with MINER_LOG_FILE set, stderr is appended to
# that file instead (opened before the privilege drop; logrotate: copytruncate).
set -eu

SD_UID=10001
SD_GID=10001

say() { echo "signetd-entrypoint: $*" >&2; }

miner=0
case "${1:-}" in
  "" | -*) set -- signetd "$@" ;;
  miner) shift; set -- signetd miner "$@"; miner=1 ;;
  signet-miner) miner=1 ;;
  signetd) [ "${2:-}" = miner ] && miner=1 ;;
esac

# own DIR: make DIR and what is in it 10001:10001, touching only what is not
# already (a large index is not rewalked for nothing: find lists, chown fixes).
own() {
  [ -d "$1" ] || return 0
  if find "$1" -xdev \( ! -user "$SD_UID" -o ! -group "$SD_GID" \) -print -quit \
     2>/dev/null | grep -q .; then
    say "chown -R $SD_UID:$SD_GID $1 (was $(stat -c %u:%g "$1"))"
    # read-only bind mounts inside (a config file) stay as they are
    find "$1" -xdev \( ! -user "$SD_UID" -o ! -group "$SD_GID" \) \
      -exec chown -h "$SD_UID:$SD_GID" {} + 2>/dev/null || true
  fi
}

# datadir: -datadir X in the arguments, else /data
datadir=/data
prev=""
for a in "$@"; do
  case "$prev" in -datadir | --datadir) datadir=$a ;; esac
  case "$a" in -datadir=* | --datadir=*) datadir=${a#*=} ;; esac
  prev=$a
done

if [ "$(id -u)" = 0 ]; then
  groups=$SD_GID
  if [ $miner = 1 ]; then
    own /var/log/miner
    cookie=${RPC_COOKIE:-}
    [ -z "${MINER_LOG_FILE:-}" ] || own "$(dirname "$MINER_LOG_FILE")"
  else
    own "$datadir"
    own /var/log/blindbit
    cookie=${COOKIE_PATH:-}
    case "${LOG_FILE:-}" in /*) own "$(dirname "$LOG_FILE")" ;; esac
  fi
  # the node's cookie: join its group (the file's, else its folder's)
  if [ -n "$cookie" ]; then
    g=""
    if [ -e "$cookie" ]; then
      g=$(stat -c %g "$cookie")
    elif [ -d "$(dirname "$cookie")" ]; then
      g=$(stat -c %g "$(dirname "$cookie")")
    fi
    [ -z "$g" ] || [ "$g" = "$SD_GID" ] || groups="$groups,$g"
    if [ -e "$cookie" ] && ! setpriv --reuid="$SD_UID" --regid="$SD_GID" \
        --groups="$groups" test -r "$cookie"; then
      say "cannot read the node's cookie $cookie as uid $SD_UID" \
          "(cookie $(stat -c '%a %u:%g' "$cookie")," \
          "folder $(stat -c '%a %u:%g' "$(dirname "$cookie")")):" \
          "start bitcoind with -rpccookieperms=group and make its signet/ folder" \
          "group-searchable (chmod 0750), or use rpcuser/rpcpassword" \
          "(SIGNETD_RPC_USER/SIGNETD_RPC_PASS)"
    fi
  fi
  # the miner's key (SIGNET_MINER_KEY_FILE, e.g. a compose secret): a bind
  # mount keeps the host's owner, so hand uid 10001 a 0600 copy in
  # /run/signetd (tmpfs in the compose file).  A key others may read is passed
  # as is: the miner refuses it and says why.
  kf=${SIGNET_MINER_KEY_FILE:-}
  if [ $miner = 1 ] && [ -n "$kf" ] && [ -f "$kf" ] &&
     [ $(( 0$(stat -c %a "$kf") & 06 )) -eq 0 ]; then
    mkdir -p /run/signetd
    chown "$SD_UID:$SD_GID" /run/signetd
    chmod 0700 /run/signetd
    install -m 0600 -o "$SD_UID" -g "$SD_GID" "$kf" /run/signetd/signet_miner.key
    export SIGNET_MINER_KEY_FILE=/run/signetd/signet_miner.key
  fi
  if [ $miner = 1 ] && [ -n "${MINER_LOG_FILE:-}" ]; then
    touch "$MINER_LOG_FILE"
    chown "$SD_UID:$SD_GID" "$MINER_LOG_FILE"
    exec 2>>"$MINER_LOG_FILE"
  fi
  export HOME="$datadir"
  exec setpriv --reuid="$SD_UID" --regid="$SD_GID" --groups="$groups" \
    --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
fi

if [ $miner = 1 ] && [ -n "${MINER_LOG_FILE:-}" ]; then
  exec 2>>"$MINER_LOG_FILE"
fi
exec "$@"
