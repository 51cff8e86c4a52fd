"""A job's inputs down from S3 and its outputs up (s3_files.py moves the files).

What only a job needs: the keys of its inputs (prefixes expanded, input lists staged),
missing inputs as a permanent failure, and outputs that never replace another job's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import s3_files
from ..buckets import resolve
from ..keys import local_path
from ..s3_files import CONCURRENCY, MissingObject, TransferError, check_sizes, listed_objects, upload_plan
from ..spec import JobView
from .failures import Permanent
from .listing import Listing, ListingError, stage_listing
from .noclobber import put_new


class InputError(TransferError, Permanent):
    """An input is missing, or its list of files is unusable: no retry can fix it."""


def input_keys(s3: Any, job: JobView, aws_bucket: str) -> dict[str, list[str]]:
    """Every S3 key the job reads, by bucket: keys as they are, prefixes expanded (JobView.inputs)."""
    found: dict[str, list[str]] = {}
    for item in job.inputs():
        # A view without config (a check before submitting) reads every config key as empty: AWS_BUCKET.
        bucket = resolve(item.bucket, job.values, job.config or {}, aws_bucket)
        keys = found.setdefault(bucket, [])
        if not item.is_prefix:
            keys.append(item.key)
            continue
        listed = [k for k, _ in listed_objects(s3, bucket, item.key) if not k.endswith("/")]
        if not listed:
            raise InputError(f"input: nothing in s3://{bucket}/{item.key.rstrip('/')}/")
        keys.extend(listed)
    # An object named twice (two inputs overlap) is fetched once.
    return {bucket: list(dict.fromkeys(keys)) for bucket, keys in found.items() if keys}


def download_listed(s3: Any, job: JobView, aws_bucket: str, input_dir: Path) -> dict[str, int]:
    """The files each downloaded list names (InputSpec.lists_files), next to the other inputs.

    Each list is rewritten to name the local copies; a file already downloaded (e.g. under
    an input prefix) is not fetched again. The number fetched, by bucket.
    """
    fetched: dict[str, int] = {}
    for item in job.inputs():
        listing = item.lists_files
        if listing is None:
            continue
        matching = job.values.get(listing.rows_matching) if listing.rows_matching else None
        try:
            keys = stage_listing(
                Path(local_path(str(input_dir), item.key)), Listing(listing.path_root, str(input_dir)), matching
            )
        except ListingError as exc:
            raise InputError(f"input {item.key}: {exc}") from None
        missing = [key for key in keys if not Path(local_path(str(input_dir), key)).exists()]
        bucket = resolve(listing.bucket, job.values, job.config or {}, aws_bucket)
        download(s3, bucket, missing, input_dir)
        fetched[bucket] = fetched.get(bucket, 0) + len(missing)
    return fetched


def download(s3: Any, bucket: str, keys: list[str], input_dir: Path) -> None:
    """Each key to input_dir/<key> (the spec's argv points there); a missing one is an InputError."""
    try:
        s3_files.download(s3, bucket, keys, input_dir)
    except MissingObject as exc:
        raise InputError(str(exc)) from exc.__cause__


def upload(
    s3: Any,
    bucket: str,
    output_dir: Path,
    prefix: str,
    extra_args: Mapping[str, str] | None = None,
    exclude: Sequence[str] = (),
    job_id: str = "",
    note: Callable[[str], None] = print,
) -> list[str]:
    """Every output file but the excluded ones to <prefix>/<relative path>, each checked by size; the keys written.

    `extra_args`: boto3's upload arguments for every file (upload_flags.parse_upload_flags).
    `job_id`: a job's outputs, which never replace another job's objects (noclobber.py).
    """
    if not job_id:
        return s3_files.upload(s3, bucket, output_dir, prefix, extra_args, exclude)
    plan = upload_plan(output_dir, prefix, exclude)
    extra = dict(extra_args or {})
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda item: put_new(s3, bucket, item[0], item[1], job_id, extra, note), plan))
    check_sizes(s3, bucket, plan, extra)
    return [key for key, _ in plan]
