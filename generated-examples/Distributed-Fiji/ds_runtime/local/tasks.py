"""What plays the ECS tasks of a local run: worker processes, or containers of the worker image.

Both kinds get exactly the environment of the registered task definition, plus the
emulator's address, keys that only the emulator accepts and short receives, and both
are stopped the way ECS stops a task (SIGTERM, then SIGKILL after a grace period), so
a local run exercises the same worker code either way. This module is the one place that picks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..config import DSConfig
from ..control.common.context import CommandError, Context, PinnedImage

STATE_DIR = ".local"  # the local run's state, the emulator's log and the workers' logs
WORKER_KINDS = ("process", "docker")


class LocalFleet(Protocol):
    kind: str

    def check(self, config: DSConfig) -> None:
        """Raise CommandError if these workers cannot start (before anything else is started)."""

    def image(self, config: DSConfig) -> PinnedImage:
        """What these workers run, as setup pins it: the same text every time for the same image."""
        ...

    def start(self, ctx: Context, endpoint_url: str, count: int, run_id: str = "") -> list[str]:
        """Start `count` tasks (each runs DOCKER_CORES workers); their ids, for `stop`."""
        ...

    def stop(self, ids: list[str], grace: float) -> None:
        """SIGTERM, then SIGKILL what is left after `grace` seconds; nothing is left afterwards."""

    def running(self, ids: list[str]) -> int:
        """How many of these tasks still run (a task whose startup failed has exited)."""
        ...

    def where_logs_are(self) -> str: ...


def local_fleet(kind: str, repo: Path) -> LocalFleet:
    """'process': worker processes from this Python; 'docker': containers of config.py's DOCKERHUB_TAG."""
    log_dir = repo / STATE_DIR / "workers"
    if kind == "process":
        from .workers import ProcessFleet

        return ProcessFleet(repo, log_dir)
    if kind == "docker":
        from .containers import ContainerFleet

        return ContainerFleet(log_dir)
    raise CommandError(f"local workers {kind!r}: use one of {', '.join(WORKER_KINDS)}")
