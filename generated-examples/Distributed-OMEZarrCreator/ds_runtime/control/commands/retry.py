"""`run.py retryFailed [JOB_ID ...]`: put dead-lettered jobs back on the queue, each once.

A few threads go through the dead-letter queue, 10 messages at a time, each batch handled at
once: one copy of each chosen job not yet put back is sent to the queue, then the copies of the
jobs put back are deleted: a job there twice runs once more, not twice. Send first, delete after:
an interruption can leave a job in both queues (the worker runs it once more), never in neither.
The messages left alone -- other apps' in a shared dead-letter queue (status.owned), jobs not
named, jobs whose send failed, and a job's other copies while one is being sent -- are held out
of sight while the command runs (lease.Lease), so each is received once, and given back at the
end. It ends when the queue has no message left to give; however large the queue, no message is
held by one timeout for the whole run.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from ...outcomes import app_attribute
from ..common.context import CommandError, Context
from ..common.lease import Lease
from ..common.sqs_send import batches, send_batch
from ..views.status import DeadLetter, owned, receive_batch

TAKE_SECONDS = 120  # a received message's timeout; those held longer are renewed (lease.RENEW_AFTER)
WAIT_SECONDS = 1  # each receive long-polls: an empty answer then means the queue has nothing left for us
# Threads going through the queue: each spends most of its time waiting on SQS's answers. Measured
# (bench_retry.py --sizes 5000 --workers 1 8 --rtt 20, local emulator, each call 20 ms longer as a round
# trip to AWS): 1 thread 113 messages/s, 8 threads 591; without the delay, 376 and 681 (the emulator's ceiling).
WORKERS = 8


@dataclass
class Tally:
    """What retryFailed did to this app's jobs."""

    found: set[str] = field(default_factory=set)  # chosen jobs seen in the dead-letter queue
    sent: set[str] = field(default_factory=set)  # jobs put back on the queue
    unsent: dict[str, str] = field(default_factory=dict)  # job -> why it was not sent
    undeleted: dict[str, str] = field(default_factory=dict)  # message id -> its job, put back but still there
    deleted: set[str] = field(default_factory=set)  # ids of the dead-letter messages deleted

    def left(self) -> set[str]:
        """Jobs with a message still in the dead-letter queue."""
        return set(self.unsent) | set(self.undeleted.values())


def run_retry_failed(ctx: Context, args: argparse.Namespace) -> int:
    return retry_failed(ctx, args.job_ids)


def retry_failed(ctx: Context, job_ids: list[str] | None = None) -> int:
    c = ctx.config
    queue_url = ctx.require_queue()  # teardown deletes it: `setup` makes it again
    dlq_url = ctx.queue_url(c.SQS_DEAD_LETTER_QUEUE)
    if dlq_url is None:
        raise CommandError(f"dead-letter queue {c.SQS_DEAD_LETTER_QUEUE} does not exist: no failed jobs to retry")
    wanted = set(job_ids or [])
    mover = Mover(ctx, queue_url, dlq_url, wanted)
    try:
        mover.go_through(WORKERS)
    finally:
        mover.lease.give_back()
    return _report(ctx, sorted(wanted - mover.tally.found), mover.tally)


