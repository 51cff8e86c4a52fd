"""Installs reproduce: every install (the README's, CI's, a generated repository's, its worker image's)
comes from a lock of exact versions with hashes, compiled from the honest ranges (dsgen/locks.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.markers import Marker
from packaging.requirements import Requirement

from dsgen.canary import newer, pins
from dsgen.locks import DSGEN, LOCKS, Lock, read_lock, uv

from .conftest import ROOT

# The generated repositories' locks (they start from dsgen's pins); CI's roc-validator venv is apart (rich<14).
TEMPLATE_LOCKS = [lock for lock in LOCKS if lock.prefer == DSGEN.path]


def _ranges(lock: Lock) -> list[Requirement]:
    """The requirements a lock is compiled from: pyproject's dependencies and test extra, or a .in file (with -r)."""
    if lock is DSGEN:
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]

    def read(path: Path) -> list[Requirement]:
        found = []
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("-r "):
                found += read(path.parent / line[3:].strip())
            elif line:
                found.append(Requirement(line))
        return found

    return [r for source in lock.sources for r in read((ROOT / lock.path).parent / source)]


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: str(lock.path))
def test_every_lock_pins_exact_versions_with_hashes_within_its_ranges(lock: Lock) -> None:
    text = (ROOT / lock.path).read_text()
    assert "dsgen lock" in text.splitlines()[1], "the header names the command that refreshes it"
    requirement_lines = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    locked = read_lock(text)
    assert len(locked) == len(requirement_lines), "every requirement is one name==version"
    assert all(pin.hashes for pin in locked), "every pin carries its hashes"
    versions = {pin.name: [] for pin in locked}
    for pin in locked:
        versions[pin.name].append(pin.version)
    for wanted in _ranges(lock):
        name = _normal(wanted.name)
        assert name in versions, f"{wanted} is not in {lock.path}"
        assert all(wanted.specifier.contains(v, prereleases=True) for v in versions[name]), (wanted, versions[name])


@pytest.mark.parametrize("lock", TEMPLATE_LOCKS, ids=lambda lock: str(lock.path))
def test_generated_repositories_lock_the_versions_dsgens_tests_run_on(lock: Lock) -> None:
    ours: dict[str, set[str]] = {}
    for pin in read_lock((ROOT / DSGEN.path).read_text()):
        ours.setdefault(pin.name, set()).add(pin.version)
    theirs = read_lock((ROOT / lock.path).read_text())
    assert [f"{p.name} {p.version} (dsgen: {ours.get(p.name)})" for p in theirs if p.version not in ours[p.name]] == []


def test_the_canary_names_each_package_whose_newest_version_is_not_the_locked_one() -> None:
    locked = pins(
        "moto==5.2.5 \\\n    --hash=sha256:aa\nnumpy==2.4.6 ; python_full_version < '3.12' \\\n    --hash=sha256:bb\n"
    )
    newest = pins(
        "moto==5.2.6 \\\n    --hash=sha256:cc\nnumpy==2.4.6 ; python_full_version < '3.12' \\\n    --hash=sha256:bb\n"
    )
    assert newer(locked, newest) == ["moto 5.2.5 -> 5.2.6"]
    assert newer(locked, locked) == []


def _applies(pin_marker: str) -> bool:
    return not pin_marker or Marker(pin_marker).evaluate()


def _installed(python: Path) -> dict[str, str]:
    listed = subprocess.run([*uv(), "pip", "list", "--python", str(python), "--format=json"], capture_output=True)
    return {_normal(p["name"]): p["version"] for p in json.loads(listed.stdout)}


@pytest.mark.slow
@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: str(lock.path))
def test_a_venv_built_from_the_lock_resolves_to_exactly_the_lock(lock: Lock, tmp_path: Path) -> None:
    """Each lock installs into a new venv in hash-checking mode, resolving dependencies (a pin missing from
    the lock would fail it), and what is installed is exactly its pins for this Python. uv installs (from
    its cache where it holds the files: seconds, not pip's minute); the README's own pip install is CI's
    check that pip reads the same files."""
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run([*uv(), "venv", "--quiet", "--python", sys.executable, str(python.parents[1])], check=True)
    install = [
        *uv(),
        "pip",
        "install",
        "--quiet",
        "--require-hashes",
        "--python",
        str(python),
        "-r",
        str(ROOT / lock.path),
    ]
    done = subprocess.run(install, capture_output=True, text=True, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})
    assert done.returncode == 0, done.stderr[-3000:]
    expected = {pin.name: pin.version for pin in read_lock((ROOT / lock.path).read_text()) if _applies(pin.marker)}
    assert _installed(python) == expected
