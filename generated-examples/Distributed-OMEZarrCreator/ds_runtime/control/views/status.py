"""`run.py status [--json]`: how many jobs are where, and why the failed ones failed.

Counts (queue counts are SQS's approximate numbers):
    queued         messages waiting on the queue
    running        messages in flight: taken by a worker and not yet finished or given back
    done, skipped  jobs whose latest outcome record says so
    failed         jobs whose latest attempt failed and that are not dead-lettered: SQS offers
                   them again, so they are also counted in queued or running
    interrupted    jobs whose latest attempt was stopped (e.g. a spot interruption); sent again at
                   once, without spending a retry
    dead-lettered  messages in the dead-letter queue: failed JOB_RETRIES times, never retried
                   until `retryFailed`

The table lists dead-lettered and failed jobs with their key fields, attempts, exit
code, last lines of output and CloudWatch log stream; a line lists the jobs that were
interrupted and how often (interruptions do not count as failures). With CHECK_IF_DONE_BOOL,
lines say why the latest finished jobs were skipped or ran again (their records' resume_reason).
Dead-letter messages are only peeked at (received with a visibility timeout of 0, never deleted).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ...aws import queue_load
from ...jobs import JOB_ID_KEY, job_id_of
from ...outcomes import APP_ATTRIBUTE, FINISHED, REASON_ATTRIBUTE, Outcome, OutcomeKey, sender_app
from ...placeholders import FILTERS, scalar_text
from ..common.context import Context
from ..common.lease import Lease
from ..machines.pinned_image import registered_image
from .failed_jobs import FailedJob, print_failed_jobs
from .outcome_records import OutcomeRecords

PEEK_LIMIT = 1000  # dead-letter messages looked at; the count above them comes from SQS
PEEK_HOLD_SECONDS = 30  # how long a looked-at message stays out of sight (renewed) before all are given back
TABLE_ROWS = 50
TAIL_LINES = 3
INTERRUPTED_SHOWN = 10  # jobs named on the interruptions line
RESUME_READ = 50  # the latest finished jobs whose records are read for why they ran or were skipped
RESUME_SHOWN = 10


@dataclass(frozen=True)
class DeadLetter:
    job_id: str
    body: str
    message_id: str
    receipt_handle: str
    receive_count: int
    reason: str = ""  # why a worker dead-lettered it at once (a permanent failure); '' after JOB_RETRIES tries
    app: str = ""  # the app that sent it (outcomes.APP_ATTRIBUTE); '' if none said


def owned(letter: DeadLetter, app_name: str) -> bool:
    """Whether a dead-letter message is this app's: a shared dead-letter queue also holds other apps' failed
    jobs, which status, retryFailed and cleanup leave alone (so are messages no app marked as its own)."""
    return letter.app == app_name


def job_id_of_body(body: str) -> str:
    """A message's job id: its `_job_id`, else the id of its values, else of its text."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return job_id_of({"body": body})
    if isinstance(data, dict):
        given = data.pop(JOB_ID_KEY, None)
        return given if isinstance(given, str) and given else job_id_of(data)
    return job_id_of({"body": data})


