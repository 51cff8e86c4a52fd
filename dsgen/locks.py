"""The locked installs: exact versions with hashes, compiled by uv from the honest ranges.

Five locks, each a pip requirements file that `pip install -r` (or `uv pip install -r`) installs in
hash-checking mode:
  requirements.txt                     dsgen and its test extra (pyproject.toml): the README's test command
  template/requirements.txt            what a generated repository's run.py needs (requirements.in)
  template/requirements-dev.txt        its tests and docs (requirements-dev.in): its README and CI
  template/worker-requirements.txt     its worker image (worker-requirements.in): its Dockerfile
  .ci/roc-validator/requirements.txt   CI's venv for roc-validator (requirements.in), apart: it pins rich<14
Each is universal (any OS and Python from its floor up: markers choose). The template's locks prefer
dsgen's own pins, so a generated repository's tests run on the versions dsgen's tests ran on
(tests/test_locks.py holds them to it). `dsgen lock` refreshes them, keeping every pin the ranges still
allow; `--upgrade` takes the newest the ranges allow; `--check` changes nothing and says which differ.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .source import TEMPLATE_ROOT

REFRESH_COMMAND = "dsgen lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)[ \t]*(?:;([^\\\n]*))?")


@dataclass(frozen=True)
class Pin:
    """One requirement of a lock: `name==version ; marker`, and its hashes."""

    name: str  # normalised (PEP 503)
    version: str
    marker: str  # "" when it applies everywhere
    hashes: tuple[str, ...]


def read_lock(text: str) -> list[Pin]:
    """The pins of a compiled lock, in order."""
    pins: list[Pin] = []
    for entry in re.split(r"\n(?=\S)", text):
        found = _PIN.match(entry)
        if found:
            name = re.sub(r"[-_.]+", "-", found[1]).lower()
            hashes = tuple(re.findall(r"--hash=(\S+)", entry))
            pins.append(Pin(name, found[2], (found[3] or "").strip(), hashes))
    return pins


@dataclass(frozen=True)
class Lock:
    path: Path  # the lock, relative to the dsgen checkout
    sources: tuple[str, ...]  # what uv compiles it from, relative to the lock's folder
    python: str  # the lowest Python it must install on
    prefer: Path | None = None  # a lock whose pins it starts from

    def command(self, output: Path, upgrade: bool | Sequence[str]) -> list[str]:
        extra = ["--upgrade"] if upgrade is True else [f"--upgrade-package={p}" for p in upgrade or ()]
        return [
            *uv(),
            "pip",
            "compile",
            *self.sources,
            "--universal",
            f"--python-version={self.python}",
            "--generate-hashes",
            "--quiet",
            f"--custom-compile-command={REFRESH_COMMAND}",
            f"--output-file={output}",
            *extra,
        ]


DSGEN = Lock(Path("requirements.txt"), ("pyproject.toml", "--extra=test"), "3.11")
# run.py and the tests run on the user's machine, as dsgen does (moto's newest dependencies need 3.11);
# the worker runs in the image's Python: uv's 3.12, or the base image's own from 3.10 up.
TEMPLATE = Path("template")
LOCKS = (
    DSGEN,
    Lock(TEMPLATE / "requirements.txt", ("requirements.in",), "3.11", DSGEN.path),
    Lock(TEMPLATE / "requirements-dev.txt", ("requirements-dev.in",), "3.11", DSGEN.path),
    Lock(TEMPLATE / "worker-requirements.txt", ("worker-requirements.in",), "3.10", DSGEN.path),
    Lock(Path(".ci/roc-validator/requirements.txt"), ("requirements.in",), "3.11"),
)


def uv() -> list[str]:
    """uv, from this environment (it is in dsgen's test extra) or the PATH."""
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        raise SystemExit("dsgen lock needs uv: pip install uv (it is in dsgen's test extra)")
    return [found]


def compile_lock(lock: Lock, output: Path, root: Path = TEMPLATE_ROOT, upgrade: bool | Sequence[str] = False) -> None:
    """Write `lock` to `output`, starting from the pins already in `output` (uv keeps those the ranges allow)."""
    folder = (root / lock.path).parent
    if lock.prefer is not None and not upgrade:
        # uv reads the output file's pins as preferences: start from dsgen's own where this lock has none.
        current = output.read_text() if output.exists() else ""
        output.write_text((root / lock.prefer).read_text() + "\n" + current)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}  # resolving needs no interpreter of each version
    done = subprocess.run(lock.command(output, upgrade), cwd=folder, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"uv could not compile {lock.path}:\n{done.stderr.strip()}")


def refresh(root: Path = TEMPLATE_ROOT, upgrade: bool | Sequence[str] = False) -> None:
    """Rewrite every lock in place (dsgen's first: the others start from it)."""
    for lock in LOCKS:
        compile_lock(lock, (root / lock.path).resolve(), root, upgrade)


def stale(root: Path = TEMPLATE_ROOT) -> list[Path]:
    """The locks that `dsgen lock` would change (their ranges changed since they were compiled)."""
    changed = []
    with tempfile.TemporaryDirectory(prefix="dsgen-lock-") as tmp:
        copy = Path(tmp)
        for lock in LOCKS:
            folder = lock.path.parent
            (copy / folder).mkdir(parents=True, exist_ok=True)
            for part in (lock.path, *(folder / s for s in lock.sources if not s.startswith("--"))):
                shutil.copy2(root / part, copy / part)
        refresh(copy)
        changed = [lock.path for lock in LOCKS if (copy / lock.path).read_text() != (root / lock.path).read_text()]
    return changed
