"""Outcome records: one small JSON object in S3 per job attempt, written by the worker.

Layout: `<outcome_prefix>/<job_id>/<finished>-<attempt>-<state>.json`, where
`finished` is a sortable UTC time. Job, time and state sit in the key, so a
status summary needs only a listing; the body holds the details (exit code, last
lines of output, log stream, error) for the jobs a user asks about.

Job ids are hex digits (jobs.job_id_of), so the keys of a large run spread evenly over 16 key
ranges, one per first digit of the job id: `outcome_keys` lists those ranges at once, one
paginated listing each (S3 lists by any key prefix, so the layout needs no shard folder, and
the records of every earlier version are listed alike). A range runs to the next digit, so
ids of another form (`msg-...` for a message that was no job) are listed too.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any, Literal

State = Literal["done", "failed", "skipped", "interrupted"]
STATES: tuple[State, ...] = ("done", "failed", "skipped", "interrupted")
FINISHED: tuple[State, ...] = ("done", "skipped")  # an attempt in these states finished its job (skipped: before)
FORMAT_VERSION = 1
_KEY_TIME = "%Y%m%dT%H%M%S.%fZ"
HEX_DIGITS = "0123456789abcdef"  # a job id's first character: outcome_keys lists one key range per digit
# A dead-lettered message's attribute holding why the worker gave up on the job (`status` shows it).
REASON_ATTRIBUTE = "ds_reason"
# Every job message's attribute naming the app that sent it (submitJob, retryFailed, the worker's re-sends).
# A dead-letter queue may be shared by several apps (DS configs often do): cleanup, retryFailed and status
# touch only the messages their app sent.
APP_ATTRIBUTE = "ds_app"


def app_attribute(app_name: str) -> dict[str, dict[str, str]]:
    """The MessageAttributes entry that marks a message as `app_name`'s."""
    return {APP_ATTRIBUTE: {"DataType": "String", "StringValue": app_name}}


def sender_app(message: Mapping[str, Any]) -> str:
    """The app that sent a received message ('' for a message sent without the attribute: no app's)."""
    return str(message.get("MessageAttributes", {}).get(APP_ATTRIBUTE, {}).get("StringValue", ""))


def default_prefix(app_name: str) -> str:
    """Where a run's outcome records go: the worker writes and every command reads them there."""
    return f"_ds_status/{app_name}"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Outcome:
    job_id: str
    attempt: int  # SQS ApproximateReceiveCount of the message this attempt ran
    state: State
    started_at: str  # ISO 8601 UTC
    finished_at: str
    duration_seconds: float
    host: str
    exit_code: int | None = None  # None: the tool never ran or never finished
    tool_seconds: float = 0.0  # the tool's own run time, part of duration_seconds
    peak_memory_mb: float | None = None  # the peak resident memory of the tool's largest process (None: unknown)
    cpu_seconds: float | None = None  # the tool's user + system CPU time (None: unknown, or a record before it)
    output_prefix: str = ""
    output_bucket: str = ""  # where the outputs went ('' in records older than this field: AWS_BUCKET)
    log_group: str = ""
    log_stream: str = ""
    error: str = ""
    tail: list[str] = field(default_factory=list)  # last lines of the tool's output
    message_id: str = ""
    permanent: bool = False  # a failure no retry can fix: sent to the dead-letter queue at once
    interruptions: int = 0  # spot interruptions or stops of this job so far, this attempt included
    worker: str = ""  # which worker process ran it (host/pid): a row of the run report's timeline
    # Provenance: what made this attempt's outputs (empty in records written before these fields).
    image: str = ""  # the image the worker ran in, pinned by digest (repo@sha256:..., locally the image id)
    # Each step's program and arguments as run, the attempt's folders named $WORK, $INPUT and $OUTPUT
    # (not its random temp folder): every attempt at one job records the same argv.
    argv: list[list[str]] = field(default_factory=list)
    spec_sha256: str = ""  # the tool spec file's SHA-256 (hex)
    settings: dict[str, str] = field(default_factory=dict)  # the config keys that reach the worker (none secret)
    # Each {"bucket", "key", "size", "etag", "version_id"} (inputs: version_id '' unless S3 gave one; a file an
    # input list names has etag '') or {"bucket", "key", "size", "sha256"} (outputs: the file's SHA-256 in hex,
    # as `sha256sum` prints it; S3 checked it on upload and keeps it as the object's checksum, in base64).
    inputs: list[dict[str, str | int]] = field(default_factory=list)
    outputs: list[dict[str, str | int]] = field(default_factory=list)
    runtime: str = ""  # the template commit the worker's runtime came from (.copier-answers.yml's _commit)
    fingerprint: str = ""  # the hash resume compares: image, argv, spec and input ETags (provenance.py)
    # CHECK_IF_DONE_BOOL's word on this attempt: why it was skipped, or what changed since the job's last
    # finished attempt ('' when it never finished before, or when CHECK_IF_DONE_BOOL is off).
    resume_reason: str = ""
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Outcome:
        """A record as the worker wrote it; MalformedOutcome for anything else (the task role can write
        records, so a tool could: every field is checked for its type before a page or a table shows it)."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedOutcome(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MalformedOutcome(f"not a JSON object but {type(data).__name__}")
        # Ignore keys from newer formats, so an old status command still reads new records.
        known = {k: v for k, v in data.items() if k in _FIELD_TYPES}
        missing = [
            f.name for f in fields(cls) if f.name not in known and f.default is MISSING and f.default_factory is MISSING
        ]
        if missing:
            raise MalformedOutcome(f"no {', '.join(missing)}")
        for name, value in known.items():
            if not _FIELD_TYPES[name](value):
                raise MalformedOutcome(
                    f"{name} is {type(value).__name__} {str(value)[:40]!r}, not a {_FIELD_KINDS[name]}"
                )
        if known["state"] not in STATES:
            raise MalformedOutcome(f"state {known['state'][:40]!r} is none of {', '.join(STATES)}")
        for name in ("started_at", "finished_at"):
            try:
                datetime.fromisoformat(known[name])
            except ValueError:
                raise MalformedOutcome(f"{name} {known[name][:40]!r} is not an ISO 8601 time") from None
        return cls(**known)


class MalformedOutcome(ValueError):
    """An object under the outcome prefix that is not a record the worker wrote; the message says why."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# What each field's annotation admits, by its text (a new field of another type fails here, at import).
