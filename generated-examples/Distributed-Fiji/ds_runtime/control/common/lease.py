"""SQS messages kept out of sight while a command runs, then given back.

A received message is hidden for its visibility timeout, then offered again. A command that
goes through a whole queue (retryFailed through a dead-letter queue) must keep the messages
it leaves alone hidden until it is done, however long that takes, or it would receive them
again and again; yet if it dies, they must not stay hidden for long. So each is held for a
short timeout that is renewed before it runs out, and all are made visible at the end.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

RENEW_AFTER = 0.5  # of the timeout: a renewal comes this far into it, well before it runs out
BATCH = 10  # SQS's ChangeMessageVisibilityBatch limit


class Lease:
    """Messages of one queue, each received with VisibilityTimeout=`seconds` and held until `give_back`."""

    def __init__(self, sqs: Any, url: str, seconds: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.sqs, self.url, self.seconds, self.clock = sqs, url, seconds, clock
        self._handles: dict[str, str] = {}  # message id -> its latest receipt handle
        self._renew_at: dict[str, float] = {}
        # (renew at, message id) in the order they fall due: every hold is as long, so appending keeps the order.
        self._due: deque[tuple[float, str]] = deque()

    def __len__(self) -> int:
        return len(self._handles)

    def __contains__(self, message_id: str) -> bool:
        return message_id in self._handles

    def keep(self, message_id: str, receipt_handle: str) -> None:
        """Hold a message just received (or received again, with a new handle) for `seconds`."""
        at = self.clock() + self.seconds * RENEW_AFTER
        self._handles[message_id] = receipt_handle
        self._renew_at[message_id] = at
        self._due.append((at, message_id))

    def renew(self) -> None:
        """Extend the timeout of each message whose renewal is due; one SQS refused is let go (it shows
        again and whoever goes through the queue receives it anew)."""
        now, due = self.clock(), []
        while self._due and self._due[0][0] <= now:
            at, message_id = self._due.popleft()
            if self._renew_at.get(message_id) == at:  # not kept anew since, nor let go
                due.append(message_id)
        for start in range(0, len(due), BATCH):
            chunk = due[start : start + BATCH]
            refused = self._change(chunk, self.seconds)
            for i, message_id in enumerate(chunk):
                if i in refused:
                    self.release(message_id)
                else:
                    self.keep(message_id, self._handles[message_id])

    def give_back(self) -> None:
        """Make every held message visible again at once."""
        held = list(self._handles)
        for start in range(0, len(held), BATCH):
            self._change(held[start : start + BATCH], 0)
        for message_id in held:
            self.release(message_id)

    def release(self, message_id: str) -> str | None:
        """Stop holding a message (its timeout runs on: e.g. it is about to be deleted); its latest receipt
        handle, or None if it was not held."""
        self._renew_at.pop(message_id, None)
        return self._handles.pop(message_id, None)

    def _change(self, message_ids: list[str], seconds: int) -> set[int]:
        """Set these messages' visibility timeout; the places (in `message_ids`) of those SQS refused."""
        answer = self.sqs.change_message_visibility_batch(
            QueueUrl=self.url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": self._handles[m], "VisibilityTimeout": seconds}
                for i, m in enumerate(message_ids)
            ],
        )
        return {int(failed["Id"]) for failed in answer.get("Failed", [])}
