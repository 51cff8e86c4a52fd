"""preflight: what `run.py check` and every command check first, offline, all problems at once."""

from __future__ import annotations

import json
from pathlib import Path

from ds_runtime.control.commands.check import preflight, report

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


def test_a_job_file_giving_a_key_twice_is_refused_naming_the_key(tmp_path: Path, capsys) -> None:
    """A JSON reader keeps the last of two keys: a second "groups" would silently drop every job of the first."""
    job = tmp_path / "job.json"
    one = json.dumps([{"sample": f"a{i}"} for i in range(50)])
    job.write_text('{"input": "in/", "output": "out/", "groups": ' + one + ', "groups": [{"sample": "b"}]}')
    found = preflight(write_spec(tmp_path), write_config(tmp_path), job, None, aws=False)
    (problem,) = found.problems
    assert "job.json: key 'groups' is given twice in one object" in problem and "keep one" in problem
    assert report(found) == 1 and "check: ok" not in capsys.readouterr().out


def test_job_and_fleet_files_too_deep_too_big_or_not_utf8_get_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    from ds_runtime import jsonfile

    cases = {
        "deep.json": b"[" * 2_000 + b"]" * 2_000,
        "latin1.json": '{"input": "caf\xe9"}'.encode("latin-1"),
        "big.json": b'{"groups": [' + b'{"sample": "x"},' * 400 + b'{"sample": "y"}]}',
        "folder.json": None,
    }
    monkeypatch.setattr(jsonfile, "MAX_BYTES", 4096)
    expected = {
        "deep.json": "nested deeper than 32 levels",
        "latin1.json": "line 1: byte 0xe9 is not UTF-8; save the file as UTF-8",
        "big.json": "bytes, over the 4,096 a file here may have; split it",
        "folder.json": "is a folder",
    }
    for name, body in cases.items():
        path = tmp_path / name
        path.mkdir() if body is None else path.write_bytes(body)
        found = preflight(write_spec(tmp_path), write_config(tmp_path), path, path, aws=False)
        assert len(found.problems) == 2, found.problems  # as a Job file and as a Fleet file: no traceback
        assert all(f"{name}: " in p and expected[name] in p for p in found.problems), found.problems


def test_a_value_pasted_into_a_shells_script_is_refused_and_the_positional_form_passes(tmp_path: Path, capsys) -> None:
    """`run.py check` reads the spec as the worker does: `sh -c 'echo {sample}'` runs a sample named
    `x;touch INJECTED;echo` as code, so it is refused, naming the fix; `sh -c '... "$1"' sh {sample}` passes."""
    injected = write_spec(tmp_path, command=["sh", "-c", "echo {sample} > {output_dir}/out.txt"])
    [problem] = preflight(injected, write_config(tmp_path), write_job_file(tmp_path, 2), None, aws=False).problems
    assert "command[2]: the script that sh -c runs holds {sample}, {output_dir}" in problem
    assert "(sh -c '... \"$1\"' sh {sample})" in problem and "command: {steps: [{run: [...]}, ...]}" in problem
    assert report(preflight(injected, write_config(tmp_path), aws=False)) == 1
    command = ["sh", "-c", 'echo "$1" > "$2/out.txt"', "sh", "{sample}", "{output_dir}"]
    positional = write_spec(tmp_path, command=command)
    assert preflight(positional, write_config(tmp_path), write_job_file(tmp_path, 2), None, aws=False).problems == []
