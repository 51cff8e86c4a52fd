"""Inputs down from S3 and outputs up, concurrently, through boto3's transfer manager."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig, create_transfer_manager

from ..buckets import resolve
from ..keys import join_key, local_path
from ..spec import JobView
from .done import listed_objects, output_files
from .failures import Permanent, is_missing_object
from .listing import Listing, ListingError, stage_listing
from .noclobber import put_new

CONCURRENCY = 16
TRANSFER = TransferConfig(max_concurrency=CONCURRENCY)


class TransferError(RuntimeError):
    """An input or output could not be moved, or arrived incomplete."""


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
    """Each key to input_dir/<key> (the spec's argv points there)."""
    targets = [(key, Path(local_path(str(input_dir), key))) for key in keys]
    for _, path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
    _run_all(s3, [("download", key, path) for key, path in targets], bucket)


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
    root = output_dir.resolve()
    plan: list[tuple[str, Path]] = []
    for path in output_files(output_dir, exclude):
        if not path.resolve().is_relative_to(root):
            raise TransferError(f"output {path.relative_to(output_dir)} links outside the output folder")
        plan.append((join_key(prefix, path.relative_to(output_dir).as_posix()), path))
    extra = dict(extra_args or {})
    if job_id:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda item: put_new(s3, bucket, item[0], item[1], job_id, extra, note), plan))
    else:
        _run_all(s3, [("upload", key, path) for key, path in plan], bucket, extra)
    # A requester-pays or owner-checked bucket asks the same of the size check.
    head = {k: v for k, v in extra.items() if k in ("RequestPayer", "ExpectedBucketOwner")}
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        sizes = list(pool.map(lambda item: s3.head_object(Bucket=bucket, Key=item[0], **head)["ContentLength"], plan))
    short = [key for (key, path), size in zip(plan, sizes, strict=True) if size != path.stat().st_size]
    if short:
        raise TransferError(f"{len(short)} upload(s) arrived with the wrong size, e.g. {short[0]}")
    return [key for key, _ in plan]


def _run_all(
    s3: Any, transfers: list[tuple[str, str, Path]], bucket: str, extra_args: dict[str, str] | None = None
) -> None:
    """Start every transfer at once on one manager, then wait for all; the first error is raised."""
    if not transfers:
        return
    with create_transfer_manager(s3, TRANSFER) as manager:
        futures = [
            manager.upload(os.fspath(path), bucket, key, extra_args=extra_args)
            if kind == "upload"
            else manager.download(bucket, key, os.fspath(path))
            for kind, key, path in transfers
        ]
        for (kind, key, _), future in zip(transfers, futures, strict=True):
            try:
                future.result()
            except Exception as exc:
                if kind == "download" and is_missing_object(exc):
                    raise InputError(f"input s3://{bucket}/{key} does not exist") from exc
                raise TransferError(f"{kind} of s3://{bucket}/{key} failed: {exc}") from exc
