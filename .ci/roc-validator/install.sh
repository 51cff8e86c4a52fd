#!/usr/bin/env bash
# Install roc-validator (pinned) into a venv of its own, cached between runs, for the generated repositories'
# crate test (template/tests/test_export.py, through DSGEN_ROC_VALIDATOR_PYTHON). Its own venv: every
# release pins rich<14, which dsgen's lock (rich 15, for import-linter) cannot hold beside it.
# Idempotent. Prints the venv's python on success.
#   DSGEN_ROC_VENV  where the venv lives (default $DSGEN_CACHE/roc-validator-venv; DSGEN_CACHE defaults to ~/.cache/dsgen)
set -euo pipefail

LOCK="$(cd "$(dirname "$0")" && pwd)/requirements.txt"  # roc-validator and rocrate, with hashes (dsgen lock)
VENV="${DSGEN_ROC_VENV:-${DSGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dsgen}/roc-validator-venv}"
MARKER="$VENV/.dsgen-$(sha256sum "$LOCK" | cut -c1-16)"  # written last: a half-built venv is rebuilt

if [ -f "$MARKER" ] && "$VENV/bin/python" -c "import rocrate_validator, rocrate" 2>/dev/null; then
    echo "$VENV/bin/python"
    exit 0
fi
echo "installing $LOCK into $VENV" >&2
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes -r "$LOCK" >&2
"$VENV/bin/python" -c "import rocrate_validator, rocrate"
touch "$MARKER"
echo "$VENV/bin/python"
