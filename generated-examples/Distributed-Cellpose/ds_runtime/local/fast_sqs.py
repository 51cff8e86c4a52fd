"""Make moto's SQS fast at queue depth, without changing what SQS does.

moto 5.2 does work proportional to the number of messages in a queue on every call:

- `Queue.attributes` builds every attribute, including the three message counts, each
  a scan of the whole queue with two clock reads per message (a clock read is a
  datetime round trip, ~7 us). `SQSBackend.send_message` reads
  `queue.attributes["ContentBasedDeduplication"]` once per message, so a batch of 10
  sends scans the queue 30 times.
- `get_queue_attributes` rebuilds `queue.attributes` up to three times per requested
  name, and `receive_message` calls it once per received message (to read
  MessageRetentionPeriod): 9 scans per message received.
- `receive_message` materialises `queue.messages` (every visible, undelayed message)
  before taking the first `count` of them; `wait_for_messages` does the same per wake-up.
- `Queue.delete_message` scans the queue twice (any(), then a rebuild), building a
  list of receipt handles per message.

`install()` replaces those few functions in-process. The replacements keep moto's
logic line for line except that they:

- compute only the attributes asked for, and the three counts in one pass with one
  clock read, only when a count is asked for;
- read ContentBasedDeduplication only for FIFO queues (moto's value is absent, so
  never "true", on standard queues);
- scan lazily for receivable messages and stop once `count` are taken;
- stop a delete at the message holding the receipt handle (received messages sit among
  the oldest, so this is proportional to the messages in flight, not to depth);
- delete under the queue's lock, which moto's sends take: moto's delete rebuilds the
  message list unlocked, and deletes answered at once in the server's threads lose
  each other's (the message comes back once its timeout runs out), or a send.

FIFO queues keep moto's own send and receive (their deduplication scan is O(depth) by
design); they benefit only from the cheaper attribute and delete paths, which return
what moto's return.

Guard: every function replaced, or whose semantics are replicated, is pinned by a hash
of its source (which pins its signature too), within the moto versions this was written
for. If anything differs, `install()` warns, patches nothing and returns False: moto
then runs unchanged, only slower.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
import warnings
from collections.abc import Collection, Iterator
from copy import deepcopy
from importlib.metadata import version
from typing import Any

# Only the module: a moto without the names below makes install() refuse, not this import fail.
from moto.sqs import models

# Versions whose SQS sources were read for this patch; the hashes below are the real check.
SUPPORTED_MOTO = ((5, 2, 0), (5, 3, 0))  # [low, high)

# sha256 (first 16 hex digits) of inspect.getsource() of each function replaced or replicated.
PINNED_SOURCES: dict[tuple[str, str], str] = {
    ("Queue", "attributes"): "40cb990b121628d5",
    ("Queue", "messages"): "03a531dbcbcf9aee",
    ("Queue", "approximate_number_of_messages"): "d357a9506a56d2f8",
    ("Queue", "approximate_number_of_messages_delayed"): "c3c1dadb0c42ed5f",
    ("Queue", "approximate_number_of_messages_not_visible"): "5dbecc4dda174358",
    ("Queue", "delete_message"): "fa6fd5b9bd2cafb4",
    ("Queue", "wait_for_messages"): "58432562ccf2e13e",
    ("Message", "visible"): "5129b573308de62a",
    ("Message", "delayed"): "e2fd48abf582683a",
    ("SQSBackend", "send_message"): "bf161af09a9e6b86",
    ("SQSBackend", "receive_message"): "065f3e5e7d214408",
    ("SQSBackend", "get_queue_attributes"): "58417223da457b5a",
}
# Other names of moto.sqs.models that the replacements use.
USED_NAMES = (
    "MAXIMUM_MESSAGE_DELAY",
    "InvalidAttributeName",
    "InvalidParameterValue",
    "ReceiptHandleIsInvalid",
    "_filter_message_attributes",
    "camelcase_to_underscores",
    "random",
    "string",
    "unix_time",
    "unix_time_millis",
)

COUNT_NAMES = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    }
)

_lock = threading.Lock()
_originals: dict[tuple[type, str], Any] = {}  # non-empty exactly when installed


def _source_hash(owner: str, name: str) -> str:
    member = vars(getattr(models, owner))[name]
    function = member.fget if isinstance(member, property) else member
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def incompatibility() -> str | None:
    """Why this moto cannot be patched safely, or None when it can."""
    try:
        installed = tuple(int(part) for part in version("moto").split(".")[:3])
    except ValueError:
        return f"unrecognised moto version {version('moto')!r}"
    low, high = SUPPORTED_MOTO
    if not low <= installed < high:
        return f"moto {version('moto')} is outside the versions this patch was written for [{low}, {high})"
    for (owner, name), expected in PINNED_SOURCES.items():
        try:
            if _source_hash(owner, name) != expected:
                return f"moto's {owner}.{name} has changed"
        except (AttributeError, KeyError, OSError, TypeError):
            return f"moto's {owner}.{name} is missing or unreadable"
    missing = [name for name in USED_NAMES if not hasattr(models, name)]
    return f"moto.sqs.models lacks {', '.join(missing)}" if missing else None


def _available(queue: models.Queue) -> Iterator[models.Message]:
    """`queue.messages` (visible, undelayed, in queue order), lazily."""
    for message in list(queue._messages):  # a snapshot, as moto's list comprehension is
        if message.visible and not message.delayed:
            yield message


def _counts(queue: models.Queue) -> dict[str, int]:
    """The three ApproximateNumberOfMessages* counts, in one pass at one instant."""
    now = models.unix_time_millis()
    available = delayed = not_visible = 0
    for message in list(queue._messages):
        is_visible = now > message.visible_at  # Message.visible
        is_delayed = now < message.delayed_until  # Message.delayed
        available += is_visible and not is_delayed
        delayed += is_delayed
        not_visible += not is_visible
    return {
        "ApproximateNumberOfMessages": available,
        "ApproximateNumberOfMessagesDelayed": delayed,
        "ApproximateNumberOfMessagesNotVisible": not_visible,
    }


def _attributes(queue: models.Queue, wanted: Collection[str] | None = None) -> dict[str, Any]:
    """moto's `Queue.attributes`, limited to `wanted` (None: all); counts only if asked."""
    names = list(queue.BASE_ATTRIBUTES)
    if queue.fifo_queue:
        names += queue.FIFO_ATTRIBUTES
    if queue.kms_master_key_id:  # type: ignore[attr-defined]
        names += queue.KMS_ATTRIBUTES
    if wanted is not None:
        names = [name for name in names if name in wanted]
    counts = _counts(queue) if COUNT_NAMES.intersection(names) else {}
    result: dict[str, Any] = {}
    for name in names:
        value = counts[name] if name in counts else getattr(queue, models.camelcase_to_underscores(name))
        if name == "RedrivePolicy" and value:
            value = json.dumps(value)
        result[name] = str(value).lower() if isinstance(value, bool) else value
    return result


