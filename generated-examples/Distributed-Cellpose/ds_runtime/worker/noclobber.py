"""Output uploads that never replace another job's object: S3 conditional writes.

Each object is written with `If-None-Match: *` (PutObject, or CompleteMultipartUpload for
large files), so S3 itself refuses it when the key exists, with no window between a check
and the write. Every object carries the writing job's id in its user metadata
(`x-amz-meta-ds-job-id`). When the key exists:
- written by this same job (an earlier attempt, or a duplicate delivery): replaced, on
  condition (`If-Match` its ETag) that it is still exactly the object looked at;
- written by another job: the upload fails with OutputClash (permanent), naming both
  jobs and the key; the object is left as it was;
- written by no job (a person, another tool, a version before this one): replaced, as DS
  always did, and said in the job's log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .failures import Permanent

OWNER = "ds-job-id"  # user metadata key: the job that wrote the object
PART_BYTES = 64 * 1024 * 1024  # larger files go up in parts of this size (S3: 5 MiB to 5 GiB)
# The upload arguments S3 accepts on UploadPart / CompleteMultipartUpload besides the key.
PART_ARGS = ("RequestPayer", "ExpectedBucketOwner", "SSECustomerAlgorithm", "SSECustomerKey", "SSECustomerKeyMD5")


class OutputClash(RuntimeError, Permanent):
    """Another job already wrote this output key."""


def put_new(
    s3: Any,
    bucket: str,
    key: str,
    path: Path,
    job_id: str,
    extra: Mapping[str, Any] | None = None,
    note: Callable[[str], None] = lambda text: None,
    part_bytes: int = PART_BYTES,
) -> None:
    """Upload `path` to `key` as job `job_id`'s object; raises OutputClash if another job's object is there."""
    extra = {**(extra or {}), "Metadata": {**(extra or {}).get("Metadata", {}), OWNER: job_id}}
    try:
        return _put(s3, bucket, key, path, extra, {"IfNoneMatch": "*"}, part_bytes)
    except ClientError as exc:
        if _code(exc) != "PreconditionFailed":
            raise
    head = s3.head_object(Bucket=bucket, Key=key, **{k: v for k, v in extra.items() if k in PART_ARGS})
    owner = head.get("Metadata", {}).get(OWNER, "")
    if owner and owner != job_id:
        raise OutputClash(f"s3://{bucket}/{key} was written by job {owner}; job {job_id} would overwrite it")
    if not owner:
        note(f"replacing s3://{bucket}/{key}, which no job of this app wrote")
    _put(s3, bucket, key, path, extra, {"IfMatch": head["ETag"]}, part_bytes)


def _put(
    s3: Any, bucket: str, key: str, path: Path, extra: dict[str, Any], condition: dict[str, str], part_bytes: int
) -> None:
    if path.stat().st_size <= part_bytes:
        with path.open("rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body, **extra, **condition)
        return
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
    where = {"Bucket": bucket, "Key": key, "UploadId": upload_id, **{k: v for k, v in extra.items() if k in PART_ARGS}}
    try:
        parts = []
        with path.open("rb") as source:
            while chunk := source.read(part_bytes):
                number = len(parts) + 1
                etag = s3.upload_part(**where, PartNumber=number, Body=chunk)["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
        s3.complete_multipart_upload(**where, MultipartUpload={"Parts": parts}, **condition)
    except BaseException:
        with contextlib.suppress(Exception):  # the parts would be billed until a lifecycle rule removes them
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
