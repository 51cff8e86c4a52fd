"""The README's test command changes nothing on a person's machine unasked: with no Docker engine, the
container tests skip saying how to start one; they start it (installing packages as root) only when
DSGEN_START_DOCKERD=1 asks, and fail instead of skipping only when DSGEN_REQUIRE_DOCKER=1 (CI)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import ROOT, await_ci_install


def _container_tests(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The harness-script tests, against an engine that cannot answer (a socket that does not exist)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DSGEN_START", "DSGEN_REQUIRE", "DOCKER_"))}
    clean |= {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", **env}
    target = "tests/containers/test_harness_scripts.py::test_start_dockerd_is_idempotent"
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", target]
    return subprocess.run(command, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


def test_without_an_engine_the_container_tests_skip_and_start_nothing(tmp_path: Path) -> None:
    done = _container_tests(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 skipped" in done.stdout
    assert (
        "no Docker engine answers: start one (.ci/docker/start-dockerd.sh), or set DSGEN_START_DOCKERD=1" in done.stdout
    )


def test_asked_to_start_an_engine_the_tests_try_and_say_why_they_could_not(tmp_path: Path) -> None:
    # start-dockerd.sh refuses to start a local engine in place of a DOCKER_HOST that does not answer.
    done = _container_tests(tmp_path, DSGEN_START_DOCKERD="1")
    assert "1 skipped" in done.stdout and "no Docker engine could be started" in done.stdout, done.stdout[-3000:]


def test_in_ci_a_missing_engine_fails_instead_of_skipping(tmp_path: Path) -> None:
    done = _container_tests(tmp_path, DSGEN_REQUIRE_DOCKER="1")
    assert done.returncode == 1 and "1 error" in done.stdout, done.stdout[-3000:]  # a fixture's failure
    assert "(DSGEN_REQUIRE_DOCKER=1)" in done.stdout


def test_a_real_tool_test_waits_for_cis_install_of_it_and_fails_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """.ci/run installs the real tools while the tests run; a test needing one waits while it is pending."""
    monkeypatch.delenv("DSGEN_CI_INSTALLS", raising=False)
    assert await_ci_install("docker") is None  # nobody installs anything: the test looks for itself
    monkeypatch.setenv("DSGEN_CI_INSTALLS", str(tmp_path))
    pending = tmp_path / "docker.pending"
    pending.touch()
    threading.Timer(1.5, pending.unlink).start()
    started = time.monotonic()
    assert await_ci_install("docker") is None
    assert time.monotonic() - started >= 1.4
    (tmp_path / "cellprofiler.failed").write_text("E: Unable to locate package default-libmysqlclient-dev\n")
    assert "Unable to locate package" in (await_ci_install("cellprofiler") or "")
