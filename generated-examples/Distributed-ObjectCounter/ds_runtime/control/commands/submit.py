"""`run.py submitJob JOBFILE`: every job checked first, then sent 10 per call by several threads.

Nothing is sent unless the whole file is valid and the queue exists. Entries SQS
reports as failed for a server-side reason are retried with backoff; entries it
refuses (sender faults) are reported with their job index.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ...jobs import Job, read_run_jobs
from ...outcomes import app_attribute
from ...provenance import file_sha256, files_rule
from ..common.context import Context
from ..common.sqs_send import Batch, Unsent, batches, send_batch
from ..resources.account import allow_outputs
from ..views.resume_preview import preview

# Threads sending batches. Measured (bench_submit.py --senders 4 8 16 32 --rtt 20|50 --sizes 10000, local
# emulator, each call delayed 20 or 50 ms as a round trip to AWS; jobs/s): at 20 ms 4 threads sent 1,480
# (74 % of their bound of 2,000), 8: 2,284, 16: 2,317, 32: 1,872; at 50 ms 4: 655, 8: 1,332, 16: 2,243,
# 32: 2,371. 16 reach the emulator's own ceiling (2,300 without delay) at both; 32 add nothing.
SENDERS = 16
SPEC_PATH = Path("tool/spec.json")


def run_submit_job(ctx: Context, args: argparse.Namespace) -> int:
    return submit(ctx, args.jobfile, args.checked_jobs, spec_path=args.spec)


def submit(
    ctx: Context,
    job_file: Path,
    jobs: list[Job] | None = None,
    senders: int = SENDERS,
    spec_path: Path = SPEC_PATH,
) -> int:
    """Send the jobs of `job_file`: `jobs` if the caller read and checked them already (read_run_jobs).
    With CHECK_IF_DONE_BOOL, first says how many the workers will skip as done (resume_preview)."""
    if jobs is None:
        jobs = read_run_jobs(job_file, ctx.spec, ctx.config)  # JobFileError: every problem listed, nothing sent
    queue_url = ctx.require_queue()
    allow_outputs(ctx, jobs)  # the workers may write under these jobs' output prefixes, and only there
    c = ctx.config
    if c.CHECK_IF_DONE_BOOL:
        files_done = files_rule(c.EXPECTED_NUMBER_FILES, c.MIN_FILE_SIZE_BYTES, c.NECESSARY_STRING)
        s3, spec_sha256 = ctx.client("s3"), file_sha256(spec_path)
        found = preview(s3, ctx.spec, jobs, c.AWS_BUCKET, c.APP_NAME, files_done, c.worker_config(), spec_sha256)
        for line in found.lines():
            ctx.console.print(line, highlight=False)
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
        bodies = (job.message_body() for job in jobs)
        for batch in batches(bodies, attribute_bytes=len(json.dumps(attributes))):
            window.add(pool.submit(_send, sqs, queue_url, batch, attributes))
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
        size, unsent = future.result()
        problems.extend(f"job {u.index}: {u.reason}" for u in unsent)
        sent += size - len(unsent)
        progress.advance(bar, size)
        if not wait_all:
            break
    return sent


def _send(sqs: Any, queue_url: str, batch: Batch, attributes: dict[str, Any]) -> tuple[int, list[Unsent]]:
    return len(batch.bodies), send_batch(sqs, queue_url, batch, attributes)
