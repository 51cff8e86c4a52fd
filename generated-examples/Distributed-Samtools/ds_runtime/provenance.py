"""What made a job attempt's outputs, and whether a job is done with nothing changed (resume).

Every outcome record keeps the attempt's provenance (outcomes.Outcome: image, argv, spec hash,
settings, inputs with their versions, outputs with their SHA-256, runtime commit) and a
fingerprint: the SHA-256 of the image, each step's argv, the tool spec's hash and each input's
bucket, key and ETag. With CHECK_IF_DONE_BOOL a job is skipped only when its latest attempt
finished with the fingerprint this attempt would have (and its outputs are still there), so a
changed pipeline file, parameter or image runs the job again. All of it is known before any
download: keys are headed, prefixes listed (a listing gives each object's size and ETag).

Records written before provenance have no fingerprint: DS's file rule (EXPECTED_NUMBER_FILES,
MIN_FILE_SIZE_BYTES, NECESSARY_STRING) still decides for those, and the skip says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .buckets import resolve
from .outcomes import FINISHED, MalformedOutcome, Outcome, OutcomeKey, read_outcome
from .s3_files import CONCURRENCY, MissingObject, is_missing_object, listed, listed_objects
from .spec import JobView

# The attempt's folders as the record names them: its random temp folder would make every attempt's argv differ.
FOLDERS = {"work_dir": "$WORK", "input_dir": "$INPUT", "output_dir": "$OUTPUT"}
ANSWERS_FILE = ".copier-answers.yml"  # copier's record of the template commit a repository was made from
# Config key names whose values a record never keeps (none of DS's or dsgen's keys match; a tool's might).
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|ACCESS_KEY", re.IGNORECASE)
HASH_CHUNK = 1 << 20

FileEntry = dict[str, str | int]


@dataclass(frozen=True)
class Provenance:
    """What an attempt would run, known before it downloads anything."""

    image: str
    argv: list[list[str]]
    spec_sha256: str
    inputs: list[FileEntry]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.image, self.argv, self.spec_sha256, self.inputs)


def fingerprint(image: str, argv: list[list[str]], spec_sha256: str, inputs: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 over the image, argv, spec hash and the inputs' (bucket, key, ETag), sorted. The ETag, not the
    version id: an identical file uploaded again is the same input, and a listing gives ETags, not versions."""
    versions = sorted((str(i["bucket"]), str(i["key"]), str(i["etag"])) for i in inputs if i.get("etag"))
    canonical = json.dumps([image, argv, spec_sha256, versions], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def job_argv(job: JobView) -> list[list[str]]:
    """Each step's argv with the attempt's folders named $WORK, $INPUT and $OUTPUT: equal for every attempt."""
    return [list(step.argv) for step in job.steps(**FOLDERS)]


def input_objects(s3: Any, job: JobView, aws_bucket: str) -> list[FileEntry]:
    """Every object the job reads, with its size and ETag (a prefix's from its listing, a key's from a HEAD,
    which also gives the version id of a versioned bucket); an object named twice is listed once.
    MissingObject for a key that does not exist or a prefix with nothing under it."""
    found: dict[tuple[str, str], FileEntry | None] = {}
    for item in job.inputs():
        # A view without config (a check before submitting) reads every config key as empty: AWS_BUCKET.
        bucket = resolve(item.bucket, job.values, job.config or {}, aws_bucket)
        if not item.is_prefix:
            found.setdefault((bucket, item.key), None)
            continue
        objects = [o for o in listed(s3, bucket, item.key) if not o["Key"].endswith("/")]
        if not objects:
            raise MissingObject(f"input: nothing in s3://{bucket}/{item.key.rstrip('/')}/")
        for obj in objects:
            found[(bucket, obj["Key"])] = _entry(bucket, obj["Key"], obj["Size"], obj["ETag"])
    heads = [where for where, entry in found.items() if entry is None]
    if heads:  # in parallel: a job may name many keys
        with ThreadPoolExecutor(min(CONCURRENCY, len(heads))) as pool:
            found.update(zip(heads, pool.map(lambda where: _headed(s3, *where), heads), strict=True))
    return [entry for entry in found.values() if entry is not None]


def _headed(s3: Any, bucket: str, key: str) -> FileEntry:
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if is_missing_object(exc):
            raise MissingObject(f"input s3://{bucket}/{key} does not exist") from exc
        raise
    return _entry(bucket, key, head["ContentLength"], head["ETag"], head.get("VersionId") or "")


def _entry(bucket: str, key: str, size: int, etag: str, version_id: str = "") -> FileEntry:
    return {"bucket": bucket, "key": key, "size": int(size), "etag": etag.strip('"'), "version_id": version_id}


def file_sha256(path: Path | str) -> str:
    """The file's SHA-256 in hex (as `sha256sum` prints it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def runtime_commit(answers: Path | str = ANSWERS_FILE) -> str:
    """The template commit `.copier-answers.yml` records (`_commit`); '' when there is none."""
    try:
        lines = Path(answers).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        name, _, value = line.partition(":")
        if name == "_commit":
            return value.strip().strip("'\"")
    return ""


def recorded_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The config keys that reach the worker, as a record keeps them: any whose name looks secret left out."""
    return {name: value for name, value in sorted(env.items()) if not SECRET_NAME.search(name)}


def what_changed(before: Outcome, now: Provenance, compare_image: bool = True) -> str:
    """The first difference between a finished attempt's provenance and this one's; '' when none is seen.
    `compare_image` False: the image is not known here (a check before submitting)."""
    if compare_image and before.image != now.image:
        return f"image {before.image or '(none recorded)'} -> {now.image or '(none)'}"
    if before.argv != now.argv:
        return "command: " + _first_difference(before.argv, now.argv)
    if before.spec_sha256 != now.spec_sha256:
        return "tool spec (tool/spec.json) changed"
    earlier = {(str(i["bucket"]), str(i["key"])): i for i in before.inputs if i.get("etag")}
    for item in now.inputs:
        was = earlier.pop((str(item["bucket"]), str(item["key"])), None)
        where = f"s3://{item['bucket']}/{item['key']}"
        if was is None:
            return f"input {where} is new"
        if was["etag"] != item["etag"]:
            return f"input {where} changed (ETag {was['etag']} -> {item['etag']})"
    if earlier:
        bucket, key = sorted(earlier)[0]
        return f"input s3://{bucket}/{key} is no longer read"
    return ""


def _first_difference(before: list[list[str]], now: list[list[str]]) -> str:
    if len(before) != len(now):
        return f"{len(before)} step(s) -> {len(now)}"
    for step, (old, new) in enumerate(zip(before, now, strict=True)):
        if old == new:
            continue
        where = f"step {step + 1}: " if len(now) > 1 else ""
        for index in range(max(len(old), len(new))):
            a = old[index] if index < len(old) else "(none)"
            b = new[index] if index < len(new) else "(none)"
            if a != b:
                return f"{where}argument {index} {a!r} -> {b!r}"
    return "argv changed"


@dataclass(frozen=True)
class Resume:
    """Whether a job is done already (skip), and why it is or is not."""

    skip: bool
    reason: str = ""  # '' for a job that never ran before
    outputs: list[FileEntry] = field(default_factory=list)  # a skipped job's outputs, as its done attempt recorded
    by_files: bool = False  # decided by DS's file rule: the finished record predates provenance


def resume(
    s3: Any,
    bucket: str,
    latest: OutcomeKey | None,
    now: Provenance | None,
    output_bucket: str,
    own_folder: str,
    files_done: Callable[[Iterable[tuple[str, int]]], bool],
    compare_image: bool = True,
    gone: str = "",
) -> Resume:
    """Skip or run, from the job's latest outcome record (`latest`, in `bucket`; read here) and this attempt's
    provenance. The done attempt's outputs in the job's own folder must still be there with their sizes (the
    folder is listed only when a skip is in sight); `files_done` (files_rule) judges a finished record
    written before provenance. `compare_image` False: the image is not known (a check before submitting).
    `now` None: an input is gone (`gone` says which), so the job cannot run again: a finished job is kept."""
    if latest is None:
        return Resume(False, gone)
    if latest.state not in FINISHED:
        return Resume(False, gone or f"its latest attempt ({latest.attempt}) {latest.state}")
    try:
        record = read_outcome(s3, bucket, latest.key)
    except MalformedOutcome as exc:
        return Resume(False, str(exc))
    done_in = f"attempt {record.attempt} ({record.state} {record.finished_at[:19]})"
    present = listed_objects(s3, output_bucket, own_folder)
    if not record.fingerprint:
        passes = files_done(present)
        if now is None and passes:
            return Resume(True, f"{gone}; {done_in} finished and its outputs pass the file rule", by_files=True)
        if passes:
            reason = f"{done_in} predates provenance; its outputs pass the file rule (EXPECTED_NUMBER_FILES ...)"
            return Resume(True, reason, by_files=True)
        return Resume(False, gone or f"{done_in} predates provenance and its outputs fail the file rule", by_files=True)
    if now is not None and record.fingerprint != now.fingerprint:
        changed = what_changed(record, now, compare_image)
        if changed or compare_image:
            return Resume(False, f"changed since {done_in}: {changed or 'provenance differs'}")
    sizes, inside = dict(present), own_folder.rstrip("/") + "/"
    for output in record.outputs:
        if str(output["key"]).startswith(inside) and sizes.get(str(output["key"])) != output["size"]:
            return Resume(
                False, gone or f"output s3://{output['bucket']}/{output['key']} of {done_in} is gone or changed"
            )
    if now is None:  # nothing could run it again
        return Resume(True, f"{gone}; {done_in} finished and its outputs are there", list(record.outputs))
    return Resume(True, f"done in {done_in} with the same image, command, spec and inputs", list(record.outputs))


def files_rule(expected: int, min_size: int, necessary: str) -> Callable[[Iterable[tuple[str, int]]], bool]:
    """DS's check-if-done with these settings (EXPECTED_NUMBER_FILES, MIN_FILE_SIZE_BYTES, NECESSARY_STRING)."""
    return lambda objects: enough_outputs(objects, expected, min_size, necessary)


def enough_outputs(objects: Iterable[tuple[str, int]], expected: int, min_size: int, necessary: str) -> bool:
    """DS's check-if-done on (key, size) pairs: stops reading as soon as it is satisfied.

    Done when at least `expected` objects have `min_size` bytes or more and, if
    `necessary` is given, some key contains it. An empty prefix is never done,
    even with `expected` 0.
    """
    expected = max(1, int(expected))
    count, found = 0, not necessary
    for key, size in objects:
        count += int(size) >= int(min_size)
        found = found or necessary in key
        if count >= expected and found:
            return True
    return count >= expected and found
