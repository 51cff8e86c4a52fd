"""ECS task scale-in protection while a job runs, so scaling in stops only workers without a job.

`monitor` lowers the ECS service's desired count once no job waits; ECS then stops
only unprotected tasks, and a machine left without tasks is idle and released. The
ECS agent serves the switch at $ECS_AGENT_URI/task-protection/v1/state (absent
outside ECS: then this does nothing). The DOCKER_CORES worker processes of one task
share its protection: each marks its job in a folder, and under a file lock the task
is protected while any mark is there.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

AGENT_ENV = "ECS_AGENT_URI"
STATE_PATH = "/task-protection/v1/state"
EXPIRES_MINUTES = 2880  # ECS's longest; a job still running then may be stopped by a scale-in


def _marks() -> Path:
    folder = Path(os.environ.get("DS_PROTECTION_DIR") or Path(tempfile.gettempdir()) / "ds-protection")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _set(agent: str, enabled: bool) -> None:
    body = {"ProtectionEnabled": enabled, **({"ExpiresInMinutes": EXPIRES_MINUTES} if enabled else {})}
    request = urllib.request.Request(
        agent.rstrip("/") + STATE_PATH,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except (urllib.error.URLError, OSError) as exc:  # the job runs anyway; a scale-in may stop it
        log.warning("task protection %s failed: %s", "on" if enabled else "off", exc)


@contextlib.contextmanager
def protected(job_id: str) -> Iterator[None]:
    """The task is protected from scale-in while this block runs (and any other worker of it holds a job)."""
    agent = os.environ.get(AGENT_ENV)
    if not agent:
        yield
        return
    marks = _marks()
    mark = marks / f"{os.getpid()}-{job_id}"
    with _locked(marks):
        mark.touch()
        _set(agent, True)
    try:
        yield
    finally:
        with _locked(marks):
            mark.unlink(missing_ok=True)
            if not any(p.name != ".lock" for p in marks.iterdir()):
                _set(agent, False)


@contextlib.contextmanager
def _locked(marks: Path) -> Iterator[None]:
    with (marks / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
