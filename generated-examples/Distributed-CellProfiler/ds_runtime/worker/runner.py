"""Run the tool: an argv list (no shell), its output streamed line by line, stoppable.

The tool runs below a reaper (worker/reaper.py) in its own process group: stopping it
(SIGTERM, timeout) stops whatever it started, a process it detaches (setsid) is still
ended with it, and a worker killed with `kill -9` takes the tool down too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

KILL_GRACE_SECONDS = 10.0  # between SIGTERM and SIGKILL; fits ECS's default 30 s stop timeout
REAPER_GRACE_SECONDS = KILL_GRACE_SECONDS - 2  # the reaper's own SIGTERM-to-SIGKILL wait ends first
REAPER = str(Path(__file__).with_name("reaper.py"))
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
    job_folder: str = "",
) -> ToolRun:
    """Run to completion, or until `stop` is set or `timeout` seconds (0: none) pass.

    `job_folder` is removed by the reaper if the worker dies while the tool runs ('' for none).
    """
    start = time.monotonic()
    error_read, error_write = os.pipe()  # the reaper writes here why the tool could not start
    reaper = [sys.executable, "-I", REAPER, str(os.getpid()), str(error_write), str(REAPER_GRACE_SECONDS), job_folder]
    try:
        proc = subprocess.Popen(
            [*reaper, "--", *argv],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the tool's own process group, led by its reaper
            pass_fds=(error_write,),
        )
    except OSError as exc:
        os.close(error_read)
        on_line(f"cannot start the tool {argv[0]!r}: {exc}")
        return ToolRun(None, time.monotonic() - start)
    finally:
        os.close(error_write)
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
    end_process_group(proc.pid, signal.SIGKILL)  # the reaper ended the rest; this is in case it was killed
    reader.join()
    code = proc.wait()
    with os.fdopen(error_read, "rb") as errors:
        cannot_start = errors.read().decode(errors="replace")
    if cannot_start:
        on_line(f"cannot start the tool {argv[0]!r}: {cannot_start}")
        return ToolRun(None, seconds)
    return ToolRun(code, seconds, stopped, timed_out)


def _pump(proc: subprocess.Popen[bytes], on_line: Callable[[str], None]) -> None:
    assert proc.stdout is not None
    with proc.stdout:
        for raw in proc.stdout:
            on_line(raw.decode(errors="replace"))


def _terminate(proc: subprocess.Popen[bytes], exited: threading.Event) -> None:
    end_process_group(proc.pid, signal.SIGTERM)
    if not exited.wait(KILL_GRACE_SECONDS):
        end_process_group(proc.pid, signal.SIGKILL)
        exited.wait()


def end_process_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a tool's whole process group (its reaper passes a stop on to detached processes)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, sig)
