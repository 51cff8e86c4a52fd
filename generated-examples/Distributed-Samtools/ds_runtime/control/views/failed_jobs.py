"""Failed jobs for a person at an 80-column terminal: a narrow table, then each reason in full below it.

A reason (an error, the tool's last lines, a log stream) is long and wraps into one-word
columns inside a table cell, so the table holds only short columns and the reasons follow,
one job after another, each under its values and job id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class FailedJob:
    job_id: str
    state: str  # e.g. 'failed', 'dead-lettered'
    attempts: int | None = None
    exit_code: int | None = None
    fields: str = ""  # the job's key fields, short
    reason: str = ""
    tail: list[str] = field(default_factory=list)  # the tool's last lines
    log: str = ""  # where the whole log is
    permanent: bool = False  # dead-lettered at once: no retry could pass


def print_failed_jobs(console: Console, title: str, jobs: list[FailedJob]) -> None:
    # A job is named by its values, as its log stream is; its id (what retryFailed takes) beside them.
    table = Table(title=title)
    table.add_column("job (key fields)", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("exit", justify="right", no_wrap=True)
    table.add_column("job id", no_wrap=True)
    for job in jobs:
        attempts = "?" if job.attempts is None else str(job.attempts)
        exit_code = "-" if job.exit_code is None else str(job.exit_code)
        # Text, not str: a value holding `[/]` is shown as written, never read as Rich markup.
        table.add_row(*(Text(cell) for cell in (job.fields or "-", job.state, attempts, exit_code, job.job_id)))
    console.print(table)
    for job in jobs:
        state = job.state + (", permanent: not retried" if job.permanent else "")
        reason = job.reason or "no reason recorded"
        name = f"{job.fields} (job {job.job_id}" if job.fields else f"job {job.job_id} ("
        console.print(f"{name}{', ' if job.fields else ''}{state}): {reason}", markup=False, highlight=False)
        for line in job.tail:
            console.print(f"    | {line}", markup=False, highlight=False)
        if job.log:
            console.print(f"    log: {job.log}", markup=False, highlight=False)
