"""Keeps every process of one tool run together, and ends them all with it or with the worker.

    python -I reaper.py WORKER_PID ERROR_FD GRACE_SECONDS JOB_FOLDER -- ARGV...

The worker starts this small process (in a new session, the tool's process group) instead
of the tool; it starts the tool and stays between the two. On Linux it is a *subreaper*
(prctl PR_SET_CHILD_SUBREAPER): a process the tool detaches (setsid, double fork) is
re-parented here, not to init, so it stays findable below this process. It also asks for
SIGTERM when the worker dies (PR_SET_PDEATHSIG), so even a `kill -9` of the worker ends
the tool; then it removes JOB_FOLDER (if not ''), which the dead worker no longer can.
Whenever the tool exits or a stop comes, every process below is ended: SIGTERM,
GRACE_SECONDS, then SIGKILL.

Why a subreaper and not a cgroup: a cgroup needs a writable cgroup filesystem, which
an unprivileged container (and a user's laptop in local mode) does not give; a subreaper
needs no privilege. What it cannot catch: a process that leaves this tree by itself
being re-parented elsewhere (impossible for an unprivileged process) or that outlives
a SIGKILL of this process too; the worker's temp root sweep removes its files then.

Standard library only, run with -I: it starts fast and imports nothing of the job.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CANNOT_START = 127


def _prctl(option: int, value: int) -> bool:
    """prctl(2) on Linux; False elsewhere (the reaper then still ends its process group)."""
    if not sys.platform.startswith("linux"):
        return False
    return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0


def descendants(root: int) -> dict[int, str]:
    """Every process below `root`, with its state letter (Z: a zombie waiting to be reaped)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            _, _, rest = stat.read_text().rpartition(")")  # the name before it may hold anything
        except OSError:
            continue  # gone meanwhile
        state, ppid = rest.split()[:2]
        children.setdefault(int(ppid), []).append((int(stat.parent.name), state))
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for pid, state in children.get(todo.pop(), []):
            found[pid] = state
            todo.append(pid)
    return found


def end_all(sig: signal.Signals, grace: float, tool: subprocess.Popen[bytes]) -> None:
    """Send `sig` to every live process below this one; wait up to `grace` s for them to go, reaping ours."""
    deadline = time.monotonic() + grace
    sent: set[int] = set()
    while True:
        tool.poll()
        below = descendants(os.getpid())
        for pid, state in below.items():
            if state == "Z":
                with contextlib.suppress(ChildProcessError):  # a zombie of ours (a re-parented orphan): reap it
                    if pid != tool.pid:
                        os.waitpid(pid, os.WNOHANG)
            elif pid not in sent or sig == signal.SIGKILL:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                sent.add(pid)
        if not any(state != "Z" for state in below.values()) or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def main(argv: list[str]) -> int:
    worker, error_fd, grace, job_folder = int(argv[0]), int(argv[1]), float(argv[2]), argv[3]
    command = argv[argv.index("--") + 1 :]
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != worker:  # the worker died before the line above
        stopping.append(signal.SIGTERM)
    try:
        tool = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    except OSError as exc:
        os.write(error_fd, str(exc).encode())
        return CANNOT_START
    os.close(error_fd)
    while tool.poll() is None and not stopping:
        time.sleep(0.05)
    if stopping:
        end_all(signal.SIGTERM, grace, tool)
    end_all(signal.SIGKILL, 5.0, tool)  # leftovers once the tool is gone: detached ones too
    code = tool.wait()
    if job_folder and os.getppid() != worker:  # orphaned: the worker cannot remove the job's folder any more
        shutil.rmtree(job_folder, ignore_errors=True)
    if code < 0:  # the tool was killed by a signal: so is this process, so the worker sees the same
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
