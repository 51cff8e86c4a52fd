"""Local workers: the "machines" of a local run, as processes on this computer.

Each local task gets exactly the environment ECS would give its container (read back
from the registered task definition), plus the emulator's address, throwaway keys that
only the emulator accepts, and short receives (so a stop is noticed at once). The worker
code is the one the image runs.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import DSConfig
from ..control.common.context import Context, PinnedImage
from ..worker_settings import ENV_NAMES

# Keys the emulator accepts; never real credentials (those stay out of workers' environments).
EMULATOR_KEYS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# An idle local worker waits at most 1 s per receive (the emulator's receives cost nothing), so
# it notices a stop within a second and exits by itself, its temp root removed.
SHORT_RECEIVES = {ENV_NAMES["receive_wait_seconds"]: "1"}
STOP_GRACE_SECONDS = 20
# Once the queue is empty every worker is idle: no job can be lost. Each ends its receive of at
# most 1 s and exits by itself, within this grace even on a busy computer; the stop waits no longer.
IDLE_STOP_GRACE_SECONDS = 5


@dataclass(frozen=True)
class LocalTask:
    pid: int
    log: str


def container_definition(ctx: Context) -> dict[str, Any]:
    """The worker's container definition, as `run.py setup` registered it (on the emulator)."""
    definition = ctx.client("ecs").describe_task_definition(taskDefinition=ctx.task_family)["taskDefinition"]
    return definition["containerDefinitions"][0]


def definition_environment(ctx: Context) -> dict[str, str]:
    """Exactly the environment ECS would give the container: no credentials, no endpoint."""
    return {item["name"]: item["value"] for item in container_definition(ctx).get("environment", [])}


def task_environment(ctx: Context, repo: Path, endpoint_url: str) -> dict[str, str]:
    """What ECS would put in the container, from the registered task definition, for a local process."""
    env = definition_environment(ctx)
    env["TOOL_SPEC"] = str((repo / env.get("TOOL_SPEC", "tool/spec.json")).resolve())
    # The tool runs from this Python's environment (its scripts first on PATH), as it would from the image.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    keep = {k: os.environ[k] for k in ("HOME", "LANG", "TMPDIR", "SYSTEMROOT") if k in os.environ}
    local = {**EMULATOR_KEYS, **SHORT_RECEIVES, "PATH": path, "AWS_ENDPOINT_URL": endpoint_url, "PYTHONUNBUFFERED": "1"}
    return {**keep, **env, **local}


def process_image() -> str:
    """DS_IMAGE of a worker process: no image, but the Python environment the tool runs from, named by its
    version and folder; the same on every run from this environment, another in another one."""
    return f"local-process:python{platform.python_version()}@{Path(sys.prefix).resolve()}"


def start_tasks(ctx: Context, repo: Path, endpoint_url: str, count: int, log_dir: Path) -> list[LocalTask]:
    """`count` worker containers' worth of processes (each runs DOCKER_CORES workers)."""
    env = task_environment(ctx, repo, endpoint_url)
    log_dir.mkdir(parents=True, exist_ok=True)
    tasks = []
    for index in range(count):
        log = log_dir / f"task-{index + 1}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "ds_runtime.worker"],
                cwd=repo,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole, like a container
            )
        tasks.append(LocalTask(process.pid, str(log)))
    return tasks


def alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished:
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier command): ask the kernel instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _exited(pid)


def _exited(pid: int) -> bool:
    """A zombie: it has exited, and only its parent (init, for a task an earlier command started)
    has yet to collect it, which some inits do seconds later."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (macOS): the kernel's answer above stands
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def stop_tasks(pids: list[int], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each task's process group (as `docker stop`), then SIGKILL what is left after `grace`."""
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:  # reaps our children
        time.sleep(0.05)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ProcessFleet:
    """The local fleet as processes on this computer (the tool must be installed here)."""

    kind = "process"

    def __init__(self, repo: Path, log_dir: Path) -> None:
        self.repo, self.log_dir = repo, log_dir

    def check(self, config: DSConfig) -> None:
        pass  # this Python runs the worker; whether the tool is installed shows in the first job

    def image(self, config: DSConfig) -> PinnedImage:
        return PinnedImage(process_image(), "no image: worker processes of this Python environment")

    def start(self, ctx: Context, endpoint_url: str, count: int, run_id: str = "") -> list[str]:
        return [str(t.pid) for t in start_tasks(ctx, self.repo, endpoint_url, count, self.log_dir)]

    def stop(self, ids: list[str], grace: float = STOP_GRACE_SECONDS) -> None:
        stop_tasks([int(i) for i in ids], grace)

    def running(self, ids: list[str]) -> int:
        return sum(alive(int(i)) for i in ids)

    def where_logs_are(self) -> str:
        return f"logs in {self.log_dir}"
