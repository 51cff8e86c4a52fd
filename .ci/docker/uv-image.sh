#!/usr/bin/env bash
# Build a local stand-in for ghcr.io/astral-sh/uv:<version> (no image registry here):
# an image holding only /uv and /uvx, the static (musl) binaries from uv's PyPI wheel,
# which is all the worker Dockerfile's `COPY --from=uv /uv ...` needs.
#
# usage: .ci/docker/uv-image.sh VERSION     (e.g. 0.5.11; prints the image name)
# The image is dsgen/uv:VERSION; pass it as `--build-arg UV_IMAGE=dsgen/uv:VERSION`.
# Cached: skips if the image exists; the wheel is kept under $DSGEN_CACHE/uv/.
# Environment: PYTHON (an interpreter with pip), DSGEN_CACHE (default ~/.cache/dsgen).
set -euo pipefail

say() { echo "dsgen-uv: $*" >&2; }
die() { say "$*"; exit 2; }

VERSION=${1:?usage: uv-image.sh VERSION}
IMAGE=dsgen/uv:$VERSION
CACHE=${DSGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dsgen}/uv

docker info >/dev/null 2>&1 || die "no Docker engine answers; run .ci/docker/start-dockerd.sh first"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "$IMAGE already exists; nothing to do"; echo "$IMAGE"; exit 0
fi
case "$(uname -m)" in
    x86_64) ARCH=x86_64 ;;
    aarch64|arm64) ARCH=aarch64 ;;
    *) die "unsupported machine $(uname -m)" ;;
esac
PY=${PYTHON:-python3}
"$PY" -m pip --version >/dev/null 2>&1 || die "$PY has no pip (set PYTHON=/path/to/python)"

mkdir -p "$CACHE"
wheel=$(ls "$CACHE"/uv-"$VERSION"-*musllinux*"$ARCH"*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
    say "downloading uv $VERSION (musllinux, $ARCH) from PyPI"
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --platform "musllinux_1_1_$ARCH" --dest "$CACHE" "uv==$VERSION" \
        || die "pip download uv==$VERSION failed"
    wheel=$(ls "$CACHE"/uv-"$VERSION"-*musllinux*"$ARCH"*.whl | head -n 1)
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" - "$wheel" "$WORK/root" <<'PY'
import os, sys, zipfile
wheel, root = sys.argv[1:3]
os.makedirs(root)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if "/scripts/" in name and base in ("uv", "uvx"):
            path = os.path.join(root, base)
            with open(path, "wb") as out:
                out.write(z.read(name))
            os.chmod(path, 0o755)
if not os.path.exists(os.path.join(root, "uv")):
    sys.exit(f"no uv binary in {wheel}")
PY
"$WORK/root/uv" --version >/dev/null || die "the uv binary from $wheel does not run here"
tar --numeric-owner --owner=0 --group=0 -C "$WORK/root" -c . \
    | docker import --change 'ENTRYPOINT ["/uv"]' --message "uv $VERSION from PyPI ($(basename "$wheel"))" - "$IMAGE" >/dev/null
say "built $IMAGE"
echo "$IMAGE"
