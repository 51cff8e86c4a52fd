"""Before jobs are sent with CHECK_IF_DONE_BOOL: which of them the workers will skip as done with nothing changed.

The workers decide (provenance.resume); this asks the same of each job first, so that submitJob can say
how many will be skipped, how many run again and why. One listing of the outcome records, then, for each
job that finished before, its latest record, its inputs (headed or listed) and its output folder, THREADS
jobs at a time. The image is the one thing not compared: the workers know the digest they run, this
computer does not (a new image runs every job again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ...buckets import resolve
from ...jobs import Job
from ...outcomes import FINISHED, default_prefix, latest_keys
from ...provenance import Provenance, Resume, input_objects, job_argv, resume
from ...s3_files import MissingObject
from ...spec import ToolSpec

THREADS = 32  # requests in flight: a few per job (record, inputs, output folder), each a round trip
SHOWN = 5  # jobs named among those that run again


@dataclass
class Preview:
    jobs: int
    skipped: int = 0  # finished before with the same command, spec and inputs
    by_files: int = 0  # of those, judged by DS's file rule: their record predates provenance
    again: list[tuple[str, str]] = field(default_factory=list)  # (job id, why) of finished jobs that run again

    def lines(self) -> list[str]:
        said = [
            f"CHECK_IF_DONE_BOOL: {self.skipped} of {self.jobs} job(s) finished before with nothing changed and"
            " will be skipped (the workers also compare the image: a new one runs them again)"
        ]
        if self.by_files:
            said.append(
                f"  {self.by_files} of them by DS's file rule: their outcome records predate provenance"
                " (set CHECK_IF_DONE_BOOL = False to run them again)"
            )
        if self.again:
            said.append(f"  {len(self.again)} job(s) that finished before will run again, e.g.:")
            said += [f"    {job_id}: {why}" for job_id, why in self.again[:SHOWN]]
        return said


def preview(
    s3: Any,
    spec: ToolSpec,
    jobs: Sequence[Job],
    bucket: str,
    app_name: str,
    files_done: Callable[[Iterable[tuple[str, int]]], bool],
    config: Mapping[str, str],
    spec_sha256: str,
) -> Preview:
    """What the workers will do with `jobs`: their records in `bucket` (AWS_BUCKET) under `app_name`'s prefix;
    `files_done`: DS's file rule as config.py sets it (provenance.files_rule); `config`: config.py's keys
    as the workers get them (DSConfig.worker_config); `spec_sha256`: tool/spec.json's hash."""
    latest = latest_keys(s3, bucket, default_prefix(app_name))
    config = {k: v for k, v in config.items() if k in spec.config_names}
    finished = [job for job in jobs if job.job_id in latest and latest[job.job_id].state in FINISHED]

    def decide(job: Job) -> Resume:
        view = spec.for_job(job.values, job.job_id, config)
        output_bucket = resolve(spec.output_bucket, view.values, config, bucket)
        own, gone, plan = view.own_output_key(), "", None
        try:
            plan = Provenance("", job_argv(view), spec_sha256, input_objects(s3, view, bucket))
        except MissingObject as exc:
            gone = str(exc)
        return resume(s3, bucket, latest[job.job_id], plan, output_bucket, own, files_done, False, gone)

    found = Preview(len(jobs))
    with ThreadPoolExecutor(THREADS) as pool:
        for job, decided in zip(finished, pool.map(decide, finished), strict=True):
            found.skipped += decided.skip
            found.by_files += decided.skip and decided.by_files
            if not decided.skip:
                found.again.append((job.job_id, decided.reason))
    return found
