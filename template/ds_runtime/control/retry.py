"""`run.py retryFailed [JOB_ID ...]`: put dead-lettered jobs back on the queue, each once.

The dead-letter queue is gone through 10 messages at a time, each batch handled at once:
one copy of each chosen job not yet put back is sent to the queue, then that batch's copies
of the jobs put back are deleted: a job there twice runs once more, not twice. Send first,
delete after: an interruption can leave a job in both queues (the worker runs it once more),
never in neither. The messages left alone -- other apps' in a shared dead-letter queue
(status.owned), jobs not named, jobs whose send failed -- are held out of sight while the
command runs (lease.Lease), so each is received once, and given back at the end. It ends
when the queue has no message left to give; however large the queue, no message is held by
one timeout for the whole run.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field

from ..outcomes import app_attribute
from .context import CommandError, Context
from .lease import Lease
from .sqs_send import batches, send_batch
from .status import DeadLetter, owned, receive_batch

TAKE_SECONDS = 120  # a received message's timeout; those held longer are renewed (lease.RENEW_AFTER)
WAIT_SECONDS = 1  # each receive long-polls: an empty answer then means the queue has nothing left for us


@dataclass
class Tally:
    """What retryFailed did to this app's jobs."""

    found: set[str] = field(default_factory=set)  # chosen jobs seen in the dead-letter queue
    sent: set[str] = field(default_factory=set)  # jobs put back on the queue
    unsent: dict[str, str] = field(default_factory=dict)  # job -> why it was not sent
    undeleted: dict[str, str] = field(default_factory=dict)  # message id -> its job, put back but still there
    copies: int = 0  # dead-letter messages deleted

    def left(self) -> set[str]:
        """Jobs with a message still in the dead-letter queue."""
        return set(self.unsent) | set(self.undeleted.values())


def retry_failed(ctx: Context, job_ids: list[str] | None = None) -> int:
    c = ctx.config
    queue_url = ctx.require_queue()  # teardown deletes it: `setup` makes it again
    dlq_url = ctx.queue_url(c.SQS_DEAD_LETTER_QUEUE)
    if dlq_url is None:
        raise CommandError(f"dead-letter queue {c.SQS_DEAD_LETTER_QUEUE} does not exist: no failed jobs to retry")
    sqs = ctx.client("sqs")
    wanted = set(job_ids or [])
    lease = Lease(sqs, dlq_url, TAKE_SECONDS)
    tally = Tally()
    try:
        while letters := receive_batch(sqs, dlq_url, visibility=TAKE_SECONDS, wait=WAIT_SECONDS):
            lease.renew()
            mine = [d for d in letters if owned(d, c.APP_NAME) and (not wanted or d.job_id in wanted)]
            _put_back(ctx, queue_url, mine, tally)
            _delete_copies(ctx, dlq_url, [d for d in mine if d.job_id in tally.sent], tally, lease)
            for letter in letters:
                if letter not in mine or letter.job_id in tally.unsent:  # left alone: not received again
                    lease.keep(letter.message_id, letter.receipt_handle)
    finally:
        lease.give_back()
    return _report(ctx, sorted(wanted - tally.found), tally)


def _put_back(ctx: Context, queue_url: str, letters: list[DeadLetter], tally: Tally) -> None:
    """Send one copy of each job of `letters` not yet put back (nor failed to be: it is not tried again)."""
    tally.found.update(d.job_id for d in letters)
    first: dict[str, DeadLetter] = {}
    for letter in letters:
        if letter.job_id not in tally.sent and letter.job_id not in tally.unsent:
            first.setdefault(letter.job_id, letter)
    fresh = list(first.values())
    attributes = app_attribute(ctx.config.APP_NAME)
    for batch in batches((d.body for d in fresh), attribute_bytes=len(json.dumps(attributes))):
        unsent = {u.index: u.reason for u in send_batch(ctx.client("sqs"), queue_url, batch, attributes)}
        for index in range(batch.start, batch.start + len(batch.bodies)):
            job_id = fresh[index].job_id
            if index in unsent:
                tally.unsent[job_id] = unsent[index]
            else:
                tally.sent.add(job_id)


def _delete_copies(ctx: Context, dlq_url: str, letters: list[DeadLetter], tally: Tally, lease: Lease) -> None:
    """Delete these dead-letter messages (of jobs put back); one that cannot be is held, and counted as left."""
    for start in range(0, len(letters), 10):
        chunk = letters[start : start + 10]
        answer = ctx.client("sqs").delete_message_batch(
            QueueUrl=dlq_url,
            Entries=[{"Id": str(i), "ReceiptHandle": d.receipt_handle} for i, d in enumerate(chunk)],
        )
        refused = {int(failed["Id"]) for failed in answer.get("Failed", [])}
        for i, letter in enumerate(chunk):
            if i in refused:
                tally.undeleted[letter.message_id] = letter.job_id
                lease.keep(letter.message_id, letter.receipt_handle)  # received once, not again and again
            else:
                tally.undeleted.pop(letter.message_id, None)
                tally.copies += 1


def _report(ctx: Context, missing: list[str], tally: Tally) -> int:
    c = ctx.config
    extra = f" (from {tally.copies} dead-letter messages)" if tally.copies > len(tally.sent) else ""
    ctx.console.print(f"{len(tally.sent)} job(s) put back on {c.SQS_QUEUE_NAME}{extra}")
    for job_id, reason in sorted(tally.unsent.items()):
        ctx.console.print(f"job {job_id}: not sent ({reason}); left in the dead-letter queue")
    for job_id in sorted(set(tally.undeleted.values())):
        ctx.console.print(f"job {job_id}: put back, but a copy could not be deleted from the dead-letter queue")
    for job_id in missing:
        ctx.console.print(f"job {job_id}: not found in {c.SQS_DEAD_LETTER_QUEUE} (see `python run.py status`)")
    if tally.sent:
        ctx.console.print("next, if no machines are running: python run.py startCluster FLEETFILE")
    left = tally.left()
    if left:
        ctx.console.print(
            f"{len(left)} job(s) of {c.APP_NAME} left in {c.SQS_DEAD_LETTER_QUEUE}: "
            "run retryFailed again once the reasons above are dealt with"
        )
    return 1 if missing or left else 0


def run_retry_failed(ctx: Context, args: argparse.Namespace) -> int:
    return retry_failed(ctx, args.job_ids)
