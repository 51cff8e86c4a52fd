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
from ..provenance import FileEntry, input_objects
from ..s3_files import CONCURRENCY, MissingObject, TransferError, check_sizes, upload_plan
from ..spec import JobView
from .failures import Permanent
from .listing import Listing, ListingError, stage_listing
from .noclobber import put_new


class InputError(TransferError, Permanent):
    """An input is missing, or its list of files is unusable: no retry can fix it."""


def job_inputs(s3: Any, job: JobView, aws_bucket: str) -> list[FileEntry]:
    """Every object the job reads, with its size and ETag (provenance.input_objects); a missing one is an InputError."""
    try:
        return input_objects(s3, job, aws_bucket)
    except MissingObject as exc:
        raise InputError(str(exc)) from exc.__cause__


def by_bucket(entries: list[FileEntry]) -> dict[str, list[str]]:
    """The entries' keys, by bucket."""
    found: dict[str, list[str]] = {}
    for entry in entries:
        found.setdefault(str(entry["bucket"]), []).append(str(entry["key"]))
    return found


class InputChanged(TransferError):
    """An input was replaced after the attempt listed it: a retry reads (and records) the new one."""


def download_recorded(s3: Any, entries: list[FileEntry], input_dir: Path) -> None:
    """The inputs as the record names them (job_inputs): an object of a versioned bucket by the version
    recorded, and every file checked for the recorded size, so that the outputs come from the inputs the
    outcome record names; an object replaced since it was listed is an InputChanged."""
    for bucket, keys in by_bucket(entries).items():
        versions = {str(e["key"]): str(e["version_id"]) for e in entries if e["bucket"] == bucket and e["version_id"]}
        download(s3, bucket, keys, input_dir, versions)
    for entry in entries:
        size = Path(local_path(str(input_dir), str(entry["key"]))).stat().st_size
        if size != entry["size"]:
            raise InputChanged(
                f"input s3://{entry['bucket']}/{entry['key']} changed while this attempt read it ({entry['size']}"
                f" bytes when listed, {size} downloaded): the next attempt reads it again"
            )


def download_listed(s3: Any, job: JobView, aws_bucket: str, input_dir: Path) -> list[FileEntry]:
    """The files each downloaded list names (InputSpec.lists_files), next to the other inputs.

    Each list is rewritten to name the local copies; a file already downloaded (e.g. under
    an input prefix) is not fetched again. The files fetched, as a record keeps them: bucket, key
    and size (no ETag: that would take a request per file; the list's own ETag is in the fingerprint).
    """
    fetched: list[FileEntry] = []
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
        for key in missing:
            size = Path(local_path(str(input_dir), key)).stat().st_size
            fetched.append({"bucket": bucket, "key": key, "size": size, "etag": "", "version_id": ""})
    return fetched


def download(s3: Any, bucket: str, keys: list[str], input_dir: Path, versions: Mapping[str, str] | None = None) -> None:
    """Each key to input_dir/<key> (the spec's argv points there); a missing one is an InputError."""
    try:
        s3_files.download(s3, bucket, keys, input_dir, versions)
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
    group_id: str = "",
) -> list[FileEntry]:
    """Every output file but the excluded ones to <prefix>/<relative path>, each checked by size: what was
    written, as a record keeps it (bucket, key, size, and, for a job's outputs, the SHA-256 S3 checked).

    `extra_args`: boto3's upload arguments for every file (upload_flags.parse_upload_flags).
    `job_id`: a job's outputs, which never replace another job's objects (noclobber.py) but those of
    a job with the same `group_id` (the same job before a shared value changed).
    """
    if not job_id:
        keys = s3_files.upload(s3, bucket, output_dir, prefix, extra_args, exclude)
        return [{"bucket": bucket, "key": key} for key in keys]
    plan = upload_plan(output_dir, prefix, exclude)
    extra = dict(extra_args or {})

    def put(item: tuple[str, Path]) -> FileEntry:
        return put_new(s3, bucket, item[0], item[1], job_id, extra, note, group_id=group_id)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        written = list(pool.map(put, plan))
    check_sizes(s3, bucket, plan, extra)
    return written
