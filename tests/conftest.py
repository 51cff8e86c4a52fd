"""Fixtures for dsgen's own tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Where .ci/'s install scripts keep real tools (venvs, wheels, base image tarballs): the user's cache, as
# the scripts compute it. The tests only look there; installing is .ci/run's job (or yours, by hand).
CACHE = Path(
    os.environ.get("DSGEN_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dsgen"
)


def await_ci_install(name: str) -> str | None:
    """Wait while .ci/run installs `name` beside the running tests (it marks `<name>.pending` in
    DSGEN_CI_INSTALLS until done, and leaves `<name>.failed` holding the log's end if it failed).
    None when the tool is ready or nobody installs it; else why it is not there."""
    folder = os.environ.get("DSGEN_CI_INSTALLS")
    if not folder:
        return None
    pending, failed = Path(folder, f"{name}.pending"), Path(folder, f"{name}.failed")
    deadline = time.monotonic() + 1800
    while pending.exists() and time.monotonic() < deadline:
        time.sleep(1)
    if pending.exists():
        return f"CI's install of {name} did not finish within 30 minutes"
    return f"CI's install of {name} failed:\n{failed.read_text()[-3000:]}" if failed.exists() else None


def require_tool(name: str, switch: str) -> None:
    """Wait for CI's install of the tool, if one is underway; a failed install is the test's failure (or skip)."""
    problem = await_ci_install(name)
    if problem:
        tool_unavailable(problem, switch)


def tool_unavailable(reason: str, switch: str) -> NoReturn:
    """Skip a test whose real tool (an engine, a browser, CellProfiler...) is not on this machine, saying
    how to get it; with `switch`=1 (CI sets each one), fail instead: there, a skip would hide a missing install."""
    if os.environ.get(switch) == "1":
        pytest.fail(f"{reason} ({switch}=1)", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need a real tool run last, so CI installs the tools while everything else runs."""
    items.sort(key=lambda item: item.get_closest_marker("real_tool") is not None)


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
    """A scratch git copy of this template (copier.yml and template/), committed and tagged v1."""
    tpl = root / "template-repo"
    tpl.mkdir()
    shutil.copy2(ROOT / "copier.yml", tpl / "copier.yml")
    shutil.copytree(ROOT / "template", tpl / "template", ignore=shutil.ignore_patterns("__pycache__"))
    git(tpl, "init", "--quiet", "--initial-branch=main")
    commit_and_tag(tpl, "v1")
    return tpl


def template_repo_at(root: Path, commit: str) -> Path:
    """A scratch git copy of this template as it was at `commit` of dsgen's own history, tagged v1."""
    tpl = root / "template-repo"
    tpl.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "copier.yml", "template"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tpl)], input=archive, check=True)
    git(tpl, "init", "--quiet", "--initial-branch=main")
    commit_and_tag(tpl, "v1")
    return tpl


def replace_template(tpl: Path, tag: str) -> None:
    """Make the scratch template repo this worktree's template, committed and tagged `tag`."""
    shutil.rmtree(tpl / "template")
    shutil.copy2(ROOT / "copier.yml", tpl / "copier.yml")
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".hypothesis")
    shutil.copytree(ROOT / "template", tpl / "template", ignore=ignore)
    commit_and_tag(tpl, tag)


def commit_and_tag(tpl: Path, tag: str) -> None:
    git(tpl, "add", "--all")
    git(tpl, "commit", "--quiet", "-m", f"template {tag}")
    git(tpl, "tag", tag)
