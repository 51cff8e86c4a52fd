"""One attempt at one job, in its own folder: inputs down, tool run (its steps), done rule, outputs up."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..outcomes import State
from ..provenance import FileEntry
from ..spec import JobView
from ..upload_flags import parse_upload_flags
from .bucket_view import bucket_view
from .context import WorkerContext
from .done import done_problem
from .joblog import JobLog
from .steps import run_steps
from .transfer import by_bucket, download_listed, download_recorded, upload


@dataclass(frozen=True)
class Result:
    state: State
    exit_code: int | None = None
    tool_seconds: float = 0.0
    peak_mb: float | None = None
    cpu_seconds: float | None = None
    error: str = ""
    permanent: bool = False  # failures.py: no retry can make it pass
    listed_inputs: list[FileEntry] = field(default_factory=list)  # the files the input lists named, fetched
    outputs: list[FileEntry] = field(default_factory=list)  # what was uploaded, with SHA-256


def run_attempt(
    ctx: WorkerContext,
    job: JobView,
    output_bucket: str,
    output_prefix: str,
    log: JobLog,
    inputs: list[FileEntry],
    group_id: str = "",
) -> Result:
    """Run the job on `inputs` (transfer.job_inputs); `group_id`: its outputs may replace those of a job with
    this id of its own values (noclobber.py). Raises for infrastructure errors (S3, disk) and unusable upload
    flags, which the caller records."""
    settings, spec = ctx.settings, ctx.spec
    flags = parse_upload_flags(job.upload_text())  # before any work: a bad flag fails fast
    for note in flags.notes:
        log.line(note)
    # A fresh folder per attempt, removed whatever happens: nothing leaks into the next job.
    work = Path(tempfile.mkdtemp(prefix=f"ds-{job.job_id}-"))
    try:
        input_dir, output_dir = work / "input", work / "output"
        input_dir.mkdir()
        output_dir.mkdir()
        for bucket, keys in by_bucket(inputs).items():
            log.line(f"downloading {len(keys)} input file(s) from s3://{bucket}")
        download_recorded(ctx.s3, inputs, input_dir)
        listed = download_listed(ctx.s3, job, settings.bucket, input_dir)
        for bucket, keys in by_bucket(listed).items():
            log.line(f"downloaded {len(keys)} file(s) the input lists name from s3://{bucket}")
        if ctx.stop.is_set():
            return Result("interrupted", error="stopped before the tool started", listed_inputs=listed)
        steps = job.steps(str(work), str(input_dir), str(output_dir))
        view = bucket_view(spec.bucket_view, input_dir) if spec.bucket_view else contextlib.nullcontext()
        with view:  # the tool's scripts read the bucket as a tree there (DF, DCP)
            ran = run_steps(steps, str(work), log, ctx.stop, settings.job_timeout_seconds, job_folder=str(work))
        run, who = ran.run, ran.who
        figures: dict[str, Any] = {
            "listed_inputs": listed,
            "exit_code": run.exit_code,
            "tool_seconds": run.seconds,
            "peak_mb": run.peak_mb,
            "cpu_seconds": run.cpu_seconds,
        }
        during = "" if len(steps) == 1 else f" during {who}"
        if run.stopped:
            return Result("interrupted", error=f"the worker was stopped (SIGTERM){during}", **figures)
        if run.timed_out:
            # A failure like any other: retried, then dead-lettered; the tail shows where it hung.
            error = f"timed out after {settings.job_timeout_seconds} s (JOB_TIMEOUT): {who} was stopped"
            return Result("failed", error=error, **figures)
        if ran.not_run:  # an earlier step failed: the done rule is for the last step's ending
            error = f"{run.ending(who)}; the {ran.not_run} step(s) after it did not run"
            return Result("failed", error=error, **figures)
        if run.exit_code is None or run.exit_code < 0:  # never ran, or killed: its outputs are not looked at
            return Result("failed", error=run.ending(who), **figures)
        problem = done_problem(
            spec.done, run.exit_code, output_dir, job.required_file(), job.min_files(), spec.output_exclude, who
        )
        if problem:
            return Result("failed", error=problem, **figures)
        # As this job's own objects: an output another job wrote fails the job (noclobber.py).
        written = upload(
            ctx.s3,
            output_bucket,
            output_dir,
            output_prefix,
            flags.extra_args,
            spec.output_exclude,
            job_id=job.job_id,
            note=log.line,
            group_id=group_id,
        )
        log.line(f"uploaded {len(written)} file(s) to s3://{output_bucket}/{output_prefix}/")
        return Result("done", outputs=written, **figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)
