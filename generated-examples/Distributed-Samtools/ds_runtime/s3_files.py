"""Files between S3 and a local folder, concurrently, through boto3's transfer manager.

Shared below the commands and the worker: `uploadInputs`, `downloadOutputs` and local
mode move folders with it; the worker moves each job's inputs and outputs (worker/transfer.py
adds what only a job needs: its input list, no-clobber puts, permanent input errors).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import ClientError

from .keys import join_key, local_path

CONCURRENCY = 16
TRANSFER = TransferConfig(max_concurrency=CONCURRENCY)
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class TransferError(RuntimeError):
    """A file could not be moved, or arrived incomplete."""


class MissingObject(TransferError):
    """A download's object does not exist."""


def is_missing_object(exc: BaseException) -> bool:
    """An S3 answer that the object does not exist (GetObject's NoSuchKey, HeadObject's bare 404)."""
    return isinstance(exc, ClientError) and str(exc.response.get("Error", {}).get("Code")) in MISSING_CODES


def listed(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under a folder-like prefix as ListObjectsV2 gives it (Key, Size, ETag, ...), all pages."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
        yield from page.get("Contents", [])


def listed_objects(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
    """(key, size) of every object under a folder-like prefix, all pages."""
    return ((obj["Key"], obj["Size"]) for obj in listed(s3, bucket, prefix))


def output_files(output_dir: Path, exclude: Sequence[str] = ()) -> list[Path]:
    """Every file under the output folder, at any depth, but those matching an `exclude` pattern.

    Patterns are shell-style (fnmatch: `*` crosses `/`) on the path relative to the
    folder, e.g. `cp.is.done` or `*.tmp`. Linked folders are not entered (no cycles).
    """
    found = []
    for folder, _, names in os.walk(output_dir):
        for name in names:
            path = Path(folder, name)
            relative = path.relative_to(output_dir).as_posix()
            if path.is_file() and not any(fnmatchcase(relative, pattern) for pattern in exclude):
                found.append(path)
    return sorted(found)


def download(s3: Any, bucket: str, keys: list[str], input_dir: Path, versions: Mapping[str, str] | None = None) -> None:
    """Each key to input_dir/<key> (the version `versions` names for it, if any); MissingObject if one does
    not exist."""
    targets = [(key, Path(local_path(str(input_dir), key))) for key in keys]
    for _, path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
    run_all(s3, [("download", key, path) for key, path in targets], bucket, versions=versions)


def upload_plan(output_dir: Path, prefix: str, exclude: Sequence[str] = ()) -> list[tuple[str, Path]]:
    """(key, file) for every file to upload: <prefix>/<relative path>; none may link outside the folder."""
    root = output_dir.resolve()
    plan: list[tuple[str, Path]] = []
    for path in output_files(output_dir, exclude):
        if not path.resolve().is_relative_to(root):
            raise TransferError(f"output {path.relative_to(output_dir)} links outside the output folder")
        plan.append((join_key(prefix, path.relative_to(output_dir).as_posix()), path))
    return plan


def upload(
    s3: Any,
    bucket: str,
    output_dir: Path,
    prefix: str,
    extra_args: Mapping[str, str] | None = None,
    exclude: Sequence[str] = (),
) -> list[str]:
    """Every file but the excluded ones to <prefix>/<relative path>, each checked by size; the keys written.

    `extra_args`: boto3's upload arguments for every file (upload_flags.parse_upload_flags).
    """
    plan = upload_plan(output_dir, prefix, exclude)
    extra = dict(extra_args or {})
    run_all(s3, [("upload", key, path) for key, path in plan], bucket, extra)
    check_sizes(s3, bucket, plan, extra)
    return [key for key, _ in plan]


def check_sizes(s3: Any, bucket: str, plan: list[tuple[str, Path]], extra_args: Mapping[str, str]) -> None:
    """TransferError unless every uploaded object has its file's size."""
    # A requester-pays or owner-checked bucket asks the same of the size check.
    head = {k: v for k, v in extra_args.items() if k in ("RequestPayer", "ExpectedBucketOwner")}
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        sizes = list(pool.map(lambda item: s3.head_object(Bucket=bucket, Key=item[0], **head)["ContentLength"], plan))
    short = [key for (key, path), size in zip(plan, sizes, strict=True) if size != path.stat().st_size]
    if short:
        raise TransferError(f"{len(short)} upload(s) arrived with the wrong size, e.g. {short[0]}")


def run_all(
    s3: Any,
    transfers: list[tuple[str, str, Path]],
    bucket: str,
    extra_args: dict[str, str] | None = None,
    versions: Mapping[str, str] | None = None,
) -> None:
    """Start every transfer at once on one manager, then wait for all; the first error is raised.
    `extra_args`: every upload's; `versions`: key -> the version a download fetches."""
    versions = versions or {}
    if not transfers:
        return
    with create_transfer_manager(s3, TRANSFER) as manager:
        futures = [
            manager.upload(os.fspath(path), bucket, key, extra_args=extra_args)
            if kind == "upload"
            else manager.download(
                bucket, key, os.fspath(path), extra_args={"VersionId": versions[key]} if versions.get(key) else None
            )
            for kind, key, path in transfers
        ]
        for (kind, key, _), future in zip(transfers, futures, strict=True):
            try:
                future.result()
            except Exception as exc:
                if kind == "download" and is_missing_object(exc):
                    raise MissingObject(f"input s3://{bucket}/{key} does not exist") from exc
                raise TransferError(f"{kind} of s3://{bucket}/{key} failed: {exc}") from exc
