"""Jobs that would spoil each other, refused before a Job file is sent or written.

Found from the values alone (no AWS call), for submitJob and makeJobs alike:
- a duplicate job (the same values twice) would run, and be paid for, twice;
- two jobs with the same output folder (own_output_folder, else the output prefix)
  would overwrite each other's files;
- a job whose folder lies inside another's would make CHECK_IF_DONE_BOOL count its
  files as the other job's, so that job could be skipped without ever running.
Tools whose jobs share one prefix by design (an output_prefix that names no job field,
as Fiji's output_file_location) are left alone, except that CHECK_IF_DONE_BOOL could
then skip every job after the first and is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .buckets import resolve
from .placeholders import placeholders
from .spec import ToolSpec
from .spec.constants import PER_JOB_BUILTINS

Where = Callable[[int], str]  # a job's position as the user knows it, e.g. groups[3]


def per_job_fields(spec: ToolSpec) -> list[str]:
    """The job fields (and built-ins) that make each job's output folder its own; [] when it is shared by design."""
    names = [name.strip() for text in (spec.output_prefix, spec.own_output_folder) for name, _ in placeholders(text)]
    own = {f.name for f in spec.job_fields} | set(PER_JOB_BUILTINS)
    return list(dict.fromkeys(name for name in names if name in own))


def clash_problems(
    jobs: Sequence[Any],
    spec: ToolSpec,
    aws_bucket: str,
    settings: Mapping[str, Any],
    check_if_done: bool,
    where: Where,
) -> list[str]:
    """One line per job that duplicates or overlaps an earlier one (jobs are jobs.Job: job_id, values)."""
    problems: list[str] = []
    first_of: dict[str, int] = {}
    distinct: list[int] = []
    for index, job in enumerate(jobs):
        canonical = json.dumps(job.values, sort_keys=True, default=str)
        if canonical in first_of:
            problems.append(
                f"{where(index)}: the same job as {where(first_of[canonical])} (same values);"
                " remove one, or it runs and is paid for twice"
            )
        else:
            first_of[canonical] = index
            distinct.append(index)
    fields = per_job_fields(spec)
    if not fields:
        if check_if_done and len(distinct) > 1:
            problems.append(
                "CHECK_IF_DONE_BOOL: every job writes under one shared output prefix (the tool's output_prefix"
                f" {spec.output_prefix!r} names no job field), so once one job has finished the others would be"
                " skipped without running; set CHECK_IF_DONE_BOOL = False in config.py"
            )
        return problems
    owner: dict[tuple[str, str], int] = {}
    for index in distinct:
        job = jobs[index]
        bucket = resolve(spec.output_bucket, job.values, settings, aws_bucket)
        folder = (bucket, spec.for_job(job.values, job.job_id, settings).own_output_key())
        if folder in owner:
            problems.append(
                f"{where(index)}: writes the same output folder as {where(owner[folder])},"
                f" s3://{folder[0]}/{folder[1]}/, so one would overwrite the other; give them different"
                f" values of {', '.join(fields)} (its output folder is {_folder_template(spec)!r})"
            )
        else:
            owner[folder] = index
    for (bucket, key), index in owner.items():
        parts = key.split("/")
        for depth in range(1, len(parts)):
            outer = (bucket, "/".join(parts[:depth]))
            if outer in owner:
                problems.append(
                    f"{where(index)}: its output folder s3://{bucket}/{key}/ is inside"
                    f" {where(owner[outer])}'s, s3://{bucket}/{outer[1]}/, so CHECK_IF_DONE_BOOL could count"
                    f" one job's files as the other's and skip a job that never ran; give them values of"
                    f" {', '.join(fields)} that make separate folders ({_folder_template(spec)!r})"
                )
                break
    return problems


def _folder_template(spec: ToolSpec) -> str:
    return f"{spec.output_prefix}/{spec.own_output_folder}" if spec.own_output_folder else spec.output_prefix
