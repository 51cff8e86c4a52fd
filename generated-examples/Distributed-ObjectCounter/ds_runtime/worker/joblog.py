"""A job's log: each line to the worker's stdout at once, and in batches to CloudWatch Logs.

CloudWatch is best effort: the first failure is reported on stderr and the rest of
the job's lines go to stdout only. A logging problem never fails a job.
"""

from __future__ import annotations

import contextlib
import queue
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..placeholders import scalar_text

FLUSH_SECONDS = 1.0
# PutLogEvents limits: 10,000 events and 1 MiB a batch (26 bytes overhead per event), 256 KiB an event.
MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD
TAIL_LINES = 20
LABEL_CHARS = 100  # of a stream name's job values; CloudWatch allows 512 characters in all
NOT_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")  # CloudWatch refuses ':' and '*'; keep names plain


def stream_name(group: Mapping[str, Any], job_id: str, attempt: int) -> str:
    """`<job values>-<id>/attempt-<n>`, e.g. Plate1-A01-1-3f2a.../attempt-1 (DCP names streams Plate1-A01-1).

    The values are the job's own fields (a mapping's values, in order), joined by -.
    """
    parts = [v for value in group.values() for v in (value.values() if isinstance(value, Mapping) else [value])]
    label = NOT_IN_NAME.sub("_", "-".join(scalar_text(v) for v in parts)).strip("_-.")[:LABEL_CHARS]
    return f"{label}-{job_id}/attempt-{attempt}" if label else f"{job_id}/attempt-{attempt}"


class JobLog:
    def __init__(self, logs: Any, group: str, stream: str, label: str):
        self.group, self.stream, self._label = group, stream, label
        self._logs = logs
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._broken = False
        self._pending: queue.SimpleQueue[tuple[int, str] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._ship, name=f"log-{stream}", daemon=True)
        self._thread.start()

    def line(self, text: str) -> None:
        text = text.rstrip("\r\n")
        self.tail.append(text)
        print(f"[{self._label}] {text}", flush=True)
        if not self._broken:
            self._pending.put((int(time.time() * 1000), text))

    def close(self) -> None:
        """Send what is left; returns when it is sent or given up."""
        self._pending.put(None)
        self._thread.join()

    # ------------------------------------------------------------ shipping thread

    def _ship(self) -> None:
        try:
            self._create_stream()
        except Exception as exc:  # logging is best effort
            return self._give_up(exc)
        batch: list[dict[str, Any]] = []
        size = 0
        deadline = time.monotonic() + FLUSH_SECONDS
        while True:
            try:
                item = self._pending.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = ()  # no line, but time to send what we have
            if item:
                stamp, text = item
                message = _fit(text)
                cost = len(message.encode()) + EVENT_OVERHEAD
                if len(batch) >= MAX_EVENTS or size + cost > MAX_BATCH_BYTES:
                    if not self._send(batch):
                        return
                    batch, size = [], 0
                batch.append({"timestamp": stamp, "message": message})
                size += cost
                continue
            if batch and not self._send(batch):
                return
            batch, size = [], 0
            deadline = time.monotonic() + FLUSH_SECONDS
            if item is None:
                return

    def _create_stream(self) -> None:
        # A retried job writes a new stream; an existing one is from a duplicate delivery.
        with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
            self._logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)

    def _send(self, batch: list[dict[str, Any]]) -> bool:
        try:
            self._logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)
            return True
        except Exception as exc:  # logging is best effort
            self._give_up(exc)
            return False

    def _give_up(self, exc: Exception) -> None:
        self._broken = True  # the thread ends; later lines are only printed
        print(f"[{self._label}] CloudWatch logging stopped ({exc}); output continues here only", file=sys.stderr)


def _fit(text: str) -> str:
    """CloudWatch refuses empty and oversized events."""
    data = text.encode()
    if len(data) > MAX_EVENT_BYTES:
        text = data[: MAX_EVENT_BYTES - 20].decode(errors="ignore") + " [line truncated]"
    return text or " "
