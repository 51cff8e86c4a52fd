"""Job files (DS format) and job messages.

A Job file is a JSON object: shared keys (one value for every job), keys starting
with `_comment` (ignored), and one list of jobs under the spec's job_list_key
(`groups` in DS). Each job becomes one SQS message: its checked values plus
`_job_id`, a stable id derived from the values, so that status, retries and
skip-if-done can name a job the same way every time.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .buckets import job_bucket_problems
from .config import DSConfig
from .job_clashes import Where, clash_problems
from .job_values import check_job
from .jsonfile import read_json
from .placeholders import placeholders
from .spec import JobError, ToolSpec
from .upload_flags import UploadFlagsError, parse_upload_flags

JOB_ID_KEY = "_job_id"
JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
SQS_MAX_MESSAGE_BYTES = 262_144


@dataclass(frozen=True)
class Job:
    job_id: str
    values: dict[str, Any]

    def message_body(self) -> str:
        return json.dumps({**self.values, JOB_ID_KEY: self.job_id}, sort_keys=True, separators=(",", ":"))


def job_id_of(values: Mapping[str, Any]) -> str:
    """16 hex digits of the SHA-256 of the job's values in canonical JSON."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class JobFileError(ValueError):
    """A job file cannot be used; the message names the file, the place and the fix."""


def read_job_file(path: str | Path, spec: ToolSpec) -> list[Job]:
    """Every job of a DS-format job file, checked; nothing partial on error.

    All problems across all jobs are collected into one JobFileError, so a user
    fixes the file in one pass.
    """
    path = Path(path)
    data = read_json(path, JobFileError, "give the path of a Job file, e.g. files/exampleJob.json")
    return jobs_from_data(data, spec, source=str(path))


def read_run_jobs(path: str | Path, spec: ToolSpec, config: DSConfig) -> list[Job]:
    """`read_job_file`, then what only config.py can tell about the jobs (`check_run`)."""
    jobs = read_job_file(path, spec)
    check_run(jobs, spec, config, source=str(path))
    return jobs


def check_run(
    jobs: list[Job], spec: ToolSpec, config: DSConfig, source: str, where: Where | None = None, unsent: str = "sent"
) -> None:
    """Every bucket a job names is one the run may touch, its upload flags can be used, and no two
    jobs duplicate or overlap each other's outputs (job_clashes).

    JobFileError lists every problem at once, so nothing is sent (`unsent`: or written).
    """
    where = where or _list_position(spec)
    job_fields = {f.name for f in spec.job_fields}
    flags_per_job = any(name.strip() in job_fields for name, _ in placeholders(spec.upload_flags))
    settings = config.worker_config()
    problems: list[str] = []
    for index, job in enumerate(jobs):
        for field, problem in job_bucket_problems(spec, job.values, config.AWS_BUCKET, settings):
            problems.append(f"{where(index) if field in job_fields else 'shared'}: {field}: {problem}")
        if not flags_per_job and index > 0:
            continue  # flags made from shared values and config alone: the same for every job, checked once
        try:
            parse_upload_flags(spec.for_job(job.values, job.job_id, settings).upload_text())
        except UploadFlagsError as exc:
            problems.append(f"{where(index) if flags_per_job else 'shared'}: upload_flags: {exc}")
    problems += clash_problems(jobs, spec, config.AWS_BUCKET, settings, bool(config.CHECK_IF_DONE_BOOL), where)
    _raise_if(problems, source, unsent)


def _list_position(spec: ToolSpec) -> Where:
    return lambda index: f"{spec.job_list_key}[{index}]"


def _raise_if(problems: list[str], source: str, unsent: str = "sent") -> None:
    if problems:
        # The same shared-key problem repeats for every job: say it once.
        unique = list(dict.fromkeys(problems))
        raise JobFileError(f"{source}: {len(unique)} problem(s), nothing was {unsent}:\n  " + "\n  ".join(unique))


def jobs_from_data(
    data: Any, spec: ToolSpec, source: str = "job file", where: Where | None = None, unsent: str = "sent"
) -> list[Job]:
    """The checked jobs of a Job file's data; `where` names a job's position for problems (default groups[i])."""
    where = where or _list_position(spec)
    key = spec.job_list_key
    if not isinstance(data, dict):
        raise JobFileError(f"{source}: must be a JSON object with shared keys and a list {key!r}")
    if key not in data:
        raise JobFileError(f'{source}: no job list {key!r}; add "{key}": [{{...}}, ...] with one object per job')
    groups = data[key]
    if not isinstance(groups, list) or not groups:
        raise JobFileError(f"{source}: {key!r} must be a non-empty list of objects, one per job")
    shared = {k: v for k, v in data.items() if k != key and not k.startswith("_comment")}
    problems: list[str] = []
    jobs: list[Job] = []
    for index, group in enumerate(groups):
        place = where(index)
        if not isinstance(group, dict):
            if len(spec.job_fields) != 1 or isinstance(group, list):
                problems.append(f"{place}: must be an object of job fields, got {type(group).__name__}")
                continue
            # A bare value (e.g. "plates": ["P1", "P2"]) is the tool's only job field.
            group = {spec.job_fields[0].name: group}
        group = {k: v for k, v in group.items() if not str(k).startswith("_comment")}
        try:
            values = check_job(spec, shared, group, place)
        except JobError as exc:
            problems.extend(f"{w}: {f}: {m}" for w, f, m in exc.problems)
            continue
        job = Job(job_id_of(values), values)
        size = len(job.message_body().encode())
        if size > SQS_MAX_MESSAGE_BYTES:
            problems.append(f"{place}: message is {size} bytes, over SQS's {SQS_MAX_MESSAGE_BYTES}; shorten its values")
            continue
        jobs.append(job)
    _raise_if(problems, source, unsent)
    return jobs


class ForgedJobId(JobError):
    """A message's `_job_id` is not the id of its values: it names another job (whose outputs and records
    it would take over); the worker records the refusal under the message's own id, not that job's."""


def job_from_message(body: str, spec: ToolSpec) -> Job:
    """The job a worker received; re-checked, since anyone with queue access can send.

    Its id is recomputed from its values: a message whose `_job_id` is another's is refused (ForgedJobId).
    """
    data = json.loads(body)
    if not isinstance(data, dict):
        raise JobError([("message", "(body)", "not a JSON object")])
    given_id = data.pop(JOB_ID_KEY, None)
    if given_id is not None and not (isinstance(given_id, str) and JOB_ID_PATTERN.fullmatch(given_id)):
        # The id names S3 keys and log streams: only plain ids are taken from a message.
        raise JobError([("message", JOB_ID_KEY, f"{given_id!r} is not a plain id ([A-Za-z0-9_-], at most 128)")])
    # The id submitJob gave is that of the values it sent, which are the message's as they are (checking
    # them again may change their form, e.g. a number default 0 read as 0.0).
    job_id = job_id_of(data)
    shared = {f.name: data[f.name] for f in spec.shared_fields if f.name in data}
    group = {k: v for k, v in data.items() if k not in shared}
    values = check_job(spec, shared, group, "message")
    if given_id is None:
        job_id = job_id_of(values)  # sent by other means: named as submitJob would name it
    elif given_id != job_id:
        raise ForgedJobId(
            [
                (
                    "message",
                    JOB_ID_KEY,
                    f"{given_id!r} is not the id of the message's values ({job_id}); send the job"
                    " with submitJob, which names it by its values",
                )
            ]
        )
    return Job(job_id, values)