_CHECKS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "State": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "int | None": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    "float": _number,
    "float | None": lambda v: v is None or _number(v),
    "bool": lambda v: isinstance(v, bool),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(line, str) for line in v),
    "list[list[str]]": lambda v: isinstance(v, list) and all(_CHECKS["list[str]"](item) for item in v),
    "dict[str, str]": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in (*v, *v.values())),
    "list[dict[str, str | int]]": lambda v: isinstance(v, list) and all(_file_entry(item) for item in v),
}


def _file_entry(value: Any) -> bool:
    """One input or output of a record: names to texts or whole numbers."""
    return isinstance(value, dict) and all(
        isinstance(k, str) and (isinstance(x, str) or (isinstance(x, int) and not isinstance(x, bool)))
        for k, x in value.items()
    )


_FIELD_KINDS = {f.name: str(f.type) for f in fields(Outcome)}
_FIELD_TYPES = {name: _CHECKS[kind] for name, kind in _FIELD_KINDS.items()}


@dataclass(frozen=True, order=True)
class OutcomeKey:
    """What an outcome's S3 key tells without reading it."""

    finished: str  # first, so that max() picks the latest
    attempt: int
    job_id: str
    state: str
    key: str


# OutcomeKey's own order as a key function: its fields as a tuple built in C. Sorting 100,000 keys
# by it takes a fraction of the time their generated __lt__ takes.
IN_ORDER = attrgetter(*(f.name for f in fields(OutcomeKey)))


def outcome_key(prefix: str, outcome: Outcome) -> str:
    finished = datetime.fromisoformat(outcome.finished_at).astimezone(timezone.utc).strftime(_KEY_TIME)
    return f"{prefix.strip('/')}/{outcome.job_id}/{finished}-{outcome.attempt:03d}-{outcome.state}.json"


def parse_key(prefix: str, key: str) -> OutcomeKey | None:
    """The parts of an outcome key; None for anything else under the prefix."""
    rest = key[len(prefix.strip("/")) + 1 :]
    job_id, _, name = rest.partition("/")
    parts = name.removesuffix(".json").split("-")
    if not job_id or "/" in name or len(parts) != 3 or not parts[1].isdigit() or parts[2] not in STATES:
        return None
    return OutcomeKey(parts[0], int(parts[1]), job_id, parts[2], key)


def write_outcome(s3: Any, bucket: str, prefix: str, outcome: Outcome) -> str:
    key = outcome_key(prefix, outcome)
    s3.put_object(Bucket=bucket, Key=key, Body=outcome.to_json().encode(), ContentType="application/json")
    return key


