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
  always did, and said in the job's log;
- written by another job with this job's own values (its group: the job fields that name its log
  stream; the object's `x-amz-meta-ds-job-group`): replaced, said in the log. That job is this
  one before a shared value changed (a pipeline or a parameter fixed, the Job file sent again).
  Given only when the output folder names a job field; a job of other own values stays refused.

Every object goes up with a SHA-256 checksum (ChecksumAlgorithm), which S3 checks on arrival; the
file's own SHA-256 (hex) is what the outcome record keeps, compared with the checksum S3 stored
(a large file goes up in parts: S3 checks each part, and stores a checksum of the parts' checksums).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ..provenance import FileEntry, file_sha256
from ..s3_files import TransferError
from .failures import Permanent

OWNER = "ds-job-id"  # user metadata key: the job that wrote the object
GROUP = "ds-job-group"  # user metadata key: the id of that job's own values (its group), '' if not per job
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
    group_id: str = "",
) -> FileEntry:
    """Upload `path` to `key` as job `job_id`'s object; raises OutputClash if another job's object is there
    (unless that job had this one's `group_id`). The output as a record keeps it: bucket, key, size, SHA-256."""
    marks = {OWNER: job_id, **({GROUP: group_id} if group_id else {})}
    extra = {**(extra or {}), "Metadata": {**(extra or {}).get("Metadata", {}), **marks}}
    sha256 = file_sha256(path)
    try:
        stored = _put(s3, bucket, key, path, extra, {"IfNoneMatch": "*"}, part_bytes)
    except ClientError as exc:
        if _code(exc) != "PreconditionFailed":
            raise
        head = s3.head_object(Bucket=bucket, Key=key, **{k: v for k, v in extra.items() if k in PART_ARGS})
        owner, group = (head.get("Metadata", {}).get(name, "") for name in (OWNER, GROUP))
        if owner and owner != job_id:
            if not (group_id and group == group_id):
                raise OutputClash(
                    f"s3://{bucket}/{key} was written by job {owner}; job {job_id} would overwrite it"
                ) from None
            note(f"replacing s3://{bucket}/{key} of job {owner}: this job with another shared value")
        if not owner:
            note(f"replacing s3://{bucket}/{key}, which no job of this app wrote")
        stored = _put(s3, bucket, key, path, extra, {"IfMatch": head["ETag"]}, part_bytes)
    if stored and base64.b64decode(stored).hex() != sha256:
        raise TransferError(f"s3://{bucket}/{key} arrived with SHA-256 {base64.b64decode(stored).hex()}, not {sha256}")
    return {"bucket": bucket, "key": key, "size": path.stat().st_size, "sha256": sha256}


def _put(
    s3: Any, bucket: str, key: str, path: Path, extra: dict[str, Any], condition: dict[str, str], part_bytes: int
) -> str:
    """Write the object; the whole file's SHA-256 (base64) as S3 stored it, '' for one sent in parts."""
    if path.stat().st_size <= part_bytes:
        with path.open("rb") as body:
            sent = s3.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256", **extra, **condition)
        return str(sent.get("ChecksumSHA256") or "")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256", **extra)["UploadId"]
    where = {"Bucket": bucket, "Key": key, "UploadId": upload_id, **{k: v for k, v in extra.items() if k in PART_ARGS}}
    try:
        parts = []
        with path.open("rb") as source:
            while chunk := source.read(part_bytes):
                number = len(parts) + 1
                sent = s3.upload_part(**where, PartNumber=number, Body=chunk, ChecksumAlgorithm="SHA256")
                parts.append({"PartNumber": number, "ETag": sent["ETag"], "ChecksumSHA256": sent["ChecksumSHA256"]})
        s3.complete_multipart_upload(**where, MultipartUpload={"Parts": parts}, **condition)
    except BaseException:
        with contextlib.suppress(Exception):  # the parts would be billed until a lifecycle rule removes them
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return ""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
