"""`run.py retryFailed [JOB_ID ...]`: put dead-lettered jobs back on the queue, each once.

Every dead-letter message is taken for a while (a visibility timeout), grouped by
job id (`_job_id`), and for each chosen job one copy of its message is sent to the
queue, then all its copies are deleted from the dead-letter queue: a job there twice
runs once more, not twice. Send first, delete after: an interruption can leave a
job in both queues (the worker runs it once more), never in neither. Messages of
jobs not chosen, and other apps' in a shared dead-letter queue (status.owned), are given back at once.
"""

from __future__ import annotations

from collections import defaultdict

from ..outcomes import app_attribute
from .context import CommandError, Context
from .status import DeadLetter, owned, receive_dead_letters

TAKE_SECONDS = 120  # how long the dead-letter messages are held while this runs
LIMIT = 100_000


def _batches(items: list, size: int = 10) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def retry_failed(ctx: Context, job_ids: list[str] | None = None) -> int:
    c = ctx.config
    queue_url = ctx.require_queue()  # teardown deletes it: `setup` makes it again
    dlq_url = ctx.queue_url(c.SQS_DEAD_LETTER_QUEUE)
    if dlq_url is None:
        raise CommandError(f"dead-letter queue {c.SQS_DEAD_LETTER_QUEUE} does not exist: no failed jobs to retry")
    sqs = ctx.client("sqs")
    taken = receive_dead_letters(ctx, dlq_url, visibility=TAKE_SECONDS, limit=LIMIT)
    others = [letter for letter in taken if not owned(letter, c.APP_NAME)]  # another app's, in a shared queue
    by_job: dict[str, list[DeadLetter]] = defaultdict(list)
    for letter in taken:
        if owned(letter, c.APP_NAME):
            by_job[letter.job_id].append(letter)
    wanted = set(job_ids) if job_ids else set(by_job)
    chosen = [j for j in by_job if j in wanted]
    moved: list[str] = []
    unsent: list[str] = []
    for batch in _batches(chosen):
        answer = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": by_job[j][0].body, "MessageAttributes": app_attribute(c.APP_NAME)}
                for i, j in enumerate(batch)
            ],
        )
        sent = [batch[int(ok["Id"])] for ok in answer.get("Successful", [])]
        for failure in answer.get("Failed", []):
            job_id = batch[int(failure["Id"])]
            unsent.append(job_id)
            ctx.console.print(f"job {job_id}: not sent ({failure.get('Message', '')}); left in the dead-letter queue")
        copies = [m for j in sent for m in by_job[j]]
        for chunk in _batches(copies):
            sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(chunk)],
            )
        moved += sent
    give_back = [m for j, copies in by_job.items() if j not in moved for m in copies] + others
    for chunk in _batches(give_back):
        sqs.change_message_visibility_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0} for i, m in enumerate(chunk)
            ],
        )
    copies_moved = sum(len(by_job[j]) for j in moved)
    extra = f" (from {copies_moved} dead-letter messages)" if copies_moved > len(moved) else ""
    ctx.console.print(f"{len(moved)} job(s) put back on {c.SQS_QUEUE_NAME}{extra}")
    missing = sorted(set(job_ids) - set(by_job)) if job_ids else []
    for job_id in missing:
        ctx.console.print(f"job {job_id}: not found in {c.SQS_DEAD_LETTER_QUEUE} (see `python run.py status`)")
    if moved:
        ctx.console.print("next, if no machines are running: python run.py startCluster FLEETFILE")
    return 1 if missing or unsent else 0
