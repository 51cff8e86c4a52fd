"""Message visibility: keep a running job's message hidden, and space out retries."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 10
RETRY_CAP_SECONDS = 900
SQS_MAX_VISIBILITY = 12 * 3600


def retry_delay(attempt: int, visibility_timeout: int) -> int:
    """Seconds a failed job stays hidden before its next attempt: doubling, capped.

    Capped by the visibility timeout as well: a failure never hides a job longer
    than a worker that kept silent would have.
    """
    cap = max(0, min(RETRY_CAP_SECONDS, visibility_timeout, SQS_MAX_VISIBILITY))
    return min(RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1), cap)


class Heartbeat:
    """Extends a message's visibility every third of the timeout until stopped.

    Without it a job longer than the visibility timeout reappears in the queue and
    runs a second time elsewhere. SQS refuses extensions past 12 h from receipt;
    that and any other failure is logged, and the job goes on.
    """

    def __init__(self, sqs: Any, queue_url: str, receipt: str, visibility_timeout: int):
        self._call = dict(QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=visibility_timeout)
        self._sqs = sqs
        self._interval = max(0.5, visibility_timeout / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop extending; returns once no extension can still be in flight."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._sqs.change_message_visibility(**self._call)
            except Exception as exc:  # a missed beat must not stop the job
                log.warning("could not extend the message's visibility: %s", exc)


def set_visibility(sqs: Any, queue_url: str, receipt: str, seconds: int) -> None:
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=seconds)
