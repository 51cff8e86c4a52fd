"""The canary: dsgen's tests on the newest versions its ranges allow, to see a breaking release the day it
appears (as moto 5.2.6 broke the least-privilege lifecycle) rather than the day a user installs it.

It compiles the ranges with `--upgrade` into a scratch lock, lists what is newer than requirements.txt,
and, when something is, runs the tests in a scratch environment of those newest versions. The lock keeps
every other install on the versions the tests passed with; a canary failure says which release to hold
back (an exclusion in the range) or to adapt to, before `dsgen lock --upgrade` takes it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .locks import DSGEN, compile_lock, read_lock, uv
from .source import TEMPLATE_ROOT


def pins(lock_text: str) -> dict[tuple[str, str], str]:
    """{(package, marker): version} of a compiled lock."""
    return {(pin.name, pin.marker): pin.version for pin in read_lock(lock_text)}


def newer(locked: dict[tuple[str, str], str], newest: dict[tuple[str, str], str]) -> list[str]:
    """'package locked -> newest' for each package whose newest version differs from the lock's."""
    lines = []
    for key in sorted(set(locked) | set(newest)):
        before, after = locked.get(key, "-"), newest.get(key, "-")
        if before != after:
            name, marker = key
            lines.append(f"{name} {before} -> {after}" + (f"  ({marker})" if marker else ""))
    return lines


def run(pytest_args: list[str], root: Path = TEMPLATE_ROOT) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dsgen-canary-") as tmp:
        scratch = Path(tmp)
        (scratch / "pyproject.toml").write_text((root / "pyproject.toml").read_text())
        compile_lock(DSGEN, scratch / "newest.txt", scratch, upgrade=True)
        changes = newer(pins((root / DSGEN.path).read_text()), pins((scratch / "newest.txt").read_text()))
        if not changes:
            print("canary: every package is at the newest version its range allows; nothing to try")
            return 0
        print(f"canary: {len(changes)} package(s) newer than {DSGEN.path}:")
        for line in changes:
            print(f"  {line}")
        venv = scratch / "venv"
        python = venv / "bin" / "python"
        for step in (
            [*uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
            [*uv(), "pip", "install", "--quiet", "--python", str(python), "-r", str(scratch / "newest.txt")],
            [*uv(), "pip", "install", "--quiet", "--python", str(python), "--no-deps", "-e", str(root)],
        ):
            subprocess.run(step, check=True)
        print(f"canary: pytest {' '.join(pytest_args)} on those versions")
        done = subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", *pytest_args], cwd=root)
    verdict = "pass" if done.returncode == 0 else f"FAIL (pytest exit {done.returncode})"
    print(f"canary: the tests {verdict} on the newest versions ({time.monotonic() - started:.0f} s)")
    return done.returncode
