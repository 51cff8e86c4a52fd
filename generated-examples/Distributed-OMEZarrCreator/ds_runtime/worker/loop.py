"""The worker loop: take one message, run its job, record the outcome, settle the message.

Settling: done or skipped jobs are deleted (after their outputs are checked in S3);
permanent failures (failures.py) go to the dead-letter queue at once; other failed ones
become visible again after a growing delay, until the queue's redrive policy moves them
to the dead-letter queue; interrupted ones are sent again at once as new messages, so an
interruption spends none of JOB_RETRIES (interruption.py).
No exception from one job ends the loop.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

from ..buckets import require_job_buckets, resolve
from ..job_clashes import per_job_fields
from ..jobs import JOB_ID_KEY, ForgedJobId, Job, job_from_message, job_id_of
from ..outcomes import FINISHED, Outcome, latest_of, outcome_keys, utc_now, write_outcome
from ..provenance import Provenance, Resume, files_rule, job_argv, resume
from ..spec import JobView
from .attempt import Result, run_attempt
from .context import WorkerContext
from .failures import is_permanent, send_to_dead_letters
from .interruption import EARLIER_ATTEMPTS, INTERRUPTIONS, carried, give_back
from .joblog import JobLog, stream_name
from .protection import protected
from .transfer import InputError, job_inputs
from .visibility import Heartbeat, retry_delay, set_visibility

log = logging.getLogger(__name__)

MAX_LONG_POLL = 20  # SQS's longest receive wait
RECEIVE_ERROR_PAUSE = 5.0
SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def run_worker(ctx: WorkerContext) -> int:
    """Work until the queue has been empty for idle_exit_seconds or a stop is asked; the exit code."""
    settings = ctx.settings
    # Long polls of 1 to 20 s; with idle_exit_seconds 0 short ones: the first receive that finds
    # no message ends the worker.
    wait = min(max(0, settings.idle_exit_seconds), max(1, settings.receive_wait_seconds), MAX_LONG_POLL)
    idle_since = time.monotonic()
    while not ctx.stop.is_set():
        try:
            messages = ctx.sqs.receive_message(
                QueueUrl=settings.queue_url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=[INTERRUPTIONS, EARLIER_ATTEMPTS],
            ).get("Messages", [])
        except ctx.sqs.exceptions.QueueDoesNotExist:
            log.error("queue %s does not exist (torn down?): exiting", settings.queue_url)
            return 1
        except Exception as exc:  # a network blip must not end the worker
            log.warning("receive failed: %s", exc)
            ctx.stop.wait(RECEIVE_ERROR_PAUSE)
            messages = []
        for message in messages:
            handle_message(ctx, message)
            idle_since = time.monotonic()
        if not messages and time.monotonic() - idle_since >= settings.idle_exit_seconds:
            log.info("queue empty for %s s: exiting", settings.idle_exit_seconds)
            return 0
    log.info("stopped")
    return 0


def handle_message(ctx: WorkerContext, message: dict[str, Any]) -> Outcome:
    """Run one message's job and settle the message; never raises."""
    settings = ctx.settings
    interruptions, earlier = carried(message)
    attempt = earlier + int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
    receipt = message["ReceiptHandle"]
    started, clock = utc_now(), time.monotonic()
    job, job_id, problem = _parse(ctx, message)
    view = ctx.spec.for_job(job.values, job.job_id, ctx.tool_config) if job else None
    group = view.group() if view else {}
    joblog = JobLog(ctx.logs, settings.log_group, stream_name(group, job_id, attempt), job_id)
    output_bucket = output_prefix = reason = ""
    plan: Provenance | None = None
    # The heartbeat ends with this block, before settling, so no late extension undoes the settling.
    with Heartbeat(ctx.sqs, settings.queue_url, receipt, settings.visibility_timeout), protected(job_id):
        try:
            if view is None:
                result = Result("failed", error=problem, permanent=True)  # refused by the spec
            elif ctx.stop.is_set():
                result = Result("interrupted", error="the worker was stopped before the job started")
            else:
                output_prefix = view.output_key()
                # submitJob checked the job's buckets; a message sent by other means is checked here.
                require_job_buckets(ctx.spec, view.values, settings.bucket, ctx.tool_config)
                output_bucket = resolve(ctx.spec.output_bucket, view.values, ctx.tool_config, settings.bucket)
                joblog.line(f"job {job_id}, attempt {attempt}, output s3://{output_bucket}/{output_prefix}/")
                plan, resumed = _provenance(ctx, view, output_bucket)
                reason = resumed.reason
                if resumed.skip or plan is None:
                    joblog.line(f"skipped (CHECK_IF_DONE_BOOL): {reason}")
                    result = Result("skipped", outputs=resumed.outputs)
                else:
                    if reason:
                        joblog.line(f"running again (CHECK_IF_DONE_BOOL): {reason}")
                    # Its own values name it apart from shared ones (only where they name its folder).
                    group_id = job_id_of(view.group()) if per_job_fields(ctx.spec) else ""
                    result = run_attempt(ctx, view, output_bucket, output_prefix, joblog, plan.inputs, group_id)
        except Exception as exc:  # recorded as this job's failure
            result = Result("failed", error=f"{type(exc).__name__}: {exc}", permanent=is_permanent(exc))
    if result.error:
        joblog.line(f"{result.state}: {result.error}")
    outcome = Outcome(
        job_id=job_id,
        attempt=attempt,
        state=result.state,
        started_at=started,
        finished_at=utc_now(),
        duration_seconds=round(time.monotonic() - clock, 3),
        host=ctx.host,
        exit_code=result.exit_code,
        tool_seconds=round(result.tool_seconds, 3),
        peak_memory_mb=None if result.peak_mb is None else round(result.peak_mb, 1),
        cpu_seconds=None if result.cpu_seconds is None else round(result.cpu_seconds, 3),
        output_prefix=output_prefix,
        output_bucket=output_bucket,
        log_group=settings.log_group,
        log_stream=joblog.stream,
        error=result.error,
        tail=list(joblog.tail),
        message_id=message.get("MessageId", ""),
        permanent=result.permanent,
        interruptions=interruptions + (result.state == "interrupted"),
        worker=f"{ctx.host}/{os.getpid()}",
        image=settings.image,
        argv=plan.argv if plan else [],
        spec_sha256=ctx.spec_sha256,
        settings=ctx.recorded_settings,
        inputs=[*(plan.inputs if plan else []), *result.listed_inputs],
        outputs=result.outputs,
        runtime=ctx.runtime,
        fingerprint=plan.fingerprint if plan else "",
        resume_reason=reason,
    )
    _settle(ctx, message, outcome)
    joblog.close()  # its last lines are sent while the record is written and the message settled
    return outcome


