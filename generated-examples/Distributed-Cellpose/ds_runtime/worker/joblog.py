"""A job's log: each line to the worker's stdout at once, and in batches to CloudWatch Logs.

The job's log stream in CloudWatch keeps the tool's whole output: a line longer than an
event may be is sent as several events in a row. The worker's stdout and the outcome
record's tail show each line's first 2,000 bytes, with a marker saying how much was cut
(lines.py). At most MAX_QUEUED_BYTES wait to be sent: a tool that writes faster than
CloudWatch takes waits for it, so the worker's memory stays bounded.
CloudWatch is best effort: the first failure is reported on stderr and the rest of
the job's lines go to stdout only. A logging problem never fails a job.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..placeholders import scalar_text
from .lines import Lines

FLUSH_SECONDS = 1.0
# PutLogEvents limits: 10,000 events and 1 MiB a batch (26 bytes overhead per event), 256 KiB an event.
MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD
TAIL_LINES = 20
MAX_QUEUED_BYTES = 4 * MAX_BATCH_BYTES
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
        # An invalid UTF-8 byte becomes a 3-byte U+FFFD: a third of an event always fits.
        self._lines = Lines(self._show, self._queue, MAX_EVENT_BYTES // 3)
        self._pending: deque[tuple[int, str] | None] = deque()
        self._queued_bytes = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._ship, name=f"log-{stream}", daemon=True)
        self._thread.start()

    def output(self, data: bytes) -> None:
        """The tool's output as it comes, in pieces of any size."""
        self._lines.feed(data)

    def line(self, text: str) -> None:
        """One line of the worker's own (after the tool's last line, should it have no newline)."""
        self._lines.finish()
        self._lines.feed(text.rstrip("\r\n").encode() + b"\n")

    def close(self) -> None:
        """Send what is left; returns when it is sent or given up."""
        self._lines.finish()
        with self._changed:
            self._pending.append(None)
            self._changed.notify()
        self._thread.join()

    def _show(self, text: str) -> None:
        self.tail.append(text)
        print(f"[{self._label}] {text}", flush=True)

    def _queue(self, text: str) -> None:
        with self._changed:
            # Wait while much is queued; the shipping thread takes it, or gives up (broken).
            while self._queued_bytes > MAX_QUEUED_BYTES and not self._broken:
                self._changed.wait()
            if self._broken:
                return
            self._pending.append((int(time.time() * 1000), text))
            self._queued_bytes += len(text)
            self._changed.notify()

    def _take(self, timeout: float) -> tuple[int, str] | tuple[()] | None:
        """The next queued line (None: closed), or () once `timeout` passes with none."""
        with self._changed:
            if not self._pending:
                self._changed.wait(timeout)
            if not self._pending:
                return ()
            item = self._pending.popleft()
            if item:
                self._queued_bytes -= len(item[1])
                self._changed.notify_all()
            return item

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
            item = self._take(max(0.0, deadline - time.monotonic()))  # (): no line, but time to send
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
        with self._changed:
            self._broken = True  # the thread ends; later lines are only printed
            self._changed.notify_all()
        print(f"[{self._label}] CloudWatch logging stopped ({exc}); output continues here only", file=sys.stderr)


def _fit(text: str) -> str:
    """CloudWatch refuses empty events (Lines keeps each one within MAX_EVENT_BYTES)."""
    return text or " "
