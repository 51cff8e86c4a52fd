"""Fixtures for dsgen's own tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Where .ci/'s install scripts keep real tools (venvs, wheels, base image tarballs): the user's cache, as
# the scripts compute it. The tests only look there; installing is .ci/run's job (or yours, by hand).
CACHE = Path(
    os.environ.get("DSGEN_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dsgen"
)


def tool_unavailable(reason: str, switch: str) -> NoReturn:
    """Skip a test whose real tool (an engine, a browser, CellProfiler...) is not on this machine, saying
    how to get it; with `switch`=1 (CI sets each one), fail instead: there, a skip would hide a missing install."""
    if os.environ.get(switch) == "1":
        pytest.fail(f"{reason} ({switch}=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits made by tests (template repos, generated repos) need an identity on a bare machine."""
    for key, value in {
        "GIT_AUTHOR_NAME": "dsgen tests",
        "GIT_AUTHOR_EMAIL": "tests@localhost",
        "GIT_COMMITTER_NAME": "dsgen tests",
        "GIT_COMMITTER_EMAIL": "tests@localhost",
    }.items():
        monkeypatch.setenv(key, os.environ.get(key, value))


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def template_repo(root: Path) -> Path:
    """A scratch git copy of this template (copier.yml, includes/ and template/), committed and tagged v1."""
    tpl = root / "template-repo"
    tpl.mkdir()
    shutil.copy2(ROOT / "copier.yml", tpl / "copier.yml")
    shutil.copytree(ROOT / "includes", tpl / "includes")
    shutil.copytree(ROOT / "template", tpl / "template", ignore=shutil.ignore_patterns("__pycache__"))
    git(tpl, "init", "--quiet", "--initial-branch=main")
    commit_and_tag(tpl, "v1")
    return tpl


def commit_and_tag(tpl: Path, tag: str) -> None:
    git(tpl, "add", "--all")
    git(tpl, "commit", "--quiet", "-m", f"template {tag}")
    git(tpl, "tag", tag)
