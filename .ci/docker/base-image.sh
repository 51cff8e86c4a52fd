#!/usr/bin/env bash
# Build the local base image dsgen/debian-python:bookworm (Debian 12 minbase with
# python3, python3-venv, ca-certificates) without any image registry:
#   debootstrap -> rootfs -> `tar -c . | docker import`.
#
# Caching, fastest first:
#   1. the image already exists in the engine            -> nothing to do
#   2. $CACHE/debian-python-bookworm-$ARCH.rootfs.tar     -> docker import only
#   3. $CACHE/debootstrap-bookworm-$ARCH.debs.tgz         -> debootstrap --unpack-tarball
#      (no package downloads; the tarball survives across machines if $CACHE is shared)
#   4. cold: debootstrap --make-tarball (downloads), then as 3.
# Set DSGEN_BASE_REBUILD=1 to ignore 1 and 2.
#
# Environment: DSGEN_BASE_IMAGE (default dsgen/debian-python:bookworm),
# DSGEN_CACHE (default ~/.cache/dsgen), DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

IMAGE=${DSGEN_BASE_IMAGE:-dsgen/debian-python:bookworm}
CACHE=${DSGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dsgen}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
INCLUDE=python3,python3-venv,ca-certificates
say() { echo "dsgen-base: $*" >&2; }
die() { say "$*"; exit 2; }

docker info >/dev/null 2>&1 || die "no Docker engine answers; run .ci/docker/start-dockerd.sh first"

if [ -z "${DSGEN_BASE_REBUILD:-}" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "$IMAGE already exists ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes); nothing to do"
    exit 0
fi

case "$(uname -m)" in
    x86_64) ARCH=amd64 ;;
    aarch64|arm64) ARCH=arm64 ;;
    *) die "unsupported machine $(uname -m)" ;;
esac
mkdir -p "$CACHE"
ROOTFS_TAR=$CACHE/debian-python-$SUITE-$ARCH.rootfs.tar
DEBS_TGZ=$CACHE/debootstrap-$SUITE-$ARCH.debs.tgz
# Stamp the cache with what went into it, so a change of INCLUDE invalidates it.
KEY="$SUITE $ARCH $INCLUDE"
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1.key" 2>/dev/null)" = "$KEY" ]; }

import_rootfs() {
    local old
    old=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        --message "dsgen base: debootstrap --variant=minbase $SUITE +$INCLUDE" \
        "$ROOTFS_TAR" "$IMAGE" >/dev/null
    # The image this one replaces, unless something is still built on it.
    if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
        docker rmi "$old" >/dev/null 2>&1 || true
    fi
    say "imported $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes)"
}

if [ -z "${DSGEN_BASE_REBUILD:-}" ] && stamp_ok "$ROOTFS_TAR"; then
    say "importing cached rootfs $ROOTFS_TAR"
    import_rootfs
    exit 0
fi

command -v debootstrap >/dev/null 2>&1 || die "debootstrap missing (apt-get install debootstrap, or run start-dockerd.sh)"
[ "$(id -u)" = 0 ] || die "debootstrap needs root"

WORK=$(mktemp -d /var/tmp/dsgen-base.XXXXXX)
cleanup() {
    # debootstrap may leave /proc or /sys mounted inside the rootfs after a failure.
    for m in proc sys dev/pts dev; do umount -l "$WORK/rootfs/$m" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! stamp_ok "$DEBS_TGZ"; then
    say "downloading packages ($SUITE, $ARCH, +$INCLUDE) into $DEBS_TGZ"
    debootstrap --variant=minbase --arch="$ARCH" --include="$INCLUDE" \
        --make-tarball="$WORK/debs.tgz" "$SUITE" "$WORK/dl" "$MIRROR" >"$WORK/make.log" 2>&1 \
        || { tail -n 20 "$WORK/make.log" >&2; die "debootstrap --make-tarball failed"; }
    mv "$WORK/debs.tgz" "$DEBS_TGZ" && echo "$KEY" >"$DEBS_TGZ.key"
    rm -rf "$WORK/dl"
fi

say "debootstrap from $DEBS_TGZ"
debootstrap --variant=minbase --arch="$ARCH" --include="$INCLUDE" \
    --unpack-tarball="$DEBS_TGZ" "$SUITE" "$WORK/rootfs" "$MIRROR" >"$WORK/bootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/bootstrap.log" >&2; die "debootstrap failed"; }

R=$WORK/rootfs
# Slim the image: package lists, caches, docs; apt works again after `apt-get update`.
find "$R"/usr/share/doc -mindepth 1 -not -type d -not -name copyright -delete
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/* \
       "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/locale/* "$R"/var/log/*.log \
       "$R"/var/cache/debconf/*-old "$R"/tmp/* "$R"/root/.cache
# ...and keep later `apt-get install`s in derived images from adding them back.
cat >"$R/etc/dpkg/dpkg.cfg.d/01-dsgen-nodoc" <<'NODOC'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
NODOC
echo "deb $MIRROR $SUITE main" >"$R/etc/apt/sources.list"
# Keep it from shipping the build machine's identity.
: >"$R/etc/hostname"; rm -f "$R/etc/machine-id"; : >"$R/etc/resolv.conf"
"$R/usr/bin/python3" --version >/dev/null 2>&1 || chroot "$R" python3 --version >/dev/null \
    || die "python3 does not run in the new rootfs"

tar --numeric-owner -C "$R" -cf "$WORK/rootfs.tar" .
mv "$WORK/rootfs.tar" "$ROOTFS_TAR" && echo "$KEY" >"$ROOTFS_TAR.key"
import_rootfs
