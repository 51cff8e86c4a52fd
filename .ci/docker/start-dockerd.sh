#!/usr/bin/env bash
# Start a Docker engine for dsgen's container tests, or say clearly why not.
#
# Idempotent: if `docker info` answers, nothing happens. Otherwise, as root on
# Debian/Ubuntu: install what is missing (docker.io, debootstrap), then start dockerd
# in the background, trying the configurations below in order until one answers:
#
#   1. overlay2 storage, default bridge network
#   2. vfs storage,      default bridge network
#   3. overlay2 storage, --iptables=false --bridge=none  (containers use host networking)
#   4. vfs storage,      --iptables=false --bridge=none
#
# overlay2 is probed with a real overlay mount first, so a sandbox that cannot mount
# overlays goes straight to vfs. The chosen configuration is written to
# $DSGEN_DOCKER_STATE (default /run/dsgen-docker.env) for the tests and later scripts.
#
# Exit status: 0 engine ready; 2 cannot start (not root, no apt-get, daemon refuses to
# come up); the reason is the last line on stderr ("dsgen-docker: ...").
#
# Environment: DSGEN_DOCKERD_LOG (default /var/log/dsgen-dockerd.log),
# DSGEN_DOCKERD_TIMEOUT seconds per attempt (default 60), DSGEN_DOCKER_STORAGE
# (force overlay2|vfs), DSGEN_DOCKER_BRIDGE (force yes|no).
set -euo pipefail

LOG=${DSGEN_DOCKERD_LOG:-/var/log/dsgen-dockerd.log}
STATE=${DSGEN_DOCKER_STATE:-/run/dsgen-docker.env}
TIMEOUT=${DSGEN_DOCKERD_TIMEOUT:-60}
DATA_ROOT=${DSGEN_DOCKER_DATA_ROOT:-/var/lib/docker}

say() { echo "dsgen-docker: $*" >&2; }
die() { say "$*"; exit 2; }

if docker info >/dev/null 2>&1; then
    say "engine already running ($(docker info --format '{{.Driver}}' 2>/dev/null) storage)"
    exit 0
fi

case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
    unix:///var/run/docker.sock|unix:///run/docker.sock) ;;
    *) die "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local engine in its place" ;;
esac
[ "$(id -u)" = 0 ] || die "cannot start a Docker engine: not root (uid $(id -u)); start dockerd yourself or run as root"

# --- install what is missing -------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "cannot install ${missing[*]}: no apt-get on this machine"
    # Keep the package's init scripts from trying to start a service (there is no init here).
    policy_added=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    say "installing $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
    export DEBIAN_FRONTEND=noninteractive
    rc=0
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        $(printf '%s\n' "${missing[@]}" | sort -u); } >/dev/null || rc=$?
    [ -n "$policy_added" ] && rm -f /usr/sbin/policy-rc.d
    [ $rc = 0 ] || die "cannot install ${missing[*]} with apt-get (exit $rc)"
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd not found after installing docker.io"

# --- probes ------------------------------------------------------------------------
overlay_works() {
    local d rc=1
    # On the data root's filesystem: that is where dockerd will mount its overlays.
    d=$(mktemp -d "$DATA_ROOT/.overlay-probe.XXXXXX")
    mkdir -p "$d"/{lower,upper,work,merged}
    if mount -t overlay overlay -o "lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work" "$d/merged" 2>/dev/null; then
        umount "$d/merged"; rc=0
    fi
    rm -rf "$d"
    return $rc
}

dockerd_pid=
stop_attempt() {
    [ -n "$dockerd_pid" ] || return 0
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$dockerd_pid" 2>/dev/null || true
    rm -f /var/run/docker.pid
    dockerd_pid=
}

# try STORAGE BRIDGE(yes|no): start dockerd, poll `docker info` until it answers.
try() {
    local storage=$1 bridge=$2 args=(--storage-driver "$storage" --data-root "$DATA_ROOT")
    [ "$bridge" = no ] && args+=(--iptables=false --ip6tables=false --bridge=none)
    echo "=== $(date -Is) dockerd ${args[*]}" >>"$LOG"
    setsid dockerd "${args[@]}" >>"$LOG" 2>&1 </dev/null &
    dockerd_pid=$!
    local deadline=$((SECONDS + TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            say "dockerd with storage=$storage bridge=$bridge exited: $(tail -n 1 "$LOG")"
            dockerd_pid=; return 1
        fi
        if docker info >/dev/null 2>&1; then
            local driver
            driver=$(docker info --format '{{.Driver}}')
            if [ "$driver" != "$storage" ]; then
                say "dockerd came up with storage $driver, not $storage"; stop_attempt; return 1
            fi
            return 0
        fi
        sleep 0.2
    done
    say "dockerd with storage=$storage bridge=$bridge did not answer within ${TIMEOUT}s"
    stop_attempt
    return 1
}

mkdir -p "$(dirname "$LOG")" "$DATA_ROOT"
# A dockerd that died without cleaning up leaves its pid file, which blocks a new one.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
fi
storages=(overlay2 vfs)
if [ -n "${DSGEN_DOCKER_STORAGE:-}" ]; then
    storages=("$DSGEN_DOCKER_STORAGE")
elif ! overlay_works; then
    say "overlay mounts fail here; using vfs storage (slower, more disk)"
    storages=(vfs)
fi
bridges=(yes no)
[ -n "${DSGEN_DOCKER_BRIDGE:-}" ] && bridges=("$DSGEN_DOCKER_BRIDGE")

for bridge in "${bridges[@]}"; do
    for storage in "${storages[@]}"; do
        if try "$storage" "$bridge"; then
            network=bridge; [ "$bridge" = no ] && network=host
            mkdir -p "$(dirname "$STATE")"
            cat >"$STATE" <<EOF
# written by .ci/docker/start-dockerd.sh at $(date -Is)
DSGEN_DOCKER_STORAGE=$storage
DSGEN_DOCKER_BRIDGE=$bridge
DSGEN_DOCKER_NETWORK=$network
DSGEN_DOCKERD_PID=$dockerd_pid
DSGEN_DOCKERD_LOG=$LOG
EOF
            say "engine ready: storage=$storage bridge=$bridge (pid $dockerd_pid, log $LOG)"
            exit 0
        fi
    done
done
die "cannot start a Docker engine (tried storage ${storages[*]}, bridge ${bridges[*]}); see $LOG"