def _queue_attributes_property(self: models.Queue) -> dict[str, Any]:
    return _attributes(self)


def _get_queue_attributes(self: models.SQSBackend, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
    # moto's checks, unchanged; then each requested attribute computed once.
    queue = self.get_queue(queue_name)
    if not attribute_names:
        return {}
    valid_names = ["All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES]
    invalid_name = next((name for name in attribute_names if name not in valid_names), None)
    if invalid_name or invalid_name == "":
        raise models.InvalidAttributeName(invalid_name)
    if "All" in attribute_names:
        return _attributes(queue)
    attributes = _attributes(queue, set(attribute_names))
    return {name: attributes[name] for name in attribute_names if attributes.get(name) is not None}


def _send_message(
    self: models.SQSBackend,
    queue_name: str,
    message_body: str,
    message_attributes: dict[str, Any] | None = None,
    delay_seconds: int | None = None,
    deduplication_id: str | None = None,
    group_id: str | None = None,
    system_attributes: dict[str, Any] | None = None,
    validate_group_id: bool = True,
) -> models.Message:
    queue = self.get_queue(queue_name)
    if queue.fifo_queue:
        return _originals[(models.SQSBackend, "send_message")](
            self,
            queue_name,
            message_body,
            message_attributes=message_attributes,
            delay_seconds=delay_seconds,
            deduplication_id=deduplication_id,
            group_id=group_id,
            system_attributes=system_attributes,
            validate_group_id=validate_group_id,
        )
    # moto's send_message for a standard queue, less its read of
    # queue.attributes["ContentBasedDeduplication"] (a FIFO-only attribute).
    self._validate_message(
        queue,
        message_body=message_body,
        delay_seconds=int(delay_seconds or 0),
        deduplication_id=deduplication_id,
        group_id=group_id,
        validate_group_id=validate_group_id,
    )
    delay_seconds = int(delay_seconds) if delay_seconds is not None else queue.delay_seconds  # type: ignore[attr-defined]
    message = models.Message(str(models.random.uuid4()), message_body, system_attributes)
    if deduplication_id is not None:
        message.deduplication_id = deduplication_id
        message.sequence_number = "".join(models.random.choice(models.string.digits) for _ in range(20))
    if group_id is not None:
        message.group_id = group_id
    if message_attributes:
        message.message_attributes = message_attributes
    if delay_seconds > models.MAXIMUM_MESSAGE_DELAY:  # type: ignore[operator]
        raise models.InvalidParameterValue(
            f"Value {delay_seconds} for parameter DelaySeconds is invalid. "
            "Reason: DelaySeconds must be >= 0 and <= 900."
        )
    message.mark_sent(delay_seconds=delay_seconds)
    queue.add_message(message)
    return message


def _receive_message(
    self: models.SQSBackend,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list[models.Message]:
    queue = self.get_queue(queue_name)
    if queue.fifo_queue:
        return _originals[(models.SQSBackend, "receive_message")](
            self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names
        )
    # moto's receive_message for a standard queue (its message-group bookkeeping is
    # FIFO-only), iterating lazily instead of listing every receivable message first.
    if message_attribute_names is None:
        message_attribute_names = []
    result: list[models.Message] = []
    previous_result_count = 0
    polling_end = models.unix_time() + wait_seconds_timeout
    while True:
        if result or (wait_seconds_timeout and models.unix_time() > polling_end):
            break
        messages_to_dlq: list[models.Message] = []
        for message in _available(queue):
            if message in queue.pending_messages:
                # Pending but visible again: the consumer timed out.
                queue.pending_messages.remove(message)
            if (
                queue.dead_letter_queue is not None
                and queue.redrive_policy  # type: ignore[attr-defined]
                and message.approximate_receive_count >= queue.redrive_policy["maxReceiveCount"]  # type: ignore[attr-defined]
            ):
                messages_to_dlq.append(message)
                continue
            queue.pending_messages.add(message)
            message.mark_received(visibility_timeout=visibility_timeout)
            message_copy = deepcopy(message)  # filtering attributes must not touch the stored message
            models._filter_message_attributes(message_copy, message_attribute_names)
            if not self.is_message_valid_based_on_retention_period(queue_name, message):
                break
            result.append(message_copy)
            if len(result) >= count:
                break
        for message in messages_to_dlq:
            queue._messages.remove(message)
            queue.dead_letter_queue.add_message(message)  # type: ignore[union-attr]
        if previous_result_count == len(result):
            if wait_seconds_timeout == 0:
                break
            queue.wait_for_messages(1)
            continue
        previous_result_count = len(result)
    return result


def _delete_message(self: models.Queue, receipt_handle: str) -> None:
    # Under the lock moto's sends append with: moto rebuilds the list unlocked, so two deletes at once (the
    # server answers each request in a thread of its own) could each drop the other's message back in, and a
    # send at the same moment could be lost.
    with self._messages_lock:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: moto accepts a second delete
        messages = self._messages
        # A receipt handle belongs to one message; stop there instead of scanning twice.
        index = next((i for i, message in enumerate(messages) if message.had_receipt_handle(receipt_handle)), None)
        if index is None:
            raise models.ReceiptHandleIsInvalid()
        message = messages[index]
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]
        # A new list, as moto builds, so a receive iterating the old one is undisturbed.
        self._messages = messages[:index] + messages[index + 1 :]


def _wait_for_messages(self: models.Queue, timeout: int) -> None:
    with self._messages_lock:
        self._messages_lock.wait_for(lambda: next(_available(self), None) is not None, timeout=timeout)


def _replacements() -> dict[tuple[type, str], Any]:
    return {
        (models.Queue, "attributes"): property(_queue_attributes_property),
        (models.Queue, "delete_message"): _delete_message,
        (models.Queue, "wait_for_messages"): _wait_for_messages,
        (models.SQSBackend, "get_queue_attributes"): _get_queue_attributes,
        (models.SQSBackend, "send_message"): _send_message,
        (models.SQSBackend, "receive_message"): _receive_message,
    }


def install() -> bool:
    """Patch moto's SQS in this process; True if the fast paths are active (idempotent).

    Refuses, with a RuntimeWarning and nothing patched, when moto is not the code this
    was written for. Call before the emulator serves its first request.
    """
    with _lock:
        if _originals:
            return True
        problem = incompatibility()
        if problem:
            warnings.warn(f"fast_sqs not installed, moto left unchanged: {problem}", RuntimeWarning, stacklevel=2)
            return False
        replacements = _replacements()
        originals = {key: key[0].__dict__[key[1]] for key in replacements}
        for (owner, name), replacement in replacements.items():
            setattr(owner, name, replacement)
        _originals.update(originals)
        return True


def uninstall() -> None:
    """Restore moto's own functions (the tests use it to compare the two)."""
    with _lock:
        for (owner, name), original in _originals.items():
            setattr(owner, name, original)
        _originals.clear()


def is_installed() -> bool:
    return bool(_originals)
