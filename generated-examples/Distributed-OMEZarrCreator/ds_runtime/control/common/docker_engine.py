"""The Docker engine, as buildImage, setup's image pinning and local mode's containers reach it."""

from __future__ import annotations

import os
from typing import Any

from .context import CommandError

DOCKER_TIMEOUT_SECONDS = 120  # one Docker API call (a build or push streams, and is not bound by it)


def docker_engine() -> Any:
    """A client of the Docker engine (DOCKER_HOST, or the default socket), or a CommandError saying why not."""
    try:
        import docker
    except ImportError:
        raise CommandError(
            "the docker Python package is missing: pip install -r requirements.txt (it lists docker)"
        ) from None
    where = os.environ.get("DOCKER_HOST") or "the default socket"
    try:
        client = docker.from_env(timeout=DOCKER_TIMEOUT_SECONDS)
        client.ping()
    except docker.errors.DockerException as exc:
        raise CommandError(
            f"no Docker engine answers at {where} ({first_line(exc)}): start Docker (Docker Desktop, "
            "or `sudo systemctl start docker`) and try again"
        ) from None
    return client


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
