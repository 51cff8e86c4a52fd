#!/usr/bin/env bash
# Download the worker's Python requirements as wheels for the base image's Python
# (Debian bookworm: CPython 3.11, glibc 2.36, this machine's architecture), so an image
# build can `pip install --no-index --find-links <dir>` with no network.
#
# usage: .ci/docker/wheels.sh [OUT_DIR] [REQUIREMENTS_FILE]
#   OUT_DIR            default $DSGEN_CACHE/wheels/cp311-<arch> (DSGEN_CACHE, default ~/.cache/dsgen)
#   REQUIREMENTS_FILE  default template/worker-requirements.txt (the worker's lock: exact
#                      versions with hashes, which pip checks as it downloads)
# Prints OUT_DIR on stdout. A second run with the same requirements downloads nothing
# (OUT_DIR/.stamp). Environment: PYTHON (an interpreter with pip; default: first of
# $VIRTUAL_ENV/bin/python, .venv/bin/python, python3 that has pip).
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "dsgen-wheels: $*" >&2; }
die() { say "$*"; exit 2; }

case "$(uname -m)" in
    x86_64) ARCH=x86_64 ;;
    aarch64|arm64) ARCH=aarch64 ;;
    *) die "unsupported machine $(uname -m)" ;;
esac
PY_VERSION=311           # Debian bookworm's python3
GLIBC_MINOR=36           # Debian bookworm's glibc 2.36

OUT=${1:-${DSGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dsgen}/wheels/cp$PY_VERSION-$ARCH}
REQ=${2:-template/worker-requirements.txt}
mkdir -p "$OUT"
[ -f "$REQ" ] || die "$REQ not found"
cp "$REQ" "$OUT/requirements.txt.new"

pick_python() {
    local c
    for c in ${PYTHON:-} ${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python} .venv/bin/python python3; do
        if "$c" -m pip --version >/dev/null 2>&1; then echo "$c"; return 0; fi
    done
    return 1
}
PY=$(pick_python) || die "no Python with pip found (set PYTHON=/path/to/python)"

platforms=(--platform "manylinux2014_$ARCH")
for minor in $(seq 17 $GLIBC_MINOR); do platforms+=(--platform "manylinux_2_${minor}_$ARCH"); done
[ "$ARCH" = x86_64 ] && platforms+=(--platform manylinux1_x86_64 --platform manylinux2010_x86_64)

key="$(sha256sum "$OUT/requirements.txt.new" | cut -c1-64) cp$PY_VERSION $ARCH glibc2.$GLIBC_MINOR"
if [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$key" ]; then
    rm -f "$OUT/requirements.txt.new"
    say "wheels up to date in $OUT ($(ls "$OUT"/*.whl | wc -l) wheels)"
    echo "$OUT"; exit 0
fi

mv "$OUT/requirements.txt.new" "$OUT/requirements.txt"
rm -f "$OUT"/*.whl "$OUT/.stamp"
say "downloading wheels for cp$PY_VERSION/$ARCH into $OUT"
"$PY" -m pip download --quiet --disable-pip-version-check \
    --only-binary=:all: --implementation cp --python-version "$PY_VERSION" --abi "cp$PY_VERSION" \
    "${platforms[@]}" --dest "$OUT" -r "$OUT/requirements.txt" \
    || die "pip download failed (no network to PyPI, or a requirement has no wheel for cp$PY_VERSION $ARCH)"
echo "$key" >"$OUT/.stamp"
say "$(ls "$OUT"/*.whl | wc -l) wheels, $(du -sh "$OUT" | cut -f1)"
echo "$OUT"
