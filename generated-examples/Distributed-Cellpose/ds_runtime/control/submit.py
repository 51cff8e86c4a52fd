"""`run.py submitJob JOBFILE`: every job checked first, then sent 10 per call by a few threads.

Nothing is sent unless the whole file is valid and the queue exists. Entries SQS
reports as failed for a server-side reason are retried with backoff; entries it
refuses (sender faults) are reported with their job index.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..jobs import Job, read_run_jobs
from ..outcomes import app_attribute
from .account import allow_outputs
from .context import AWS_ERRORS, Context

BATCH_MAX_ENTRIES = 10  # SQS's SendMessageBatch limit
BATCH_MAX_BYTES = 262_144  # ... and its total payload limit
SENDERS = 4
ATTEMPTS = 5


@dataclass(frozen=True)
class Batch:
    start: int  # index of the first job in the file
    bodies: list[str]


def batches(jobs: Sequence[Job], attribute_bytes: int = 0) -> Iterator[Batch]:
    """Consecutive jobs in batches of at most 10 entries and 256 KiB (each body plus its `attribute_bytes`)."""
    bodies: list[str] = []
    size, start = 0, 0
    for index, job in enumerate(jobs):
        body = job.message_body()
        length = len(body.encode()) + attribute_bytes
        if bodies and (len(bodies) == BATCH_MAX_ENTRIES or size + length > BATCH_MAX_BYTES):
            yield Batch(start, bodies)
            bodies, size, start = [], 0, index
        bodies.append(body)
        size += length
    if bodies:
        yield Batch(start, bodies)


def send_batch(
    sqs: Any, queue_url: str, batch: Batch, attributes: dict[str, Any], sleep: Any = time.sleep
) -> tuple[int, list[str]]:
    """Send one batch with these message attributes on every entry, retrying entries that failed on SQS's side;
    returns (size, problems left)."""
    pending = {str(i): body for i, body in enumerate(batch.bodies)}
    problems: list[str] = []
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
            where = f"job {batch.start + int(failed['Id'])}"
            if failed.get("SenderFault"):
                problems.append(f"{where}: refused by SQS: {failed.get('Code')}: {failed.get('Message', '')}")
            else:
                retry[failed["Id"]] = pending[failed["Id"]]
        pending = retry
        if not pending:
            return len(batch.bodies), problems
        sleep(min(0.2 * 2**attempt, 5.0))
    problems += [f"job {batch.start + int(i)}: {last_error} after {ATTEMPTS} tries" for i in pending]
    return len(batch.bodies), problems


def submit(ctx: Context, job_file: Path, senders: int = SENDERS) -> int:
    jobs = read_run_jobs(job_file, ctx.spec, ctx.config)  # JobFileError: every problem listed, nothing sent
    queue_url = ctx.require_queue()
    allow_outputs(ctx, jobs)  # the workers may write under these jobs' output prefixes, and only there
    sqs = ctx.client("sqs")
    problems: list[str] = []
    sent = 0
    with (
        Progress(
            TextColumn("sending jobs"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=ctx.console
        ) as progress,
        ThreadPoolExecutor(max_workers=senders, thread_name_prefix="submit") as pool,
    ):
        bar = progress.add_task("send", total=len(jobs))
        # A bounded window of batches in flight keeps memory flat for 100,000 jobs.
        window: set[Any] = set()
        # Marked as this app's: a dead-letter queue shared with other apps tells whose failed jobs are whose.
        attributes = app_attribute(ctx.config.APP_NAME)
        for batch in batches(jobs, attribute_bytes=len(json.dumps(attributes))):
            window.add(pool.submit(send_batch, sqs, queue_url, batch, attributes))
            if len(window) >= senders * 4:
                sent += _collect(window, progress, bar, problems)
        sent += _collect(window, progress, bar, problems, wait_all=True)
    ctx.console.print(f"sent {sent} of {len(jobs)} job(s) from {job_file} to {ctx.config.SQS_QUEUE_NAME}")
    if problems:
        ctx.console.print("not sent (job numbers count from 0 in the job list):\n  " + "\n  ".join(problems))
        return 1
    return 0


def _collect(window: set[Any], progress: Progress, bar: Any, problems: list[str], wait_all: bool = False) -> int:
    """Harvest finished sends (at least one; all if wait_all); returns how many jobs went out."""
    sent = 0
    for future in as_completed(list(window)):
        window.discard(future)
        size, batch_problems = future.result()
        problems.extend(batch_problems)
        sent += size - len(batch_problems)
        progress.advance(bar, size)
        if not wait_all:
            break
    return sent