def outcome_keys(s3: Any, bucket: str, prefix: str, job_id: str = "") -> list[OutcomeKey]:
    """Every outcome record under the prefix (of one job, if `job_id`), in key order: all of them
    listed in parallel, one listing per key range (see the module's doc); one job's in one listing."""
    base = prefix.strip("/") + "/"
    if job_id:
        return list(_listed(s3, bucket, prefix, base + job_id + "/"))
    starts = [None, *(base + digit for digit in HEX_DIGITS[1:])]
    stops = [*starts[1:], None]
    with ThreadPoolExecutor(len(starts)) as pool:
        ranges = pool.map(lambda start, stop: list(_listed(s3, bucket, prefix, base, start, stop)), starts, stops)
        return [key for keys in ranges for key in keys]


def _listed(
    s3: Any, bucket: str, prefix: str, where: str, start: str | None = None, stop: str | None = None
) -> Iterator[OutcomeKey]:
    """The records under `where` with keys after `start` and below `stop`, all pages."""
    after = {"StartAfter": start} if start else {}  # a key equal to `start` is no record: it has no job folder
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=where, **after):
        for obj in page.get("Contents", []):
            if stop is not None and obj["Key"] >= stop:
                return
            parsed = parse_key(prefix, obj["Key"])
            if parsed is not None:
                yield parsed


def latest_keys(s3: Any, bucket: str, prefix: str) -> dict[str, OutcomeKey]:
    """The latest outcome key of each job: enough to count jobs by state."""
    return latest_of(outcome_keys(s3, bucket, prefix))


def latest_of(items: Iterable[OutcomeKey]) -> dict[str, OutcomeKey]:
    latest: dict[str, OutcomeKey] = {}
    for item in items:
        if item.job_id not in latest or item > latest[item.job_id]:
            latest[item.job_id] = item
    return latest


def interruptions_of(items: Iterable[OutcomeKey]) -> Counter[str]:
    """Interrupted attempts per job, from the keys alone."""
    return Counter(item.job_id for item in items if item.state == "interrupted")


def interrupted_since(items: Iterable[OutcomeKey], since: datetime) -> int:
    """Interrupted attempts that ended at or after `since`, from the keys alone."""
    after = since.astimezone(timezone.utc).strftime(_KEY_TIME)
    return sum(1 for item in items if item.state == "interrupted" and item.finished >= after)


def read_outcome(s3: Any, bucket: str, key: str) -> Outcome:
    """The record at `key`; MalformedOutcome (naming the key) if it is not one."""
    try:
        return Outcome.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except MalformedOutcome as exc:
        raise MalformedOutcome(f"outcome record s3://{bucket}/{key} is not a record a worker wrote ({exc})") from None


def read_each(s3: Any, bucket: str, keys: Iterable[str], threads: int = 16) -> dict[str, Outcome | str]:
    """Each key's record, read in parallel, or (a string) the warning naming a key that holds no record."""

    def read(key: str) -> Outcome | str:
        try:
            return read_outcome(s3, bucket, key)
        except MalformedOutcome as exc:
            return f"{exc}: left out"

    keys = list(keys)
    with ThreadPoolExecutor(threads) as pool:
        return dict(zip(keys, pool.map(read, keys), strict=True))


def read_outcomes(s3: Any, bucket: str, keys: Iterable[str], threads: int = 16) -> tuple[dict[str, Outcome], list[str]]:
    """The records at these keys (key -> record), read in parallel; one that is not a record is left out,
    with a warning naming its key, so one bad object never hides the others."""
    return split_read(read_each(s3, bucket, keys, threads))


def split_read(found: dict[str, Outcome | str]) -> tuple[dict[str, Outcome], list[str]]:
    """read_each's answer as (key -> record, warnings)."""
    records = {k: v for k, v in found.items() if isinstance(v, Outcome)}
    return records, [v for v in found.values() if isinstance(v, str)]


def latest_outcomes(s3: Any, bucket: str, prefix: str, threads: int = 16) -> dict[str, Outcome]:
    """The latest full outcome record of each job (one GET per job, in parallel); malformed ones left out."""
    keys = latest_keys(s3, bucket, prefix)
    records, _ = read_outcomes(s3, bucket, [item.key for item in keys.values()], threads)
    return {job: records[item.key] for job, item in keys.items() if item.key in records}
