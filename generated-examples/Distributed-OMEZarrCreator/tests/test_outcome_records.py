"""A run's outcome records as status, estimate and report read them: one listing per command, in key
ranges listed at once that miss no record, each record fetched at most once and in parallel."""

# ruff: noqa: F811 (the fixture aws comes from test_control_costs)

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.utils import parse_timestamp

from ds_runtime.aws import read_timestamp
from ds_runtime.control.views.outcome_records import OutcomeRecords
from ds_runtime.control.views.report import gather
from ds_runtime.control.views.status import collect
from ds_runtime.outcomes import HEX_DIGITS, OutcomeKey, default_prefix, outcome_key, outcome_keys, parse_key

from ._control_support import REGION, make_ctx, put_objects
from .test_control_costs import APP, BUCKET, DLQ, aws, outcome, record, send  # noqa: F401 (fixture)

PREFIX = default_prefix(APP)


def calls(ctx: Any, operation: str) -> list[str]:
    """The `operation` calls this context's S3 client makes from now on."""
    made: list[str] = []
    ctx.client("s3").meta.events.register(f"before-call.s3.{operation}", lambda **kw: made.append(operation))
    return made


def a_run() -> None:
    """Done, failed (and dead-lettered), interrupted-then-done jobs, and one record that is no record."""
    record(
        outcome("a1", "done"),
        outcome("b2", "failed", exit_code=1),
        outcome("b2", "failed", attempt=2, exit_code=1),
        outcome("c3", "interrupted"),
        outcome("c3", "done", attempt=2),
        outcome("f4", "done"),
    )
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=f"{PREFIX}/e5/x-001-done.json", Body=b"{")
    send(DLQ, '{"sample": "b", "_job_id": "b2"}')


def test_status_and_report_each_list_the_records_once(aws: Path) -> None:
    a_run()
    ctx = make_ctx(aws)
    listed = calls(ctx, "ListObjectsV2")
    collect(ctx)
    by_status = len(listed)
    gather(ctx)  # status, the attempts and the estimate, from one listing
    assert by_status == len(HEX_DIGITS)  # one listing per key range: a page each, for a small run
    assert len(listed) - by_status == by_status


def test_report_reads_each_record_once(aws: Path) -> None:
    a_run()
    ctx = make_ctx(aws)
    read = calls(ctx, "GetObject")
    report = gather(ctx)
    assert len(read) == 7  # six records and the object that is none, though status and the estimate read some too
    assert sum("e5/x-001-done.json" in note for note in report.notes) == 1  # still named, once
    assert {p.job_id: p.exit_code for p in report.status.problems} == {"b2": 1}


class SlowS3:
    """An S3 client whose GETs each wait until `together` of them run at once (a Barrier)."""

    def __init__(self, together: int) -> None:
        self.barrier = threading.Barrier(together, timeout=10)

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.barrier.wait()  # breaks (an error) if the reads came one at a time
        job_id = parse_key(PREFIX, Key).job_id  # type: ignore[union-attr]
        return {"Body": _Body(outcome(job_id, "done").to_json().encode())}


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data


def test_records_are_fetched_in_parallel() -> None:
    keys = [parse_key(PREFIX, outcome_key(PREFIX, outcome(f"{i}a", "done"))) for i in range(4)]
    records = OutcomeRecords([k for k in keys if k], [], (SlowS3(together=4), BUCKET))
    read, warnings = records.read(records.keys)
    assert sorted(r.job_id for r in read.values()) == ["0a", "1a", "2a", "3a"] and warnings == []


def test_the_key_ranges_list_every_record_of_every_id_in_key_order(aws: Path) -> None:
    # Ids of each first digit, of other forms (a message that was no job: msg-<id>; upper case, '-', '_'),
    # enough of one digit to take several pages, and objects that are no records, at each range's edge.
    ids = [d + "0" * 15 for d in HEX_DIGITS] + ["msg-1", "Z9", "-x", "_y", "zz"]
    ids += [f"5{i:015x}" for i in range(1, 2101)]
    keys = [outcome_key(PREFIX, outcome(job_id, "done")) for job_id in ids]
    strays = [f"{PREFIX}/1", f"{PREFIX}/a", f"{PREFIX}/notes.txt", "_ds_status/Other/1/x-001-done.json"]
    put_objects(BUCKET, keys + strays, b"{}")
    found = outcome_keys(boto3.client("s3", region_name=REGION), BUCKET, PREFIX)
    assert [k.key for k in found] == sorted(keys)
    assert len({k.job_id for k in found}) == len(ids)


def test_one_job_s_records_are_listed_alone(aws: Path) -> None:
    record(outcome("ab", "failed"), outcome("ab", "done", attempt=2), outcome("abc", "done"))
    found = outcome_keys(boto3.client("s3", region_name=REGION), BUCKET, PREFIX, job_id="ab")
    assert [(k.job_id, k.state) for k in found] == [("ab", "failed"), ("ab", "done")]
    assert all(isinstance(k, OutcomeKey) for k in found)


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-01T00:00:00.000Z",  # S3 listings
        "2025-06-30T23:59:59Z",
        "2025-01-01T01:00:00+01:00",
        "2025-01-01T00:00:00",  # no zone: botocore's UTC
        "Wed, 01 Jan 2025 00:00:00 GMT",  # headers
        "1700000000",  # epoch seconds
        "1700000000.5",
    ],
)
def test_timestamps_read_as_botocore_reads_them(text: str) -> None:
    assert read_timestamp(text) == parse_timestamp(text)
    assert read_timestamp(text).utcoffset() == parse_timestamp(text).utcoffset()


def test_a_timestamp_neither_reads_is_botocore_s_error() -> None:
    with pytest.raises(ValueError):
        parse_timestamp("not a time")
    with pytest.raises(ValueError):
        read_timestamp("not a time")
