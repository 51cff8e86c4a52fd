#!/usr/bin/env bash
# Install the real ngff-zarr command-line tool (pinned) into its own venv, cached between
# runs, for tests/test_omezarr_ngff.py. Idempotent: when the venv already holds the pinned
# version it does nothing. Prints the CLI's path on success.
#   DSGEN_NGFF_VENV    where the venv lives (default $DSGEN_CACHE/ngff-venv; DSGEN_CACHE defaults to ~/.cache/dsgen)
#   DSGEN_NGFF_PYTHON  the Python that makes it (default python3)
set -euo pipefail

NGFF_ZARR_VERSION=0.50.0
# The CLI reads TIFFs with tifffile; zarr lets the test open the stores it writes. Not the
# [cli] extra: its ITK readers add 1.6 GB (1.9 GB in all, against 0.3 GB) that TIFFs never use.
PACKAGES=("ngff-zarr==$NGFF_ZARR_VERSION" "tifffile==2026.3.3" "zarr==3.1.6")
PYTHON="${DSGEN_NGFF_PYTHON:-python3}"  # 3.11 or newer
VENV="${DSGEN_NGFF_VENV:-${DSGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dsgen}/ngff-venv}"
# Written last, so a venv left half-built by an interrupted run is rebuilt, not trusted.
MARKER="$VENV/.dsgen-$(echo "${PACKAGES[*]}" | tr ' =' '_-')"

if [ -f "$MARKER" ] && [ -x "$VENV/bin/ngff-zarr" ] \
    && "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('ngff-zarr') != '$NGFF_ZARR_VERSION')" 2>/dev/null; then
    echo "$VENV/bin/ngff-zarr"
    exit 0
fi

echo "installing ngff-zarr $NGFF_ZARR_VERSION into $VENV" >&2
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "${PACKAGES[@]}" >&2
"$VENV/bin/ngff-zarr" --help >/dev/null
touch "$MARKER"
echo "$VENV/bin/ngff-zarr"
