"""Was a tool killed for want of memory? The container's cgroup says so.

The kernel's OOM killer sends SIGKILL, which alone says nothing of why. The cgroup the
container runs in counts its OOM kills (cgroup v2: `memory.events`, line `oom_kill N`;
cgroup v1: `memory/memory.oom_control`): a count that rose while the tool ran, or a peak
memory at the container's limit, names the cause. Both are plain file reads; without a
readable cgroup (macOS, some sandboxes) only the peak rule applies, if a limit is known.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
COUNTS = ("memory.events", "memory/memory.oom_control")  # v2, then v1
LIMITS = ("memory.max", "memory/memory.limit_in_bytes")
NO_LIMIT_BYTES = 1 << 60  # v1 writes a huge number for "no limit"
MEMORY_FIX = "raise MEMORY in config.py (then python run.py setup), or lower DOCKER_CORES"
AT_LIMIT = 0.9  # a peak this close to the limit: the rest of the container (the worker) holds the remainder


def oom_kills(root: Path = CGROUP) -> int | None:
    """The cgroup's OOM kill count so far; None if no cgroup file tells it."""
    for name in COUNTS:
        try:
            lines = (root / name).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def limit_mb(root: Path = CGROUP) -> float | None:
    """The container's memory limit in MB; None if there is none or it cannot be read."""
    for name in LIMITS:
        try:
            text = (root / name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < NO_LIMIT_BYTES:
            return int(text) / 2**20
        return None  # "max": no limit
    return None


@dataclass(frozen=True)
class MemoryWatch:
    """The OOM kill count before a tool runs, to compare with the count after."""

    root: Path = CGROUP
    before: int | None = None

    @classmethod
    def start(cls, root: Path = CGROUP) -> MemoryWatch:
        return cls(root, oom_kills(root))

    def out_of_memory(self, exit_code: int | None, peak_mb: float | None) -> str:
        """Why a tool killed by SIGKILL died of memory ('' if it did not, or was not killed)."""
        if exit_code != -signal.SIGKILL:
            return ""
        after = oom_kills(self.root)
        if self.before is not None and after is not None and after > self.before:
            return f"out of memory: the kernel's OOM killer ended it (its oom_kill count rose); {MEMORY_FIX}"
        limit = limit_mb(self.root)
        if limit and peak_mb is not None and peak_mb >= AT_LIMIT * limit:
            return (
                f"out of memory: its peak memory {peak_mb:.0f} MB reached the container's limit {limit:.0f} MB;"
                f" {MEMORY_FIX}"
            )
        return ""
