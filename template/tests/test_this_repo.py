"""This repository's own data fits together: tool spec, example Job file, config.

These are the files rendered from dsgen's answers (or edited since); the runtime
tests beside this file cover the code that is the same in every repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ds_runtime.jobs import read_job_file
from ds_runtime.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "tool" / "spec.json"


def test_tool_spec_is_valid() -> None:
    spec = load_spec(SPEC)
    assert spec.command, "the tool spec has no command"


@pytest.mark.parametrize("job_file", sorted((REPO / "files").glob("*Job*.json")), ids=lambda p: p.name)
def test_example_job_file_fits_the_tool(job_file: Path) -> None:
    spec = load_spec(SPEC)
    jobs = read_job_file(job_file, spec)
    assert jobs, f"{job_file} holds no jobs"
    assert len({job.job_id for job in jobs}) == len(jobs), "two example jobs are identical"
    for job in jobs:
        argv = spec.argv(job.values, job.job_id, "/work/j", "/work/j/input", "/work/j/output")
        assert argv and all(isinstance(arg, str) for arg in argv)
        assert not spec.output_key(job.values, job.job_id).startswith(("/", ".."))


def test_every_json_file_parses() -> None:
    for path in REPO.rglob("*.json"):
        if ".venv" not in path.parts:
            json.loads(path.read_text())
