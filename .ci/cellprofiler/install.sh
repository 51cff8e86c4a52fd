#!/usr/bin/env bash
# Install the real CellProfiler 4.2.8 (headless, no wxPython) into a cached venv for
# tests/test_cellprofiler_real.py. Idempotent: exits at once when the venv already works.
# Prints the path of the cellprofiler binary on its last line.
set -euo pipefail

VENV="${DSGEN_CELLPROFILER_VENV:-${DSGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dsgen}/cellprofiler-venv}"
VERSION=4.2.8
PY39="${DSGEN_PYTHON39:-}"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"

if [ -x "$VENV/bin/cellprofiler" ] && \
   "$VENV/bin/cellprofiler" --version 2>/dev/null | grep -q "^$VERSION"; then
    echo "$VENV/bin/cellprofiler"
    exit 0
fi

# System packages: a Java 17 JDK (python-javabridge), MySQL client headers (mysqlclient),
# a C compiler and pkg-config.
need=()
dpkg -s openjdk-17-jdk-headless >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
dpkg -s default-libmysqlclient-dev >/dev/null 2>&1 || need+=(default-libmysqlclient-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s build-essential >/dev/null 2>&1 || command -v gcc >/dev/null || need+=(build-essential)
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# Python 3.9 (CellProfiler 4.2.x does not support newer Pythons).
if [ -z "$PY39" ]; then
    for c in python3.9 /root/.pyenv/versions/3.9*/bin/python3.9; do
        # (a pyenv shim exists but may refuse to run: try each candidate)
        if "$c" -c 'import sys; assert sys.version_info[:2] == (3, 9)' >/dev/null 2>&1; then
            PY39="$("$c" -c 'import sys; print(sys.executable)')"; break
        fi
    done
fi
[ -n "$PY39" ] || { echo "install.sh: no python3.9 found (set DSGEN_PYTHON39)" >&2; exit 1; }

rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PY39" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PIP_CONSTRAINT=   # the machine-wide constraints file is not meant for this venv

"${PIP[@]}" install -q --upgrade "pip<24.1" "setuptools<70" wheel
# Build requirements of the old sdists (centrosome, python-javabridge), installed first
# and used without build isolation.
"${PIP[@]}" install -q "numpy==1.23.5" "cython<3"
"${PIP[@]}" install -q --no-build-isolation "python-javabridge==4.0.3"
"${PIP[@]}" install -q --no-build-isolation "centrosome>=1.2.3,<1.3" "mysqlclient==1.4.6"

# CellProfiler itself without its dependencies, then those dependencies minus wxPython
# (GUI only; headless runs with -c never import it).
"${PIP[@]}" install -q --no-deps "cellprofiler==$VERSION"
reqs="$("$VENV/bin/python" - <<'PY'
from importlib.metadata import requires
print("\n".join(r.split(";")[0].replace(" ", "") for r in requires("cellprofiler") or []
                if not r.lower().startswith("wxpython") and "extra ==" not in r))
PY
)"
mapfile -t reqs_arr <<<"$reqs"
"${PIP[@]}" install -q --no-build-isolation "numpy==1.23.5" "${reqs_arr[@]}"

"$VENV/bin/cellprofiler" --version | grep -q "^$VERSION" || {
    echo "install.sh: cellprofiler --version is not $VERSION" >&2; exit 1; }
echo "$VENV/bin/cellprofiler"
