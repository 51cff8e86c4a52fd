"""The example Job file a render writes is always one its own `run.py check` accepts: the example jobs differ.

A field given one example value (or only a default) would otherwise give both example jobs the same
value, and the runtime refuses a Job file that repeats a job (it would run, and be paid for, twice).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsgen.render import render
from dsgen.source import WORKING_TREE

OUTPUT = {"name": "out", "scope": "shared", "type": "s3_prefix", "example": "outputs/"}


def _example_jobs(tmp_path: Path, field: dict) -> list[dict]:
    command = ["echo", "{" + field["name"] + "}"]
    answers = {"fields": [OUTPUT, field], "command": command, "output_prefix": "{out}/{job_id}"}
    repo = render(tmp_path / "repo", answers, source=WORKING_TREE)  # refused if the render's check refuses it
    return json.loads((repo / "files" / "exampleJob.json").read_text())["groups"]


@pytest.mark.parametrize(
    ("field", "second"),
    [
        ({"type": "string", "example": "sample-A"}, "sample-A-2"),
        ({"type": "string", "example": ["only-one"]}, "only-one-2"),
        ({"type": "s3_key", "example": "inputs/a.bam"}, "inputs/a-2.bam"),
        ({"type": "s3_prefix", "example": "plates/p1/"}, "plates/p1-2/"),
        ({"type": "integer", "example": 7}, 8),
        ({"type": "boolean", "example": True}, False),
        ({"type": "mapping", "example": {"Plate": "P1", "Well": "A01"}}, {"Plate": "P1", "Well": "A01-2"}),
        ({"type": "string", "default": "fast", "required": False}, "fast-2"),
    ],
    ids=["string", "one-item-list", "s3_key", "s3_prefix", "integer", "boolean", "mapping", "default-only"],
)
def test_one_example_value_gives_two_distinct_example_jobs(tmp_path: Path, field: dict, second: object) -> None:
    jobs = _example_jobs(tmp_path, {"name": "x", "scope": "job", **field})
    assert [job["x"] for job in jobs][1] == second
    assert jobs[0] != jobs[1]


def test_two_examples_are_used_as_written(tmp_path: Path) -> None:
    jobs = _example_jobs(tmp_path, {"name": "x", "scope": "job", "type": "string", "example": ["a", "b"]})
    assert [job["x"] for job in jobs] == ["a", "b"]


def test_no_job_field_gives_one_example_job(tmp_path: Path) -> None:
    answers = {"fields": [OUTPUT], "command": ["echo", "{out}"], "output_prefix": "{out}/{job_id}"}
    repo = render(tmp_path / "repo", answers, source=WORKING_TREE)
    assert json.loads((repo / "files" / "exampleJob.json").read_text())["groups"] == [{}]
