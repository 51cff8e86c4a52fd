"""DOCKER_CORES worker processes in one container, started SECONDS_TO_START apart.

The supervisor passes SIGTERM and SIGINT on to its workers and waits for them, so
that each releases its message and records its job as interrupted. A worker that dies
any other way (killed, crashed) is logged and started again.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from types import FrameType

log = logging.getLogger(__name__)
MAX_RESTARTS = 5  # per worker, so a worker that keeps dying does not spin forever
POLL_SECONDS = 0.5


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
    codes: dict[int, int] = {}
    restarts = [0] * len(children)
    while len(codes) < len(children):
        for index, child in enumerate(children):
            code = child.poll()
            if code is None or index in codes:
                continue
            if code >= 0 or stop.is_set() or restarts[index] >= MAX_RESTARTS:
                codes[index] = code  # it ended by itself (the queue ran dry, or it cannot work), or a stop
                if code:
                    log.warning("worker %d (pid %d) ended with code %d", index + 1, child.pid, code)
                continue
            # Killed by a signal (the OOM killer, kill -9): its job comes back after the visibility timeout.
            restarts[index] += 1
            children[index] = subprocess.Popen(command)
            log.warning(
                "worker %d (pid %d) was killed (code %d): restarted as pid %d (restart %d of at most %d)",
                *(index + 1, child.pid, code, children[index].pid, restarts[index], MAX_RESTARTS),
            )
        stop.wait(POLL_SECONDS)
    return 0 if all(code == 0 for code in codes.values()) else 1
