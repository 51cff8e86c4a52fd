"""Many outcome records are read by several processes, each with its own client, and come back the
same as read here: a malformed one named, a share whose process fails read here instead."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from ds_runtime import outcome_reads
from ds_runtime.aws import make_session
from ds_runtime.outcome_reads import MAX_PROCESSES, PER_PROCESS, process_count, read_many
from ds_runtime.outcomes import Outcome, default_prefix, read_each, write_outcome

from ._control_support import REGION
from .test_control_costs import APP, BUCKET, outcome

PREFIX = default_prefix(APP)


def a_bucket_of_records(count: int) -> tuple[Any, list[str]]:
    """`count` records and one object that is no record; the client and the keys."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    keys = [write_outcome(s3, BUCKET, PREFIX, outcome(f"{i:04x}", "done", tail=[f"line {i}"])) for i in range(count)]
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/ffff/x-001-done.json", Body=b"{")
    return s3, [*keys, f"{PREFIX}/ffff/x-001-done.json"]


def spying(monkeypatch: pytest.MonkeyPatch, answer: Any = None) -> list[Any]:
    """What each child answered (None: failed); `answer` replaces the children's answers if given."""
    answers: list[Any] = []
    real = outcome_reads._in_child

    def child(*args: Any) -> Any:
        answers.append(real(*args) if answer is None else answer(*args))
        return answers[-1]

    monkeypatch.setattr(outcome_reads, "_in_child", child)
    monkeypatch.setattr(outcome_reads, "process_count", lambda keys: 3)
    return answers


def test_records_read_by_child_processes_are_the_records_read_here(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, keys = a_bucket_of_records(30)
    here = read_each(s3, BUCKET, keys, 4)
    children = spying(monkeypatch)
    found = read_many(make_session(None, REGION), s3, BUCKET, keys, 4)
    assert found == here and list(found) == keys
    assert sorted(len(answer) for answer in children) == [10, 10, 11]  # every share read by a child
    assert isinstance(found[keys[0]], Outcome) and "is not a record" in str(found[keys[-1]])


def test_a_share_whose_process_fails_is_read_here(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s3, keys = a_bucket_of_records(12)
    children = spying(monkeypatch, answer=lambda *args: None)
    assert read_many(make_session(None, REGION), s3, BUCKET, keys, 4) == read_each(s3, BUCKET, keys, 4)
    assert children == [None, None, None]


@pytest.mark.parametrize(
    ("keys", "cores", "processes"),
    [
        (PER_PROCESS * 2 - 1, 8, 1),  # too few for a second process: read here
        (PER_PROCESS * 2, 8, 2),
        (PER_PROCESS * 100, 4, 4),  # one per core
        (PER_PROCESS * 100, 64, MAX_PROCESSES),
        (PER_PROCESS * 100, 1, 1),
    ],
)
def test_one_process_per_core_while_each_has_its_share_of_reads(keys: int, cores: int, processes: int) -> None:
    assert process_count(keys, cores) == processes