class Mover:
    """The threads going through the dead-letter queue; what they share is changed under one lock."""

    def __init__(self, ctx: Context, queue_url: str, dlq_url: str, wanted: set[str]) -> None:
        self.ctx, self.queue_url, self.dlq_url, self.wanted = ctx, queue_url, dlq_url, wanted
        self.sqs = ctx.client("sqs")  # boto3 clients are thread-safe
        self.lease = Lease(self.sqs, dlq_url, TAKE_SECONDS)
        self.tally = Tally()
        self.sending: set[str] = set()  # jobs a thread is sending now
        self.waiting: defaultdict[str, list[DeadLetter]] = defaultdict(list)  # their other copies, held meanwhile
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.attributes = app_attribute(ctx.config.APP_NAME)

    def go_through(self, workers: int) -> None:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="retry") as pool:
            threads = [pool.submit(self._work) for _ in range(workers)]
            try:
                for thread in threads:
                    thread.result()
            finally:
                self.stop.set()  # one failed, or Ctrl-C: the others stop after their batch

    def _work(self) -> None:
        while not self.stop.is_set():
            letters = receive_batch(self.sqs, self.dlq_url, visibility=TAKE_SECONDS, wait=WAIT_SECONDS)
            if not letters:
                return
            with self.lock:
                self.lease.renew()
                fresh, done = self._sort(letters)
            unsent = self._send(fresh)
            with self.lock:
                done += self._settle(fresh, unsent)
            self._delete(done)

    def _sort(self, letters: list[DeadLetter]) -> tuple[list[DeadLetter], list[DeadLetter]]:
        """The copies to send (one per job, each now this thread's to send), and those of jobs already put back;
        every other one held."""
        t, fresh, done = self.tally, [], []
        for d in letters:
            if not owned(d, self.ctx.config.APP_NAME) or (self.wanted and d.job_id not in self.wanted):
                self.lease.keep(d.message_id, d.receipt_handle)
                continue
            t.found.add(d.job_id)
            if d.job_id in t.sent:
                done.append(d)
            elif d.job_id in t.unsent:  # not tried again: it stays in the dead-letter queue
                self.lease.keep(d.message_id, d.receipt_handle)
            elif d.job_id in self.sending:  # held until it is known whether its job went
                self.lease.keep(d.message_id, d.receipt_handle)
                self.waiting[d.job_id].append(d)
            else:
                self.sending.add(d.job_id)
                fresh.append(d)
        return fresh, done

    def _send(self, fresh: list[DeadLetter]) -> dict[str, str]:
        """Send these jobs' copies; the jobs not sent, with why."""
        unsent: dict[str, str] = {}
        for batch in batches((d.body for d in fresh), attribute_bytes=len(json.dumps(self.attributes))):
            for u in send_batch(self.sqs, self.queue_url, batch, self.attributes):
                unsent[fresh[u.index].job_id] = u.reason
        return unsent

    def _settle(self, fresh: list[DeadLetter], unsent: dict[str, str]) -> list[DeadLetter]:
        """Record what went; the copies now to delete (the one sent, and those held meanwhile)."""
        t, done = self.tally, {}
        for d in fresh:
            self.sending.discard(d.job_id)
            held = self.waiting.pop(d.job_id, [])
            if d.job_id in unsent:
                t.unsent[d.job_id] = unsent[d.job_id]
                if d.message_id not in self.lease:  # else received anew meanwhile: the lease has the latest handle
                    self.lease.keep(d.message_id, d.receipt_handle)
                continue
            t.sent.add(d.job_id)
            done[d.message_id] = d
            for copy in held:
                # Its latest handle: a copy held meanwhile may be this very message, received anew after its
                # timeout ran out; SQS deletes a message received twice only by the latest handle.
                handle = self.lease.release(copy.message_id)
                if handle is not None:
                    done[copy.message_id] = replace(copy, receipt_handle=handle)
        return list(done.values())

    def _delete(self, copies: list[DeadLetter]) -> None:
        """Delete these dead-letter messages (of jobs put back); one that cannot be is held, and counted as left."""
        for start in range(0, len(copies), 10):
            chunk = copies[start : start + 10]
            answer = self.sqs.delete_message_batch(
                QueueUrl=self.dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": d.receipt_handle} for i, d in enumerate(chunk)],
            )
            refused = {int(failed["Id"]) for failed in answer.get("Failed", [])}
            with self.lock:
                for i, d in enumerate(chunk):
                    if i in refused and d.message_id in self.tally.deleted:
                        continue  # received anew meanwhile and deleted by its newer handle: gone, not left
                    if i in refused:
                        self.tally.undeleted[d.message_id] = d.job_id
                        self.lease.keep(d.message_id, d.receipt_handle)  # received once, not again and again
                    else:
                        self.tally.undeleted.pop(d.message_id, None)
                        self.tally.deleted.add(d.message_id)


def _report(ctx: Context, missing: list[str], tally: Tally) -> int:
    c = ctx.config
    copies = len(tally.deleted)
    extra = f" (from {copies} dead-letter messages)" if copies > len(tally.sent) else ""
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
