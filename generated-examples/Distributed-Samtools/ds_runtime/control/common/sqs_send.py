"""Messages sent to an SQS queue in batches within SQS's limits, entries that failed on SQS's side sent again.

submitJob sends a Job file's jobs this way, retryFailed the dead-lettered jobs it puts back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .context import AWS_ERRORS

BATCH_MAX_ENTRIES = 10  # SQS's SendMessageBatch limit
BATCH_MAX_BYTES = 262_144  # ... and its total payload limit
ATTEMPTS = 5


@dataclass(frozen=True)
class Batch:
    start: int  # the number of its first message among all those sent
    bodies: list[str]


@dataclass(frozen=True)
class Unsent:
    index: int  # the message's number among all those sent (Batch.start + its place in the batch)
    reason: str


def batches(bodies: Iterable[str], attribute_bytes: int = 0) -> Iterator[Batch]:
    """Consecutive bodies in batches of at most 10 entries and 256 KiB (each body plus its `attribute_bytes`)."""
    batch: list[str] = []
    size, start = 0, 0
    for index, body in enumerate(bodies):
        length = len(body.encode()) + attribute_bytes
        if batch and (len(batch) == BATCH_MAX_ENTRIES or size + length > BATCH_MAX_BYTES):
            yield Batch(start, batch)
            batch, size, start = [], 0, index
        batch.append(body)
        size += length
    if batch:
        yield Batch(start, batch)


def send_batch(
    sqs: Any, queue_url: str, batch: Batch, attributes: dict[str, Any], sleep: Callable[[float], None] = time.sleep
) -> list[Unsent]:
    """Send one batch with these message attributes on every entry, retrying entries that failed on SQS's
    side (and whole calls that failed after the client's own retries); the entries left unsent."""
    pending = {str(i): body for i, body in enumerate(batch.bodies)}
    unsent: list[Unsent] = []
    last_error = "not accepted"
    for attempt in range(ATTEMPTS):
        try:
            answer = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": i, "MessageBody": body, "MessageAttributes": attributes} for i, body in pending.items()
                ],
            )
        except AWS_ERRORS as exc:  # the client already retried; try the whole batch again later
            last_error = str(exc)
            sleep(min(0.2 * 2**attempt, 5.0))
            continue
        retry = {}
        for failed in answer.get("Failed", []):
            if failed.get("SenderFault"):
                reason = f"refused by SQS: {failed.get('Code')}: {failed.get('Message', '')}"
                unsent.append(Unsent(batch.start + int(failed["Id"]), reason))
            else:
                retry[failed["Id"]] = pending[failed["Id"]]
                last_error = f"{failed.get('Code')}: {failed.get('Message', '')}"
        pending = retry
        if not pending:
            return unsent
        sleep(min(0.2 * 2**attempt, 5.0))
    return unsent + [Unsent(batch.start + int(i), f"{last_error} after {ATTEMPTS} tries") for i in pending]
