"""Run the tool: an argv list (no shell), its output streamed as it comes, stoppable.

The tool runs below this worker's reaper (worker/reaper.py), started once per worker
process and started again should it die, in a process group of its own: stopping it
(SIGTERM, timeout) stops whatever it started, a process it detaches (setsid) is still
ended with it, and a worker killed with `kill -9` takes the tool down too. Nothing here
polls on a job's way: one wait (select) follows the tool's output and the reaper's answer
together; the stop flag and the timeout are looked at every POLL_SECONDS meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .memory import CGROUP, MemoryWatch
from .wire import receive, send

KILL_GRACE_SECONDS = 10.0  # between SIGTERM and SIGKILL; fits ECS's default 30 s stop timeout
REAPER_GRACE_SECONDS = KILL_GRACE_SECONDS - 2  # the reaper's own SIGTERM-to-SIGKILL wait ends first
REAPER = str(Path(__file__).with_name("reaper.py"))
POLL_SECONDS = 0.2  # how soon a stop request or timeout is noticed
# After the tool's end, how long its output may stay open: the reaper has ended every process
# that could hold it, unless it could not see them (no subreaper: macOS) or it died.
OUTPUT_GRACE_SECONDS = 2.0
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class ToolRun:
    exit_code: int | None  # negative: killed by that signal; None: it never ran, or its end is unknown
    seconds: float  # the tool's own run time
    stopped: bool = False  # the worker was asked to stop
    timed_out: bool = False
    peak_mb: float | None = None  # the peak resident memory of its largest process
    cpu_seconds: float | None = None  # user and system CPU time of the tool and the processes it waited for
    problem: str = ""  # why there is no exit code
    out_of_memory: str = ""  # why a SIGKILL was for memory (memory.py), '' otherwise
    note: str = ""  # anything else the job's log should say

    def ending(self, who: str = "the tool") -> str:
        """How `who` ended, for the job's log and outcome record."""
        if self.exit_code is None:
            return self.problem
        if self.exit_code >= 0:
            return f"{who} exited with code {self.exit_code}"
        name = signal.Signals(-self.exit_code).name if -self.exit_code in signal.valid_signals() else "unknown"
        killed = f"{who} was killed by signal {-self.exit_code} ({name})"
        return f"{killed}: {self.out_of_memory}" if self.out_of_memory else killed


