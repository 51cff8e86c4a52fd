"""A read-only view of the bucket at a fixed path, for tools whose scripts read it as a tree.

DF and DCP scripts open `/home/ubuntu/bucket/<key>`, where those projects mount the bucket
with s3fs (a privileged container). Here the job's inputs are downloaded as usual, to
<input folder>/<key>, and for the tool's run the spec's `bucket_view` path is a symbolic
link to that folder: the script sees exactly the keys the job names, and nothing else.
The files are made read-only; the link is removed when the tool ends.

One path serves one job at a time: workers sharing a machine (DOCKER_CORES > 1, or local
worker processes) take turns for the tool's run, through a lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


class ViewError(RuntimeError):
    """The view's path is taken by something that is not a view, or cannot be made."""


@contextlib.contextmanager
def bucket_view(path: str, input_dir: Path) -> Iterator[None]:
    """`path` shows input_dir's files (read-only) while the block runs; then it is gone."""
    view = Path(path)
    name = hashlib.sha256(path.encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"ds-bucket-view-{name}.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, also if the worker dies
        try:
            _read_only(input_dir, True)
            _replace_link(view, input_dir)
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                if view.is_symlink():
                    view.unlink()
            _read_only(input_dir, False)  # the job's folder must stay removable


def _replace_link(view: Path, target: Path) -> None:
    # A link left by a killed worker is stale (the lock says no job uses it); anything else is not ours.
    if view.is_symlink():
        view.unlink()
    elif view.exists():
        raise ViewError(f"bucket view {view} exists and is not a link this worker made; remove it")
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
