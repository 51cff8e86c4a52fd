"""Which S3 buckets a run may read and write, and the checks that keep job data to them.

A bucket named by job data (bucket_names.py says how the spec refers to buckets) must be
one the run may touch: AWS_BUCKET, a bucket a config key names, or one listed in the
config key JOB_BUCKETS. `allowed_buckets` is that set; the IAM task role, local mode,
submitJob and the worker all use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .bucket_names import JOB_BUCKETS, JOB_BUCKETS_FIX, BucketError, bucket_name_problem, bucket_names
from .placeholders import config_name
from .spec import ToolSpec


def _text(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key, "")
    if not isinstance(value, str):
        raise BucketError(f"config {key} = {value!r}: write the bucket name as text in quotes ('' for AWS_BUCKET)")
    return value.strip()


def _checked(name: str, where: str) -> str:
    problem = bucket_name_problem(name)
    if problem:
        raise BucketError(f"{where}: {name!r} is not an S3 bucket name: {problem}")
    return name


def _job_buckets(config: Mapping[str, Any]) -> set[str]:
    return {_checked(name, f"config {JOB_BUCKETS}") for name in bucket_names(_text(config, JOB_BUCKETS))}


def _config_bucket(config: Mapping[str, Any], key: str, aws_bucket: str) -> str:
    value = _text(config, key)
    return _checked(value, f"config {key}") if value else aws_bucket


def allowed_buckets(spec: ToolSpec, aws_bucket: str, config: Mapping[str, Any]) -> frozenset[str]:
    """Every bucket this run may read: AWS_BUCKET, each config key's that the spec uses as a
    bucket, and JOB_BUCKETS's. `config` holds the tool's config keys (text); BucketError names a bad one."""
    found = {aws_bucket} | _job_buckets(config)
    for _, ref in spec.bucket_refs():
        key = config_name(ref)
        if key is not None:
            found.add(_config_bucket(config, key, aws_bucket))
    return frozenset(found)


def writable_buckets(spec: ToolSpec, aws_bucket: str, config: Mapping[str, Any]) -> frozenset[str]:
    """The part of the allowed set outputs may go to: AWS_BUCKET (outcome records) and what
    output_bucket can name (its config key's bucket, or JOB_BUCKETS's when a field chooses)."""
    key = config_name(spec.output_bucket)
    if key is not None:
        return frozenset({aws_bucket, _config_bucket(config, key, aws_bucket)})
    return frozenset({aws_bucket} | (_job_buckets(config) if spec.output_bucket else set()))


def resolve(ref: str, values: Mapping[str, Any], config: Mapping[str, Any], aws_bucket: str) -> str:
    """The bucket a reference names for one job (not checked against the allowed set)."""
    key = config_name(ref)
    if key is not None:
        return _config_bucket(config, key, aws_bucket)
    value = values.get(ref) if ref else None
    return str(value).strip() if value else aws_bucket


def job_bucket_problems(
    spec: ToolSpec, values: Mapping[str, Any], aws_bucket: str, config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(field, problem) for each bucket this job's own values name that the run may not touch."""
    allowed, writable = allowed_buckets(spec, aws_bucket, config), writable_buckets(spec, aws_bucket, config)
    problems: list[tuple[str, str]] = []
    for where, ref in spec.bucket_refs():
        if ref == "" or config_name(ref) is not None or not values.get(ref):
            continue
        name = str(values[ref]).strip()
        output = where == "output_bucket"
        if problem := bucket_name_problem(name):
            problems.append((ref, f"{name!r} is not an S3 bucket name: {problem}"))
        elif name not in (writable if output else allowed):
            verb = "write outputs to" if output else "read inputs from"
            problems.append((ref, f"bucket {name!r} is not one this run may {verb}; {JOB_BUCKETS_FIX}"))
    return list(dict.fromkeys(problems))  # one field may serve as several inputs' bucket


def require_job_buckets(spec: ToolSpec, values: Mapping[str, Any], aws_bucket: str, config: Mapping[str, Any]) -> None:
    """The worker's own check of a job's buckets (submitJob checked them too): BucketError if any is not allowed."""
    problems = job_bucket_problems(spec, values, aws_bucket, config)
    if problems:
        raise BucketError("; ".join(f"{field}: {problem}" for field, problem in problems))
