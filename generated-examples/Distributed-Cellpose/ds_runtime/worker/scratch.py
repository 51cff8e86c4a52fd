"""Each worker's own temp root; a worker starting removes the roots of workers that died.

Every job folder, and the tool's TMPDIR, lies under the root of the worker that runs it.
The worker holds a lock on `<root>.lock` (flock) while it lives; the kernel drops the lock
when the worker dies, even by `kill -9`, so the next worker to start in the same temp
folder (a restarted one, or the next local run) removes every root whose lock is free.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)
PREFIX = "ds-worker-"
LOCK = ".lock"


@contextlib.contextmanager
def worker_root() -> Iterator[Path]:
    """A fresh root for this worker, made the temp folder of the worker and its tools while it runs."""
    base = Path(tempfile.gettempdir())
    for lock in base.glob(f"{PREFIX}*{LOCK}"):
        _sweep(lock)
    fd, lock_path = _locked_file(base)
    root = Path(lock_path.removesuffix(LOCK))
    root.mkdir()
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = str(root)
    try:
        yield root
    finally:
        if saved[0] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[0]
        tempfile.tempdir = saved[1]
        shutil.rmtree(root, ignore_errors=True)
        Path(lock_path).unlink(missing_ok=True)
        os.close(fd)


def _locked_file(base: Path) -> tuple[int, str]:
    """A new lock file, locked; made again if another worker's sweep took it before the lock."""
    while True:
        fd, path = tempfile.mkstemp(prefix=PREFIX, suffix=LOCK, dir=base)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.path.exists(path):
            return fd, path
        os.close(fd)


def _sweep(lock: Path) -> None:
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return  # removed meanwhile
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return  # a live worker's
    root = Path(str(lock).removesuffix(LOCK))
    shutil.rmtree(root, ignore_errors=True)
    lock.unlink(missing_ok=True)
    os.close(fd)
    log.info("removed %s, left by a worker that died", root)
