"""A read-only view of the bucket at a fixed path, for tools whose scripts read it as a tree.

DF and DCP scripts open `/home/ubuntu/bucket/<key>`, where those projects mount the bucket
with s3fs (a privileged container). Here the job's inputs are downloaded as usual, to
<input folder>/<key>, and for the tool's run the spec's `bucket_view` path is a symbolic
link to that folder: the script sees exactly the keys the job names, and nothing else.
The files are made read-only; the link (or whatever the tool left in its place) is removed when
the tool ends.

One path serves one job at a time: workers sharing a machine (DOCKER_CORES > 1, or local
worker processes) take turns for the tool's run, through a lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

LIVE = "live"  # the lock file's text while a view is made


class ViewError(RuntimeError):
    """The view's path is taken by something that is not a view, or cannot be made."""


@contextlib.contextmanager
def bucket_view(path: str, input_dir: Path) -> Iterator[None]:
    """`path` shows input_dir's files (read-only) while the block runs; then it is gone.

    Made anew for each job, whatever the last tool did to it: a tool may replace the link with a
    folder of its own, which is removed when the tool ends (or, if its worker was killed first, when
    the next job takes the lock, which says a view was live). Anything else at the path is not the
    worker's, and is refused, never removed.
    """
    view = Path(path)
    name = hashlib.sha256(path.encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"ds-bucket-view-{name}.lock"
    with lock.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, also if the worker dies
        made = False
        try:
            _read_only(input_dir, True)
            _clear(view, ours=_live(handle))
            _mark(handle, live=True)
            made = True
            _make_link(view, input_dir)
            yield
        finally:
            if made:  # what is at the path now is the link, or what the tool put in its place
                _clear(view, ours=True)
                _mark(handle, live=False)
            _read_only(input_dir, False)  # the job's folder must stay removable


def _live(handle: IO[str]) -> bool:
    """Whether the lock file says a view was made and not yet cleared (its worker was killed)."""
    handle.seek(0)
    return handle.read().strip() == LIVE


def _mark(handle: IO[str], live: bool) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(LIVE if live else "")
    handle.flush()


def _clear(view: Path, ours: bool) -> None:
    """Remove a link at `view` (stale, or this job's), and, if `ours`, anything a tool put there instead."""
    if view.is_symlink():
        view.unlink()
    elif view.exists():
        if not ours:
            raise ViewError(f"bucket view {view} exists and is not a link this worker made; remove it")
        _remove(view)


def _remove(path: Path) -> None:
    """A file or folder tree a tool left, whatever modes it gave its folders (links are removed, not followed)."""
    if not path.is_dir():
        path.unlink()
        return
    os.chmod(path, 0o700)
    for root, folders, _ in os.walk(path):  # top down: each folder is opened up before it is listed
        for name in folders:
            inner = os.path.join(root, name)
            if not os.path.islink(inner):
                os.chmod(inner, 0o700)
    shutil.rmtree(path)


def _make_link(view: Path, target: Path) -> None:
    try:
        view.parent.mkdir(parents=True, exist_ok=True)
        view.symlink_to(target, target_is_directory=True)
    except OSError as exc:
        raise ViewError(f"cannot make the bucket view {view}: {exc.strerror or exc}") from None


def _read_only(folder: Path, on: bool) -> None:
    """Files 0444 and folders 0555 while the tool runs (on), folders 0755 again after."""
    for root, _, files in os.walk(folder):  # top down: a folder is opened again before its contents
        if on:
            for name in files:
                os.chmod(os.path.join(root, name), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.chmod(root, 0o555 if on else 0o755)
