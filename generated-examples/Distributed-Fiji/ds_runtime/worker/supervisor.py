"""DOCKER_CORES worker processes in one container, started SECONDS_TO_START apart.

The supervisor passes SIGTERM and SIGINT on to its workers and waits for them, so
that each releases its message and records its job as interrupted.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from types import FrameType

log = logging.getLogger(__name__)


def supervise(command: list[str], count: int, stagger_seconds: float) -> int:
    """Run `count` copies of `command`; 0 when all of them exit with 0."""
    stop = threading.Event()
    children: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    for index in range(count):
        # Staggered starts spread the first downloads and the first receives.
        if index and stop.wait(stagger_seconds):
            break
        children.append(subprocess.Popen(command))
        log.info("started worker %d of %d (pid %d)", index + 1, count, children[-1].pid)
    codes = [child.wait() for child in children]
    return 0 if all(code == 0 for code in codes) else 1