class ReaperProcess:
    """This worker's reaper: started at its first job, again after it died.

    Started from the thread that runs the jobs (the worker's main thread): PR_SET_PDEATHSIG
    fires when the thread that started it ends."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.socket: socket.socket | None = None

    def connection(self) -> socket.socket:
        if self.process is None or self.socket is None or self.process.poll() is not None:
            self.close()
            ours, theirs = socket.socketpair()
            with theirs:
                args = [str(os.getpid()), str(theirs.fileno()), str(REAPER_GRACE_SECONDS)]
                self.process = subprocess.Popen(
                    [sys.executable, "-I", REAPER, *args],
                    stdin=subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,  # a stop sent to the worker's group is the worker's to pass on
                )
            self.socket = ours
        return self.socket

    def close(self) -> None:
        """End this reaper (it ends with its socket; a broken one is killed)."""
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.process = None


REAPER_PROCESS = ReaperProcess()


def run_tool(
    argv: list[str],
    cwd: str,
    output: Callable[[bytes], None],
    stop: threading.Event,
    timeout: float = 0,
    job_folder: str = "",
    cgroup: Path = CGROUP,
    stdout: str = "",
) -> ToolRun:
    """Run to completion, or until `stop` is set or `timeout` seconds (0: none) pass.

    `output` gets the tool's stdout and stderr as they come, in pieces of any size; with `stdout`
    (a file's path) the tool's standard output goes to that file instead.
    `job_folder` is removed by the reaper if the worker dies while the tool runs ('' for none).
    `cgroup` is where the container's memory accounting is (memory.py).
    """
    memory = MemoryWatch.start(cgroup)
    start = time.monotonic()
    read_end, write_end = os.pipe()
    request = {"argv": argv, "cwd": cwd, "env": dict(os.environ), "job_folder": job_folder, "stdout": stdout}
    try:
        connection, started = _hand_over(request, write_end)
    except OSError as exc:  # no reaper could be started
        os.close(read_end)
        return ToolRun(None, time.monotonic() - start, problem=f"the tool's reaper (worker/reaper.py) failed: {exc}")
    finally:
        os.close(write_end)
    if "error" in started:
        os.close(read_end)
        return ToolRun(None, 0.0, problem=f"{argv[0]!r} could not be started: {started['error']}")
    follow = _Follow(connection, read_end, started["pid"], output)
    try:
        report = follow.until_end(stop, timeout, start)
        note = follow.drain()
    finally:
        follow.selector.close()
        os.close(read_end)
    stopped, timed_out = follow.stopped, follow.timed_out
    if report is None:  # killed, or the tool killed it: the tool's group goes too (follow ended it)
        REAPER_PROCESS.close()
        problem = "the tool's reaper (worker/reaper.py) died while the tool ran: the tool was ended"
        return ToolRun(None, time.monotonic() - start, stopped, timed_out, problem=problem, note=note)
    code, peak_mb = report["exit_code"], report["peak_kb"] / 1024
    oom = memory.out_of_memory(code, peak_mb)
    cpu = report.get("cpu_seconds")
    return ToolRun(code, report["seconds"], stopped, timed_out, peak_mb, cpu_seconds=cpu, out_of_memory=oom, note=note)


def _hand_over(request: dict[str, Any], write_end: int) -> tuple[socket.socket, dict[str, Any]]:
    """Give the reaper the job; (its socket, its first answer). A reaper found dead before the tool
    started (it died between two jobs) is replaced once."""
    try:
        return _ask(request, write_end)
    except OSError:
        REAPER_PROCESS.close()
    try:
        return _ask(request, write_end)
    except OSError:
        REAPER_PROCESS.close()
        raise


def _ask(request: dict[str, Any], write_end: int) -> tuple[socket.socket, dict[str, Any]]:
    connection = REAPER_PROCESS.connection()
    send(connection, request, write_end)
    started = receive(connection)
    if started is None:
        raise ConnectionError("it ended before starting the tool")
    return connection, started


class _Follow:
    """One tool run as the worker sees it: its output pipe and its reaper's socket, in one select."""

    def __init__(self, connection: socket.socket, read_end: int, pid: int, output: Callable[[bytes], None]):
        self.connection, self.read_end, self.pid, self.output = connection, read_end, pid, output
        self.selector = selectors.DefaultSelector()
        self.selector.register(read_end, selectors.EVENT_READ)
        self.selector.register(connection, selectors.EVENT_READ)
        self.stopped = self.timed_out = False
        self.open = True  # the output pipe

    def until_end(self, stop: threading.Event, timeout: float, start: float) -> dict[str, Any] | None:
        """The reaper's report once the tool and all it left are gone; None if the reaper died."""
        terminated_at = 0.0
        while True:
            for key, _ in self.selector.select(POLL_SECONDS):
                if key.fileobj == self.connection:
                    self.selector.unregister(self.connection)
                    report = receive(self.connection)
                    if report is None:
                        _signal_group(self.pid, signal.SIGKILL)
                    return report
                self._read()
            now = time.monotonic()
            if not terminated_at:
                self.stopped = stop.is_set()
                self.timed_out = bool(timeout) and now - start > timeout
                if self.stopped or self.timed_out:
                    _signal_group(self.pid, signal.SIGTERM)
                    terminated_at = now
            elif now - terminated_at > KILL_GRACE_SECONDS:
                _signal_group(self.pid, signal.SIGKILL)

    def drain(self) -> str:
        """Read the output to its end, or give up OUTPUT_GRACE_SECONDS later; a note if given up."""
        deadline = time.monotonic() + OUTPUT_GRACE_SECONDS
        while self.open:
            left = deadline - time.monotonic()
            if left <= 0:
                return (
                    f"the tool's output was still open {OUTPUT_GRACE_SECONDS:g} s after it ended "
                    "(a process it detached holds it): not read further"
                )
            if self.selector.select(left):
                self._read()
        return ""

    def _read(self) -> None:
        data = os.read(self.read_end, CHUNK_BYTES)
        if data:
            self.output(data)
        else:
            self.selector.unregister(self.read_end)
            self.open = False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a tool's whole process group (its reaper ends the detached rest once the tool is gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, sig)