def _settle(ctx: WorkerContext, message: dict[str, Any], outcome: Outcome) -> None:
    """Record first, then delete or release: a crash in between only repeats the job."""
    settings, receipt = ctx.settings, message["ReceiptHandle"]
    try:
        write_outcome(ctx.s3, settings.bucket, settings.outcome_prefix, outcome)
    except Exception as exc:  # settling the message matters more than its record
        log.error("job %s: could not record its outcome: %s", outcome.job_id, exc)
    try:
        if outcome.state in FINISHED:
            ctx.sqs.delete_message(QueueUrl=settings.queue_url, ReceiptHandle=receipt)
        elif outcome.state == "interrupted":
            give_back(ctx.sqs, settings.queue_url, message, outcome.attempt, settings.app_name)
        elif not (outcome.permanent and _dead_letter(ctx, message, outcome)):
            delay = retry_delay(outcome.attempt, settings.visibility_timeout)
            set_visibility(ctx.sqs, settings.queue_url, receipt, delay)
        log.info("job %s: %s (attempt %s)%s", outcome.job_id, outcome.state, outcome.attempt, _why(outcome))
    except Exception as exc:  # the message reappears after its timeout anyway
        log.error("job %s: could not settle its message: %s", outcome.job_id, exc)


def _dead_letter(ctx: WorkerContext, message: dict[str, Any], outcome: Outcome) -> bool:
    """Move a permanent failure to the dead-letter queue; False (retried as usual) if that fails."""
    try:
        settings = ctx.settings
        send_to_dead_letters(
            ctx.sqs, settings.queue_url, message["Body"], message["ReceiptHandle"], outcome.error, settings.app_name
        )
    except Exception as exc:  # e.g. a task role without sqs:SendMessage on the dead-letter queue
        log.error("job %s: could not dead-letter it (%s); it is retried instead", outcome.job_id, exc)
        return False
    return True


