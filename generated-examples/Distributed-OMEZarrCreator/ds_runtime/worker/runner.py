"""Run the tool: an argv list (no shell), its output streamed line by line, stoppable.

The tool gets its own process group, so stopping it (SIGTERM, timeout) also stops
whatever it started; once the tool exits, leftovers in its group are killed too,
since its folder is about to be removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

KILL_GRACE_SECONDS = 10.0  # between SIGTERM and SIGKILL; fits ECS's default 30 s stop timeout
POLL_SECONDS = 0.2  # how soon a stop request or timeout is noticed


@dataclass(frozen=True)
class ToolRun:
    exit_code: int | None  # negative: killed by that signal
    seconds: float
    stopped: bool = False  # the worker was asked to stop
    timed_out: bool = False


def run_tool(
    argv: list[str],
    cwd: str,
    on_line: Callable[[str], None],
    stop: threading.Event,
    timeout: float = 0,
) -> ToolRun:
    """Run to completion, or until `stop` is set or `timeout` seconds (0: none) pass."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        on_line(f"cannot start the tool {argv[0]!r}: {exc}")
        return ToolRun(None, time.monotonic() - start)
    reader = threading.Thread(target=_pump, args=(proc, on_line), name="tool-output", daemon=True)
    reader.start()
    exited = threading.Event()
    threading.Thread(target=lambda: (proc.wait(), exited.set()), name="tool-wait", daemon=True).start()

    stopped = timed_out = False
    while not exited.wait(POLL_SECONDS):
        stopped = stop.is_set()
        timed_out = bool(timeout) and time.monotonic() - start > timeout
        if stopped or timed_out:
            _terminate(proc, exited)
            break
    seconds = time.monotonic() - start
    _signal_group(proc.pid, signal.SIGKILL)  # leftovers still holding the output pipe
    reader.join()
    return ToolRun(proc.wait(), seconds, stopped, timed_out)


def _pump(proc: subprocess.Popen[bytes], on_line: Callable[[str], None]) -> None:
    assert proc.stdout is not None
    with proc.stdout:
        for raw in proc.stdout:
            on_line(raw.decode(errors="replace"))


def _terminate(proc: subprocess.Popen[bytes], exited: threading.Event) -> None:
    _signal_group(proc.pid, signal.SIGTERM)
    if not exited.wait(KILL_GRACE_SECONDS):
        _signal_group(proc.pid, signal.SIGKILL)
        exited.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, sig)
