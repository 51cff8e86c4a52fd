"""The .ci/docker scripts: cached runs do nothing, and the base image is what builds expect."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import BASE_IMAGE, DOCKER_DIR, run_script

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.real_tool]


@pytest.mark.parametrize("name", ["start-dockerd.sh", "base-image.sh", "wheels.sh"])
def test_script_is_valid_bash(name: str) -> None:
    subprocess.run(["bash", "-n", str(DOCKER_DIR / name)], check=True)


def test_start_dockerd_is_idempotent(docker_client: Any) -> None:
    started = time.monotonic()
    done, _ = run_script("start-dockerd.sh", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "already running" in done.stderr
    assert time.monotonic() - started < 10


def test_base_image_is_cached(base_image: str) -> None:
    done, seconds = run_script("base-image.sh", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stderr and seconds < 10


def test_wheels_are_cached_and_fit_the_base_image(wheels_dir: Path) -> None:
    done, _seconds = run_script("wheels.sh", env={"PYTHON": sys.executable}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stderr and Path(done.stdout.strip()) == wheels_dir
    names = [p.name for p in wheels_dir.glob("*.whl")]
    assert any(n.startswith("boto3-") for n in names)
    binary = [n for n in names if not n.endswith("-none-any.whl")]
    assert all("cp311" in n or "abi3" in n or "py3-none" in n for n in binary), binary


def test_base_image_has_python_311_and_venv_offline(docker_client: Any, base_image: str) -> None:
    script = "import sys, ssl, venv; print(sys.version_info[:2], ssl.OPENSSL_VERSION)"
    out = docker_client.containers.run(BASE_IMAGE, ["python3", "-c", script], remove=True, network_mode="none")
    assert out.startswith(b"(3, 11)"), out
    out = docker_client.containers.run(
        BASE_IMAGE,
        ["sh", "-c", "python3 -m venv /tmp/v && /tmp/v/bin/python -m pip --version && ls /var/lib/apt/lists | wc -l"],
        remove=True,
        network_mode="none",
    )
    assert b"pip " in out and out.split()[-1] == b"0", out
