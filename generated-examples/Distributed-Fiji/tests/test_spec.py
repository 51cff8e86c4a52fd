"""The tool spec: placeholders, argv building, S3 key safety, job checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ds_runtime.spec import JobError, SpecError, ToolSpec, join_key, load_spec, render, safe_key


def make_spec(**overrides: object) -> ToolSpec:
    data = {
        "tool_name": "Toy",
        "app_name": "DistributedToy",
        "docker_image": "toy:1",
        "command": ["toy", "--in", "{pipeline}", "--out", "{output_dir}", "-g", "{Metadata}"],
        "shared_fields": [
            {"name": "pipeline", "type": "s3_key"},
            {"name": "output", "type": "s3_prefix"},
            {"name": "data_file", "type": "s3_key", "required": False},
            {"name": "threads", "type": "integer", "required": False, "default": 1},
        ],
        "job_fields": [{"name": "Metadata", "type": "mapping"}],
        "input_fields": ["pipeline"],
        "output_prefix": "{output}/{Metadata|values}",
    }
    data.update(overrides)
    return ToolSpec.model_validate(data)


SHARED = {"pipeline": "pipes/a.cppipe", "output": "results/"}


def test_argv_is_one_argument_per_item_with_inputs_as_local_paths() -> None:
    spec = make_spec()
    values = spec.check_job(SHARED, {"Metadata": "Plate=P1,Well=A01"}, "groups[0]")
    argv = spec.argv(values, "abc", "/w", "/w/input", "/w/output")
    assert argv == ["toy", "--in", "/w/input/pipes/a.cppipe", "--out", "/w/output", "-g", "Plate=P1,Well=A01"]


def test_hostile_values_stay_single_literal_arguments() -> None:
    spec = make_spec(job_fields=[{"name": "name", "type": "string"}], command=["toy", "{name}"], output_prefix="o")
    for hostile in ["; rm -rf ~", "$(touch /tmp/pwned)", "a b 'c' \"d\"", "`id`"]:
        values = spec.check_job(SHARED, {"name": hostile}, "groups[0]")
        assert spec.argv(values, "id", "/w", "/w/i", "/w/o") == ["toy", hostile]


def test_conditional_arguments_follow_the_field_and_its_pattern() -> None:
    spec = make_spec(
        command=[
            "toy",
            {"when": "data_file", "matches": r"\.csv$", "args": ["--data-file={data_file}"]},
            {"when": "data_file", "matches": r"\.txt$", "args": ["--file-list={data_file}"]},
        ]
    )
    group = {"Metadata": "A=1"}
    argv = {}
    for data_file in ["x/load.csv", "x/files.txt", "x/batch.h5", None]:
        shared = {**SHARED, "data_file": data_file} if data_file else SHARED
        values = spec.check_job(shared, group, "groups[0]")
        argv[data_file] = spec.argv(values, "id", "/w", "/w/i", "/w/o")
    assert argv["x/load.csv"] == ["toy", "--data-file=x/load.csv"]
    assert argv["x/files.txt"] == ["toy", "--file-list=x/files.txt"]
    assert argv["x/batch.h5"] == argv[None] == ["toy"]


def test_filters_and_literal_braces() -> None:
    values = {"m": {"a": 1, "b": "x"}, "k": "dir/file.tar.gz"}
    assert render("{m|kv}", values) == "a=1,b=x"
    assert render("{m|pairs}", values) == "a='1', b='x'"
    assert render("{m|values}", values) == "1-x"
    assert render("{k|basename}", values) == "file.tar.gz"
    assert render("{k|stem}", values) == "file"
    assert render("{{not a field}}", values) == "{not a field}"


def test_output_prefix_from_mapping_values() -> None:
    spec = make_spec()
    values = spec.check_job(SHARED, {"Metadata": {"Plate": "P1", "Well": "B02"}}, "groups[0]")
    assert spec.output_key(values, "id") == "results/P1-B02"


@pytest.mark.parametrize("bad", ["../x", "a/../../b", "/etc/passwd", "a\\b", "s3://bucket/key", "a/\x00b", "./a"])
def test_unsafe_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        safe_key(bad)


def test_keys_are_normalised_and_cannot_escape_their_prefix() -> None:
    assert safe_key("a//b/") == "a/b/"
    assert join_key("results/", "sub/file.csv") == "results/sub/file.csv"
    with pytest.raises(ValueError):
        join_key("results", "../other/file")


def test_job_values_that_escape_the_output_prefix_are_refused() -> None:
    spec = make_spec(job_fields=[{"name": "Metadata", "type": "string"}], output_prefix="{output}/{Metadata}")
    with pytest.raises(JobError, match="output_prefix"):
        spec.check_job(SHARED, {"Metadata": "../../elsewhere"}, "groups[3]")


def test_type_coercion_and_problems_listed_together() -> None:
    spec = make_spec()
    values = spec.check_job({**SHARED, "threads": "4"}, {"Metadata": "A=1"}, "groups[0]")
    assert values["threads"] == 4 and values["data_file"] is None
    with pytest.raises(JobError) as bad:
        spec.check_job(
            {"pipeline": ["a", "list"], "threads": "four", "colour": "red"}, {"Metadata": "oops"}, "groups[2]"
        )
    fields = {(where, field) for where, field, _ in bad.value.problems}
    assert fields == {
        ("shared", "pipeline"),
        ("shared", "threads"),
        ("shared", "colour"),
        ("shared", "output"),
        ("groups[2]", "Metadata"),
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"command": ["toy", "{nope}"]}, "neither a declared field nor a built-in"),
        ({"command": ["toy", "{Metadata|upper}"]}, "unknown filter"),
        ({"command": ["toy", {"when": "nope", "args": ["x"]}]}, "names no declared field"),
        ({"input_fields": ["Metadata"]}, "must be a declared field of type s3_key"),
        ({"output_prefix": "{output_dir}/x"}, "cannot use the local folder"),
        ({"job_fields": [{"name": "pipeline"}]}, "declared twice"),
        ({"job_fields": [{"name": "job_id"}]}, "reserved"),
    ],
)
def test_inconsistent_specs_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_spec(**change)


def test_load_spec_names_the_file_and_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"tool_name": "x"}))
    with pytest.raises(SpecError) as bad:
        load_spec(path)
    assert str(path) in str(bad.value) and "command" in str(bad.value)
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "missing.json")


def test_required_file_is_rendered_per_job_and_kept_inside_outputs() -> None:
    spec = make_spec(
        output_prefix="{output}/{job_id}",
        done={"required_file": "{Metadata|values}.ome.zarr/.zattrs", "required_content": "plate"},
    )
    values = spec.check_job(SHARED, {"Metadata": "Plate=P1"}, "groups[0]")
    assert spec.required_file(values, "id") == "P1.ome.zarr/.zattrs"
    escaping = make_spec(output_prefix="{output}/{job_id}", done={"required_file": "{Metadata|values}/x"})
    with pytest.raises(JobError, match="required file"):
        escaping.check_job(SHARED, {"Metadata": "Plate=.."}, "groups[0]")