def receive_batch(sqs: Any, url: str, visibility: int, wait: int = 0) -> list[DeadLetter]:
    """One receive of up to 10 dead-letter messages, hidden for `visibility` seconds (0: only peeked at);
    `wait` > 0 long-polls: an empty answer then means the queue has no message to give, not that the few
    servers a short poll asks had none."""
    messages = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=visibility,
        WaitTimeSeconds=wait,
        AttributeNames=["ApproximateReceiveCount"],
        MessageAttributeNames=[REASON_ATTRIBUTE, APP_ATTRIBUTE],
    ).get("Messages", [])
    return [
        DeadLetter(
            job_id_of_body(m["Body"]),
            m["Body"],
            m["MessageId"],
            m["ReceiptHandle"],
            int(m.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
            m.get("MessageAttributes", {}).get(REASON_ATTRIBUTE, {}).get("StringValue", ""),
            sender_app(m),
        )
        for m in messages
    ]


def peek_dead_letters(ctx: Context, url: str, limit: int = PEEK_LIMIT) -> list[DeadLetter]:
    """Messages of the dead-letter queue, each once, at most `limit`; none deleted.

    Each looked-at message is held out of sight while the peek goes on (a lease), so every receive brings
    new ones -- receives that leave them visible bring the same few again and again -- then all are given
    back at once.
    """
    sqs = ctx.client("sqs")
    lease = Lease(sqs, url, PEEK_HOLD_SECONDS)
    seen: dict[str, DeadLetter] = {}
    try:
        while len(seen) < limit:
            letters = receive_batch(sqs, url, visibility=PEEK_HOLD_SECONDS)
            if not letters:
                break
            for d in letters:
                lease.keep(d.message_id, d.receipt_handle)
                seen.setdefault(d.message_id, d)
            lease.renew()
    finally:
        lease.give_back()
    return list(seen.values())


@dataclass
class Problem:
    """One failed or dead-lettered job, for the table."""

    job_id: str
    state: str  # 'dead-lettered' or 'failed'
    fields: dict[str, Any] = field(default_factory=dict)
    attempts: int | None = None
    exit_code: int | None = None
    error: str = ""
    tail: list[str] = field(default_factory=list)
    log_group: str = ""
    log_stream: str = ""
    copies: int = 0  # messages of this job in the dead-letter queue
    permanent: bool = False  # dead-lettered at once: no retry could have passed
    interruptions: int = 0
    resume_reason: str = ""  # what changed since it last finished (CHECK_IF_DONE_BOOL)


@dataclass
class Status:
    counts: dict[str, int]
    problems: list[Problem]
    notes: list[str]
    interruptions: dict[str, int] = field(default_factory=dict)  # job id -> interrupted attempts
    image: str = ""  # the image the task definition pins ('' before setup)
    # job id -> (state, why it was skipped or ran again), of the RESUME_READ latest finished jobs that say
    resumed: dict[str, tuple[str, str]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "image": self.image,
                "counts": self.counts,
                "problems": [asdict(p) for p in self.problems],
                "notes": self.notes,
                "interruptions": self.interruptions,
                "resumed": {job: {"state": s, "reason": why} for job, (s, why) in self.resumed.items()},
            },
            indent=1,
        )