def _provenance(ctx: WorkerContext, view: JobView, output_bucket: str) -> tuple[Provenance | None, Resume]:
    """Before any download: this attempt's provenance (what resume compares and the record keeps), and
    CHECK_IF_DONE_BOOL's word on it. A job whose input is gone is skipped if it finished before (nothing
    could run it again; its outputs stay); else the InputError fails it."""
    settings, own = ctx.settings, view.own_output_key()
    try:
        inputs = job_inputs(ctx.s3, view, settings.bucket)
    except InputError as exc:
        resumed = _resume(ctx, view.job_id, output_bucket, own, None, str(exc))
        if not resumed.skip:
            raise
        return None, resumed
    plan = Provenance(settings.image, job_argv(view), ctx.spec_sha256, inputs)
    return plan, _resume(ctx, view.job_id, output_bucket, own, plan)


def _resume(
    ctx: WorkerContext, job_id: str, output_bucket: str, own_folder: str, plan: Provenance | None, gone: str = ""
) -> Resume:
    """CHECK_IF_DONE_BOOL: skip when the job's latest attempt finished (its record, written after the last
    upload, says so) with this attempt's fingerprint and its outputs are still there (provenance.resume).
    Files alone never make a job done: an attempt that uploaded 3 of its 4 outputs before failing left
    files, and no 'done' record."""
    s = ctx.settings
    if not s.check_if_done:
        return Resume(False)
    latest = latest_of(outcome_keys(ctx.s3, s.bucket, s.outcome_prefix, job_id)).get(job_id)
    files_done = files_rule(s.expected_number_files, s.min_file_size_bytes, s.necessary_string)
    return resume(ctx.s3, s.bucket, latest, plan, output_bucket, own_folder, files_done, gone=gone)


def _parse(ctx: WorkerContext, message: dict[str, Any]) -> tuple[Job | None, str, str]:
    """(job, job id, problem): a bad message still gets an id for its record and log stream."""
    own_id = f"msg-{message['MessageId']}"
    try:
        job = job_from_message(message["Body"], ctx.spec)
    except ForgedJobId as exc:  # its id is another job's: nothing is written in that job's name
        return None, own_id, f"not a valid job: {exc}"
    except Exception as exc:  # anyone with queue access can send anything
        return None, _given_id(message["Body"]) or own_id, f"not a valid job: {exc}"
    # The id names S3 keys, a folder and a log stream: it must be a plain word.
    if not SAFE_ID.fullmatch(job.job_id):
        return None, f"msg-{message['MessageId']}", f"{JOB_ID_KEY} {job.job_id!r} is not a plain id"
    return job, job.job_id, ""


def _given_id(body: str) -> str:
    try:
        given = json.loads(body).get(JOB_ID_KEY)
    except (ValueError, AttributeError):
        return ""
    return given if isinstance(given, str) and SAFE_ID.fullmatch(given) else ""


def _why(outcome: Outcome) -> str:
    return f": {outcome.error}" if outcome.error else ""
