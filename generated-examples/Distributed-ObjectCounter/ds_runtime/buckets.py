"""Which S3 buckets a run may read and write, and the checks that keep job data to them.

A bucket reference in the tool spec (an input's `bucket`, `output_bucket`) is one of:
    ""            AWS_BUCKET
    "config.NAME" the value of the tool's config key NAME ("" there: AWS_BUCKET)
    "field"       the job's value of that declared string field ("" there: AWS_BUCKET)
A bucket named by job data must be one the run may touch: AWS_BUCKET, a bucket a
config key names, or one listed in the config key JOB_BUCKETS. `allowed_buckets` is
that set; the IAM task role, local mode, submitJob and the worker all use it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from .placeholders import config_name

if TYPE_CHECKING:
    from .spec import ToolSpec

# The reserved config key listing the buckets job files may name, besides the others.
JOB_BUCKETS = "JOB_BUCKETS"
JOB_BUCKETS_FIX = (
    f"add it to {JOB_BUCKETS} in config.py (bucket names, separated by commas or spaces), "
    "then run `python run.py setupAccount` and `python run.py setup` again"
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


class BucketError(ValueError):
    """A bucket name or reference cannot be used; the message says which and the fix."""


def bucket_name_problem(name: str) -> str:
    """Why `name` breaks S3's naming rules for general purpose buckets; '' when it is fine."""
    if not _NAME.match(name):
        return "use 3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit"
    if ".." in name:
        return "two '.' in a row are not allowed"
    try:
        ipaddress.IPv4Address(name)
        return "a bucket name cannot look like an IP address"
    except ValueError:
        pass
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return "S3 reserves that prefix or suffix"
    return ""


def bucket_names(text: str) -> list[str]:
    """JOB_BUCKETS's names: separated by commas and/or white space; s3:// is not part of a name."""
    return [name for name in re.split(r"[\s,]+", text.strip()) if name]


def ref_problem(ref: str, field_types: Mapping[str, str], config_keys: Collection[str]) -> str:
    """Why a bucket reference names nothing usable; '' when it is fine."""
    if ref == "":
        return ""
    key = config_name(ref)
    if key is not None:
        if key == JOB_BUCKETS:
            return f"{ref!r}: {JOB_BUCKETS} lists several buckets; name a field instead, whose value jobs choose"
        if key not in config_keys:
            return f"{ref!r}: {key} is not a config key of this tool (config_keys: {', '.join(config_keys) or 'none'})"
        return ""
    if ref not in field_types:
        return f"{ref!r} is neither '' (AWS_BUCKET), config.NAME nor a declared field"
    if field_types[ref] != "string":
        return f"{ref!r} is a field of type {field_types[ref]}; a bucket field must be of type string"
    return ""


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
