"""preflight: what `run.py check` and every command check first, offline, all problems at once."""

from __future__ import annotations

import json
from pathlib import Path

from ds_runtime.control.check import preflight, report

from ._control_support import fleet_data, write_config, write_job_file, write_spec


def test_everything_fine_is_exit_0(tmp_path: Path, capsys) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps(fleet_data("subnet-1", "sg-1")))
    found = preflight(write_spec(tmp_path), write_config(tmp_path), write_job_file(tmp_path, 2), fleet, aws=False)
    assert found.problems == [] and found.config is not None
    assert report(found) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "check: ok, the run can start"


def test_stand_in_fleet_ids_only_where_allowed(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps(fleet_data()))  # subnet-WWWWWWWW, sg-ZZZZZZZZ
    args = (write_spec(tmp_path), write_config(tmp_path), None, fleet)
    assert preflight(*args, aws=False, allow_stand_ins=True).problems == []  # local mode, estimate
    [problem] = preflight(*args, aws=False).problems
    assert "SubnetId: 'subnet-WWWWWWWW' is the example's stand-in" in problem


def test_every_file_problem_is_listed_and_exit_is_1(tmp_path: Path, capsys) -> None:
    job = tmp_path / "job.json"
    job.write_text('{"groups": [')
    found = preflight(write_spec(tmp_path), write_config(tmp_path), job, tmp_path / "nope.json", aws=False)
    assert len(found.problems) == 2
    assert "job.json: not valid JSON (line 1" in found.problems[0]
    assert "nope.json: not found" in found.problems[1]
    assert report(found) == 1
    out = capsys.readouterr().out
    assert out.count("problem: ") == 2 and "check: 2 problem(s)" in out


def test_bad_spec_stops_before_config(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text("{}")
    found = preflight(spec, write_config(tmp_path), aws=False)
    assert len(found.problems) == 1 and "invalid tool spec" in found.problems[0]
    assert found.config is None