def _key_fields(ctx: Context, body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return {"body": body[:80]}
    if not isinstance(data, dict):
        return {"body": body[:80]}
    names = [f.name for f in ctx.spec.job_fields]
    return {k: data[k] for k in names if k in data} or {k: v for k, v in data.items() if k != JOB_ID_KEY}


def _with_outcome(problem: Problem, outcome: Outcome | None) -> Problem:
    if outcome is not None:
        problem.attempts = outcome.attempt
        problem.exit_code = outcome.exit_code
        problem.error = outcome.error
        problem.tail = list(outcome.tail)
        problem.log_group = outcome.log_group
        problem.log_stream = outcome.log_stream
        problem.permanent = outcome.permanent
        problem.resume_reason = outcome.resume_reason
        if not problem.fields and outcome.output_prefix:
            # Records older than output_bucket wrote to AWS_BUCKET: the prefix alone.
            where = f"s3://{outcome.output_bucket}/" if outcome.output_bucket else ""
            problem.fields = {"output": where + outcome.output_prefix}
    return problem


def collect(ctx: Context, records: OutcomeRecords | None = None) -> Status:
    """The counts and problems; from `records` if given (report's, shared with estimate), else listed now."""
    c = ctx.config
    notes: list[str] = []
    main = ctx.queue_load(c.SQS_QUEUE_NAME)
    if main is None:
        notes.append(f"queue {c.SQS_QUEUE_NAME} not found (not set up yet, or torn down): 0 queued, 0 running")
    dlq_url = ctx.queue_url(c.SQS_DEAD_LETTER_QUEUE)
    dead_count = queue_load(ctx.client("sqs"), dlq_url).total if dlq_url else 0
    peeked = peek_dead_letters(ctx, dlq_url) if dlq_url else []
    dead = [d for d in peeked if owned(d, c.APP_NAME)]
    if dead_count > len(peeked):
        notes.append(f"{dead_count} dead-letter message(s); the table shows the {len(peeked)} looked at")
    if len(peeked) > len(dead):
        notes.append(
            f"{len(peeked) - len(dead)} message(s) in {c.SQS_DEAD_LETTER_QUEUE} are not {c.APP_NAME}'s (another"
            " app that shares it, or sent without an app): not counted, and left alone"
        )

    records = OutcomeRecords.of(ctx) if records is None else records
    notes += records.notes
    latest, interrupted = records.latest, records.interruptions
    states = Counter(k.state for k in latest.values())
    dead_ids = {d.job_id for d in dead}
    failed_ids = sorted(j for j, k in latest.items() if k.state == "failed" and j not in dead_ids)

    wanted = [latest[j] for j in sorted(dead_ids | set(failed_ids)) if j in latest]
    read, malformed = records.read(wanted)
    notes += malformed
    outcomes = {k.job_id: read[k.key] for k in wanted if k.key in read}
    problems: dict[str, Problem] = {}
    for d in dead:
        if d.job_id in problems:
            problems[d.job_id].copies += 1
            continue
        problem = Problem(d.job_id, "dead-lettered", _key_fields(ctx, d.body), copies=1)
        problems[d.job_id] = _with_outcome(problem, outcomes.get(d.job_id))
        if d.reason:  # the worker's own word, even if its outcome record was lost
            problem.permanent = True
            problem.error = problem.error or d.reason
        elif d.job_id not in outcomes:
            problem.error = "no outcome record: the worker never finished this job (killed, out of memory?)"
            problem.log_group = c.LOG_GROUP_NAME
    for job_id in failed_ids:
        problems[job_id] = _with_outcome(Problem(job_id, "failed"), outcomes.get(job_id))
    for job_id, problem in problems.items():
        problem.interruptions = interrupted[job_id]

    counts = {
        "queued": main.visible if main else 0,
        "running": main.in_flight if main else 0,
        "done": states["done"],
        "failed": len(failed_ids),
        # jobs, not messages: a job there twice counts once; messages not looked at count as one each, in the
        # share of this app's among those looked at (a shared dead-letter queue holds other apps' too)
        "dead-lettered": len(dead_ids) + round(max(0, dead_count - len(peeked)) * len(dead) / max(1, len(peeked))),
        "skipped": states["skipped"],
        "interrupted": states["interrupted"],
    }
    resumed = _resumed(records, [k for k in latest.values() if k.state in FINISHED])
    return Status(
        counts, list(problems.values()), notes, dict(interrupted.most_common()), registered_image(ctx), resumed
    )


def _resumed(records: OutcomeRecords, finished: list[OutcomeKey]) -> dict[str, tuple[str, str]]:
    """Why the latest finished jobs were skipped or ran again, from their records (those that say)."""
    latest = sorted(finished, reverse=True)[:RESUME_READ]
    read, _ = records.read(latest)
    said = {k.job_id: (k.state, read[k.key].resume_reason) for k in latest if k.key in read}
    return {job_id: (state, why) for job_id, (state, why) in said.items() if why}


def _failed_job(p: Problem) -> FailedJob:
    state = p.state + (f" x{p.copies}" if p.copies > 1 else "")
    fields = ", ".join(
        f"{k}={FILTERS['kv'](v) if isinstance(v, dict) else scalar_text(v)}" for k, v in p.fields.items()
    )
    log = f"{p.log_group} {p.log_stream}".strip()
    reason = p.error + (f" (it ran again: {p.resume_reason})" if p.resume_reason else "")
    return FailedJob(p.job_id, state, p.attempts, p.exit_code, fields, reason, p.tail[-TAIL_LINES:], log, p.permanent)


def status(ctx: Context, as_json: bool = False) -> int:
    result = collect(ctx)
    if as_json:
        ctx.console.print(result.to_json(), markup=False, highlight=False, soft_wrap=True)
        return 0
    ctx.console.print(f"image: {result.image or 'no task definition (run setup)'}", highlight=False)
    ctx.console.print("  ".join(f"{k}: {v}" for k, v in result.counts.items()), highlight=False)
    for note in result.notes:
        ctx.console.print(f"note: {note}", highlight=False)
    if result.interruptions:
        shown = list(result.interruptions.items())[:INTERRUPTED_SHOWN]
        more = len(result.interruptions) - len(shown)
        ctx.console.print(
            f"interruptions (not failures): {sum(result.interruptions.values())} of {len(result.interruptions)} "
            "job(s): " + ", ".join(f"{job} x{n}" for job, n in shown) + (f" and {more} more" if more else ""),
            highlight=False,
        )
    if result.resumed:
        ctx.console.print(
            f"CHECK_IF_DONE_BOOL, of the {RESUME_READ} latest finished jobs (status --json lists them):",
            highlight=False,
        )
        for job_id, (state, why) in list(result.resumed.items())[:RESUME_SHOWN]:
            said = "skipped" if state == "skipped" else "ran again"
            ctx.console.print(f"  {job_id} {said}: {why}", markup=False, highlight=False)
    if result.problems:
        print_failed_jobs(
            ctx.console, "failed and dead-lettered jobs", [_failed_job(p) for p in result.problems[:TABLE_ROWS]]
        )
        if len(result.problems) > TABLE_ROWS:
            ctx.console.print(f"... and {len(result.problems) - TABLE_ROWS} more (status --json lists all)")
        if result.counts["dead-lettered"]:
            ctx.console.print("to run the dead-lettered jobs again: python run.py retryFailed [JOB_ID ...]")
    return 0


def run_status(ctx: Context, args: argparse.Namespace) -> int:
    return status(ctx, as_json=args.json)
