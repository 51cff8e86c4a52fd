"""Keeps every process of one tool run together, and ends them all with it or with the worker.

    python -I reaper.py WORKER_PID SOCKET_FD GRACE_SECONDS

Each worker process starts one of these, once (runner.py starts it again should it die), in a
session of its own, and sends it one tool run at a time over the Unix socket SOCKET_FD (wire.py):
the tool's argv, folder, environment, job folder and stdout file ('' for the pipe), with the write
end of the tool's output pipe attached (SCM_RIGHTS). It starts the tool in a process group of its own, answers
{"pid": ...} (or {"error": ...} when the tool cannot start), waits for it without polling
(os.wait4, which also gives its peak memory), ends whatever the tool left running, then
answers {"exit_code", "seconds", "peak_kb", "cpu_seconds"}: the seconds are the tool's alone.

On Linux it is a *subreaper* (prctl PR_SET_CHILD_SUBREAPER): a process the tool detaches
(setsid, double fork) is re-parented here, not to init, so it stays findable below this
process; with none left (the common case) ending leftovers costs one waitpid. It also asks
for SIGTERM when the worker dies (PR_SET_PDEATHSIG), so even a `kill -9` of the worker ends
the tool (SIGTERM, GRACE_SECONDS, then SIGKILL) and removes the job folder, which the dead
worker no longer can. A stop or timeout is the worker's: it signals the tool's group, and the
reaper ends the detached rest once the tool is gone.

Why a subreaper and not a cgroup: a cgroup needs a writable cgroup filesystem, which an
unprivileged container (and a user's laptop in local mode) does not give; a subreaper needs
no privilege. What it cannot catch: a process that leaves this tree by itself being
re-parented elsewhere (impossible for an unprivileged process) or that outlives a SIGKILL of
this process too; the worker's temp root sweep removes its files then. Elsewhere (macOS: no
prctl) the tool's process group is still ended, detached processes are not.

Standard library only, run with -I: it starts fast and imports nothing of the job.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # -I leaves this folder off the path; wire.py is beside it

from wire import receive, send

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
KB_PER_MAXRSS_UNIT = 1 if sys.platform.startswith("linux") else 1 / 1024  # macOS counts bytes


class WorkerGone(Exception):
    """SIGTERM (the worker died: PR_SET_PDEATHSIG) or another ask to end."""


def _prctl(option: int, value: int) -> bool:
    """prctl(2) on Linux; False elsewhere (the reaper then still ends the tool's process group)."""
    if not sys.platform.startswith("linux"):
        return False
    return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0


def descendants(root: int) -> list[int]:
    """Every live process below `root` ([] without /proc: macOS)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            _, _, rest = stat.read_text().rpartition(")")  # the name before it may hold anything
        except OSError:
            continue  # gone meanwhile
        state, ppid = rest.split()[:2]
        children.setdefault(int(ppid), []).append((int(stat.parent.name), state))
    found: list[int] = []
    todo = [root]
    while todo:
        for pid, state in children.get(todo.pop(), []):
            if state != "Z":  # a zombie is only waiting to be reaped
                found.append(pid)
            todo.append(pid)
    return found


def children_left() -> bool:
    """Reap every child that has ended; True if some still run."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if not pid:
            return True


def signal_group(group: int, sig: signal.Signals) -> None:
    """Signal the tool's process group (0: no tool; never this process's own group)."""
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
            os.killpg(group, sig)


def signal_all(group: int, sig: signal.Signals) -> bool:
    """Send `sig` to the tool's process group and every process below this one; False if none was left."""
    signal_group(group, sig)
    found = descendants(os.getpid())
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return bool(found)


def end_leftovers(group: int) -> None:
    """SIGKILL what the finished tool left: its group, then (only if any are left) every process below."""
    signal_group(group, signal.SIGKILL)
    while children_left():
        if not signal_all(group, signal.SIGKILL):
            return  # children this process cannot see (no /proc): not the tool's
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-1, 0)  # returns as soon as one of them is gone; the loop looks again


def _open_stdout(path: str, output: int) -> int:
    """The tool's standard output: the file `path` (made anew; a symbolic link there is refused), or
    `output`, the pipe to the job's log, for ''."""
    if not path:
        return output
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write its standard output to {path}: {exc.strerror}") from None


class Reaper:
    def __init__(self, worker: int, connection: socket.socket, grace: float):
        self.worker, self.connection, self.grace = worker, connection, grace
        self.tool = 0  # the running tool's pid (and process group)
        self.job_folder = ""

    def serve(self) -> None:
        """Run the worker's jobs one after another until it closes the socket."""
        while True:
            message = receive(self.connection, with_fd=True)
            if message is None:
                return
            request, output = message
            self.run(request, output)

    def run(self, request: dict[str, Any], output: int) -> None:
        self.job_folder = request.get("job_folder", "")
        start = time.monotonic()
        try:
            stdout = _open_stdout(request.get("stdout", ""), output)
            try:
                tool = subprocess.Popen(
                    request["argv"],
                    cwd=request["cwd"],
                    env=request["env"],
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=output,
                    start_new_session=True,  # its own process group: a stop reaches all it started
                )
            finally:
                if stdout != output:
                    os.close(stdout)
        except (OSError, ValueError) as exc:  # no such file, not executable, a NUL in an argument
            send(self.connection, {"error": str(exc)})
            return
        finally:
            os.close(output)  # the tool holds it now: the worker sees the end of output when it is done
        self.tool = tool.pid
        send(self.connection, {"pid": tool.pid})
        _, status, usage = os.wait4(tool.pid, 0)
        seconds = time.monotonic() - start
        tool.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        end_leftovers(tool.pid)
        self.tool = 0
        peak_kb = int(usage.ru_maxrss * KB_PER_MAXRSS_UNIT)
        cpu_seconds = usage.ru_utime + usage.ru_stime  # the tool and every process of it that it waited for
        send(
            self.connection,
            {"exit_code": tool.returncode, "seconds": seconds, "peak_kb": peak_kb, "cpu_seconds": cpu_seconds},
        )

    def end_everything(self) -> None:
        """The worker is gone (or this process was told to end): end the tool gently, then the rest.

        Whatever runs below counts, even a tool started just as the signal came (self.tool still 0)."""
        deadline = time.monotonic() + self.grace
        signal_all(self.tool, signal.SIGTERM)
        while children_left() and time.monotonic() < deadline:  # a rare path: polling is fine here
            time.sleep(0.05)
        end_leftovers(self.tool)
        if self.job_folder and os.getppid() != self.worker:  # orphaned: the worker cannot remove it any more
            shutil.rmtree(self.job_folder, ignore_errors=True)


def _end(_signum: int, _frame: FrameType | None) -> None:
    raise WorkerGone


def main(argv: list[str]) -> int:
    worker, connection, grace = int(argv[0]), socket.socket(fileno=int(argv[1])), float(argv[2])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _end)
    reaper = Reaper(worker, connection, grace)
    try:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != worker:  # the worker died before the line above
            return 0
        reaper.serve()
    except (WorkerGone, OSError):  # OSError: the worker's end of the socket is gone
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one ending at a time
        reaper.end_everything()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
