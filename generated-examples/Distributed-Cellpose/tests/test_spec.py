"""The tool spec: placeholders, argv building, S3 key safety, job checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ds_runtime.job_values import check_job
from ds_runtime.keys import join_key, safe_key
from ds_runtime.placeholders import render
from ds_runtime.spec import Input, JobError, SpecError, ToolSpec, load_spec


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
    values = check_job(spec, SHARED, {"Metadata": "Plate=P1,Well=A01"}, "groups[0]")
    argv = spec.for_job(values, "abc").steps("/w", "/w/input", "/w/output")[0].argv
    assert argv == ["toy", "--in", "/w/input/pipes/a.cppipe", "--out", "/w/output", "-g", "Plate=P1,Well=A01"]


def test_hostile_values_stay_single_literal_arguments() -> None:
    spec = make_spec(job_fields=[{"name": "name", "type": "string"}], command=["toy", "{name}"], output_prefix="o")
    for hostile in ["; rm -rf ~", "$(touch /tmp/pwned)", "a b 'c' \"d\"", "`id`"]:
        values = check_job(spec, SHARED, {"name": hostile}, "groups[0]")
        assert spec.for_job(values, "id").steps("/w", "/w/i", "/w/o")[0].argv == ["toy", hostile]


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
        values = check_job(spec, shared, group, "groups[0]")
        argv[data_file] = spec.for_job(values, "id").steps("/w", "/w/i", "/w/o")[0].argv
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


def test_layout_filter_names_folders_from_a_mapping_as_dcp_output_structure_does() -> None:
    metadata = {"Metadata_Well": "A01", "Metadata_WellRow": "A", "Metadata_Plate": "P1"}
    values = {"m": metadata, "structure": "Metadata_Plate/Metadata_WellRow/Metadata_Well", "empty": ""}
    # The longer key is replaced first, so Metadata_WellRow is not read as Metadata_Well + "Row".
    assert render("{m|layout:structure}", values) == "P1/A/A01"
    assert render("{m|layout:empty}", values) == "A01-A-P1"  # no structure: the values joined by -
    spec = make_spec(
        shared_fields=[*make_spec().shared_fields, {"name": "layout", "required": False, "default": ""}],
        output_prefix="{output}/{Metadata|layout:layout}",
    )
    values = check_job(spec, {**SHARED, "layout": "Plate/Well"}, {"Metadata": "Plate=P1,Well=B02"}, "groups[0]")
    assert spec.for_job(values, "id").output_key() == "results/P1/B02"
    with pytest.raises(JobError, match=r"'\.\.' segment"):
        check_job(spec, {**SHARED, "layout": "../Plate"}, {"Metadata": "Plate=P1"}, "groups[0]")


def test_output_prefix_from_mapping_values() -> None:
    spec = make_spec()
    values = check_job(spec, SHARED, {"Metadata": {"Plate": "P1", "Well": "B02"}}, "groups[0]")
    assert spec.for_job(values, "id").output_key() == "results/P1-B02"


@pytest.mark.parametrize("bad", ["../x", "a/../../b", "/etc/passwd", "a\\b", "s3://bucket/key", "a/\x00b", "./a"])
def test_unsafe_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        safe_key(bad)


def test_a_key_with_an_empty_part_is_refused_never_read_as_another_key() -> None:
    # S3 keeps in//a.txt apart from in/a.txt: reading one for the other would be a wrong input, silently.
    for doubled in ("in//a.txt", "a//b/", "a/b//"):
        with pytest.raises(ValueError, match="empty part"):
            safe_key(doubled)
    assert safe_key("a/b/") == "a/b/" and safe_key("") == ""


def test_keys_cannot_escape_their_prefix() -> None:
    assert join_key("results/", "sub/file.csv") == "results/sub/file.csv"
    with pytest.raises(ValueError):
        join_key("results", "../other/file")


def test_job_values_that_escape_the_output_prefix_are_refused() -> None:
    spec = make_spec(job_fields=[{"name": "Metadata", "type": "string"}], output_prefix="{output}/{Metadata}")
    with pytest.raises(JobError, match="output_prefix"):
        check_job(spec, SHARED, {"Metadata": "../../elsewhere"}, "groups[3]")


def test_type_coercion_and_problems_listed_together() -> None:
    spec = make_spec()
    values = check_job(spec, {**SHARED, "threads": "4"}, {"Metadata": "A=1"}, "groups[0]")
    assert values["threads"] == 4 and values["data_file"] is None
    with pytest.raises(JobError) as bad:
        check_job(
            spec, {"pipeline": ["a", "list"], "threads": "four", "colour": "red"}, {"Metadata": "oops"}, "groups[2]"
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
        ({"job_fields": [{"name": "Metadata", "type": "mapping", "aliases": ["pipeline"]}]}, "declared twice"),
        ({"job_fields": [{"name": "Metadata", "type": "mapping", "aliases": ["a b"]}]}, "alias 'a b'"),
        ({"job_fields": [{"name": "job_id"}]}, "reserved"),
        ({"command": ["toy", "{config.NOPE}"]}, "NOPE is not a config key"),
        ({"command": ["toy", {"when": "config.NOPE", "args": ["x"]}]}, "NOPE is not a config key"),
        ({"command": ["toy", {"split": "{nope}"}]}, "neither a declared field nor a built-in"),
        ({"command": ["toy", {"split": "{Metadata}", "when": "Metadata"}]}, "command"),
        ({"command": ["toy", {"when": "data_file", "args": [{"split": 3}]}]}, "command"),
        ({"output_prefix": "{output}/{config.AWS_BUCKET}"}, "config keys may appear only in the command"),
        ({"done": {"required_file": "{config.AWS_BUCKET}.txt"}}, "config keys may appear only in the command"),
        ({"input_fields": ["{output_dir}/x"]}, "cannot use the local folder"),
        ({"input_fields": ["{job_id}/x"]}, "built from job fields only"),
        ({"input_fields": ["{config.AWS_BUCKET}/x"]}, "config keys may appear only in the command"),
        ({"input_fields": ["../{Metadata|values}/"]}, "'.' or '..' segment"),
        ({"input_fields": ["/{Metadata|values}/"]}, "absolute"),
        ({"input_fields": ["{Metadata|upper}/"]}, "unknown filter"),
        ({"done": {"min_files": "config.NOPE"}}, "min_files"),
        ({"done": {"min_files": "lots"}}, "min_files"),
        ({"done": {"min_files": -1}}, "0 or more"),
        ({"config_keys": ["lower"]}, "UPPER_CASE"),
        ({"output_prefix": "{output}/{Metadata|layout}"}, "needs a field"),
        ({"output_prefix": "{output}/{Metadata|layout:nope}"}, "not a declared field"),
        ({"output_prefix": "{output}/{Metadata|values:output}"}, "unknown filter"),
        ({"input_fields": [{"key": "pipeline", "lists_files": {"path_root": "rel"}}]}, "absolute folder"),
        ({"input_fields": [{"key": "output", "lists_files": {"path_root": "/r"}}]}, "not a prefix"),
        (
            {"input_fields": [{"key": "pipeline", "lists_files": {"path_root": "/r", "rows_matching": "pipeline"}}]},
            "mapping",
        ),
        (
            {"input_fields": [{"key": "pipeline", "lists_files": {"path_root": "/r", "bucket": "config.NOPE"}}]},
            "lists_files.bucket",
        ),
        ({"output_exclude": ["../x"]}, "inside the output folder"),
        ({"output_exclude": ["/abs"]}, "inside the output folder"),
        ({"done": {"content_match": "last_line"}}, "content_match"),
        # startup steps: the same rules as copier.yml's `startup` validator (tests/test_answer_validation.py)
        ({"startup": {"run": ["x"]}}, "startup"),
        ({"startup": [{"into": "/x"}]}, "a startup step is {fetch: URL, into: /folder} or {run:"),
        ({"startup": [{"fetch": "https://h.test/a.py"}]}, "into"),
        ({"startup": [{"fetch": "ftp://h.test/a.py", "into": "/x"}]}, "must be an http://, https:// or s3:// URL"),
        ({"startup": [{"fetch": "https://h.test/a.py", "into": "x/y"}]}, "must be an absolute folder"),
        ({"startup": [{"run": ["x"], "cwd": "rel"}]}, "must be an absolute folder"),
        ({"startup": [{"run": []}]}, "at least 1 item"),
        ({"startup": [{"run": ["x", 3]}]}, "startup"),
        ({"startup": [{"run": ["x"], "timeout": 3}]}, "Extra inputs are not permitted"),
        ({"startup": [{"run": ["x"], "when": "Metadata"}]}, "may test config.NAME only"),
        ({"startup": [{"run": ["x"], "when": "config.NOPE"}]}, "NOPE is not a config key"),
        ({"startup": [{"run": ["x"], "matches": "y"}]}, "matches needs when"),
        ({"startup": [{"run": ["x"], "when": "config.AWS_BUCKET", "matches": "("}]}, "not a valid regular expression"),
        ({"startup": [{"run": ["x", "{Metadata}"]}]}, "may use {config.NAME} only"),
        ({"startup": [{"run": ["x", "{output_dir}"]}]}, "may use {config.NAME} only"),
        ({"startup": [{"run": ["x", {"split": "{config.NOPE}"}]}]}, "NOPE is not a config key"),
        ({"startup": [{"run": ["x"], "cwd": "{config.AWS_BUCKET|upper}"}]}, "unknown filter"),
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


def test_every_broken_rule_is_reported_at_once_one_line_each(tmp_path: Path) -> None:
    """A spec is fixed in one pass: load_spec lists each problem of every rule, where it is and the fix."""
    data = make_spec().model_dump()
    data.update(
        command=["toy", "{nope}", "{Metadata|upper}", "{config.NOPE}"],
        output_prefix="{output_dir}/x",
        input_fields=["Metadata"],
        config_keys=["lower"],
        output_exclude=["../x"],
        startup=[{"run": ["x"], "when": "Metadata"}, {"fetch": "ftp://h.test/a", "into": "rel"}],
    )
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SpecError) as bad:
        load_spec(path)
    lines = str(bad.value).splitlines()
    assert lines[0] == f"{path}: invalid tool spec:"
    assert [line.strip() for line in lines[1:]] == [
        "config_keys: lower must be UPPER_CASE names",
        "command[1] uses {nope}, which is neither a declared field nor a built-in",
        "command[2]: unknown filter |upper; known: kv, pairs, values, basename, stem, layout:<field>",
        "command[3] uses {config.NOPE}, but NOPE is not a config key of this tool; add it to config_keys",
        "output_prefix cannot use the local folder {output_dir}; it is relative to outputs",
        "input_fields[0]: input field 'Metadata' must be a declared field of type s3_key or s3_prefix,"
        " or a key template such as {prefix_field}/{name_field}/",
        "output_exclude[0] '../x': give a pattern inside the output folder, e.g. *.tmp",
        "startup[0]: 'when: Metadata': a startup step runs before any job, so it may test config.NAME only",
        "startup[1]: fetch 'ftp://h.test/a' must be an http://, https:// or s3:// URL, or {config.NAME} holding one",
        "startup[1]: into 'rel' must be an absolute folder, e.g. /opt/tool/scripts or {config.TOOL_DIR}/x",
    ]


def test_required_file_is_rendered_per_job_and_kept_inside_outputs() -> None:
    spec = make_spec(
        output_prefix="{output}/{job_id}",
        done={"required_file": "{Metadata|values}.ome.zarr/.zattrs", "required_content": "plate"},
    )
    values = check_job(spec, SHARED, {"Metadata": "Plate=P1"}, "groups[0]")
    assert spec.for_job(values, "id").required_file() == "P1.ome.zarr/.zattrs"
    escaping = make_spec(output_prefix="{output}/{job_id}", done={"required_file": "{Metadata|values}/x"})
    with pytest.raises(JobError, match="required file"):
        check_job(escaping, SHARED, {"Metadata": "Plate=.."}, "groups[0]")


# ---------------------------------------------------------------- config keys, split, input templates


def test_config_keys_fill_placeholders_and_conditions() -> None:
    spec = make_spec(
        config_keys=["TOOL_HOME", "VERBOSE", "SCRIPT_URL"],
        command=[
            "{config.TOOL_HOME}/bin/toy",
            "{config.SCRIPT_URL|basename}",
            {"when": "config.VERBOSE", "matches": "(?i)^true$", "args": ["--verbose"]},
            {"when": "config.EXPECTED_NUMBER_FILES", "args": ["--expect={config.EXPECTED_NUMBER_FILES}"]},
        ],
    )
    values = check_job(spec, SHARED, {"Metadata": "A=1"}, "groups[0]")  # config unknown: counts as empty
    config = {
        "TOOL_HOME": "/opt/toy",
        "VERBOSE": "True",
        "SCRIPT_URL": "https://x.test/s/run.py",
        "EXPECTED_NUMBER_FILES": "3",
    }
    assert spec.for_job(values, "id", config).steps("/w", "/w/i", "/w/o")[0].argv == [
        "/opt/toy/bin/toy",
        "run.py",
        "--verbose",
        "--expect=3",
    ]
    quiet = {**config, "VERBOSE": "false", "EXPECTED_NUMBER_FILES": ""}
    assert spec.for_job(values, "id", quiet).steps("/w", "/w/i", "/w/o")[0].argv == ["/opt/toy/bin/toy", "run.py"]
    assert spec.for_job(values, "id", None).steps("/w", "/w/i", "/w/o")[0].argv == ["/bin/toy", ""]
    with pytest.raises(ValueError, match="TOOL_HOME is not in the worker's environment"):
        spec.for_job(values, "id", {"VERBOSE": "True"}).steps("/w", "/w/i", "/w/o")


def test_split_items_become_words_never_shell_syntax() -> None:
    spec = make_spec(
        shared_fields=[
            *make_spec().shared_fields,
            {"name": "flags", "type": "string", "required": False, "default": ""},
        ],
        command=["toy", {"split": "{flags}"}, {"when": "flags", "args": ["--then", {"split": "x {flags}"}]}],
    )
    argv = {}
    for flags in ["", "--a 1 --name 'two words' \"q\"", "$(touch /tmp/pwned); `id` | cat *"]:
        values = check_job(spec, {**SHARED, "flags": flags}, {"Metadata": "A=1"}, "groups[0]")
        argv[flags] = spec.for_job(values, "id").steps("/w", "/w/i", "/w/o")[0].argv
    assert argv[""] == ["toy"]
    assert argv["--a 1 --name 'two words' \"q\""][:6] == ["toy", "--a", "1", "--name", "two words", "q"]
    assert argv["$(touch /tmp/pwned); `id` | cat *"] == [
        "toy", "$(touch", "/tmp/pwned);", "`id`", "|", "cat", "*",
        "--then", "x", "$(touch", "/tmp/pwned);", "`id`", "|", "cat", "*",
    ]  # fmt: skip
    with pytest.raises(JobError, match="cannot split"):  # refused before it is sent
        check_job(spec, {**SHARED, "flags": "--name 'unclosed"}, {"Metadata": "A=1"}, "groups[0]")


def test_input_templates_are_keys_from_fields_and_stay_inside_the_bucket() -> None:
    spec = make_spec(
        shared_fields=[
            {"name": "input_location", "type": "s3_prefix"},
            {"name": "path_to_metadata", "type": "string"},
            {"name": "suffix", "type": "string", "required": False},
        ],
        job_fields=[{"name": "plate", "type": "string"}],
        command=["b2r", "{input_dir}/{input_location}/{plate}/{path_to_metadata}", "{output_dir}/{plate}.zarr"],
        input_fields=["{input_location}/{plate}/", "{input_location}/{plate}.{suffix}"],
        output_prefix="out",
    )
    shared = {"input_location": "images/batch1/", "path_to_metadata": "Images/Index.xml"}
    values = check_job(spec, shared, {"plate": "P1"}, "plates[0]")
    job = spec.for_job(values, "id")
    assert job.inputs() == [Input("images/batch1/P1/", True, "")]  # the unset {suffix} skips its entry
    assert spec.for_job({**values, "suffix": "csv"}, "id").inputs()[1] == Input("images/batch1/P1.csv", False, "")
    argv = job.steps("/w", "/w/input", "/w/output")[0].argv
    assert argv == ["b2r", "/w/input/images/batch1/P1/Images/Index.xml", "/w/output/P1.zarr"]
    for bad in ["..", "../../etc", "a/../../b"]:
        with pytest.raises(JobError, match="input_fields"):
            check_job(spec, shared, {"plate": bad}, "plates[1]")


def test_a_prefix_reads_as_a_folder_without_its_trailing_slash() -> None:
    spec = make_spec(command=["toy", "{output}/x", "{output}"], output_prefix="{output}/{job_id}")
    values = check_job(spec, {**SHARED, "output": "results/run1/"}, {"Metadata": "A=1"}, "groups[0]")
    assert spec.for_job(values, "id").steps("/w", "/w/i", "/w/o")[0].argv == ["toy", "results/run1/x", "results/run1"]
    assert spec.for_job(values, "id").output_key() == "results/run1/id"


def test_false_means_unset_for_optional_fields_as_in_ds_job_files() -> None:
    spec = make_spec(
        shared_fields=[
            *make_spec().shared_fields,
            {"name": "tile", "type": "integer", "required": False},
            {"name": "flag", "type": "boolean", "required": False},
        ],
        command=["toy", {"when": "tile", "args": ["--tile", "{tile}"]}],
    )
    values = check_job(spec, {**SHARED, "tile": False, "flag": False}, {"Metadata": "A=1"}, "groups[0]")
    assert values["tile"] is None and values["flag"] is False
    assert spec.for_job(values, "id").steps("/w", "/w/i", "/w/o")[0].argv == ["toy"]
    with pytest.raises(JobError, match="pipeline"):  # a required field is still required
        check_job(spec, {**SHARED, "pipeline": False}, {"Metadata": "A=1"}, "groups[0]")


def test_min_files_may_come_from_config() -> None:
    spec = make_spec(done={"min_files": "config.EXPECTED_NUMBER_FILES"})
    assert spec.for_job({}, "id", {"EXPECTED_NUMBER_FILES": "4"}).min_files() == 4
    assert make_spec(done={"min_files": 2}).for_job({}, "id", {}).min_files() == 2
    with pytest.raises(ValueError, match="not a whole number"):
        spec.for_job({}, "id", {"EXPECTED_NUMBER_FILES": "four"}).min_files()


def test_mapping_filters_on_text_are_refused_at_submit() -> None:
    spec = make_spec(command=["toy", "{pipeline|pairs}"])
    with pytest.raises(JobError, match="command"):
        check_job(spec, SHARED, {"Metadata": "A=1"}, "groups[0]")


def test_ds_keys_a_command_may_read_reach_the_worker() -> None:
    from ds_runtime.spec import DS_WORKER_CONFIG_KEYS
    from ds_runtime.worker.context import tool_config
    from ds_runtime.worker_settings import ENV_NAMES

    assert set(DS_WORKER_CONFIG_KEYS) <= set(ENV_NAMES.values())
    spec = make_spec(config_keys=["MINE"])
    env = {"MINE": "1", "EXPECTED_NUMBER_FILES": "2", "PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "no"}
    assert tool_config(spec, env) == {"EXPECTED_NUMBER_FILES": "2", "MINE": "1"}


def test_a_field_may_be_given_under_an_alias_but_not_twice() -> None:
    shared = [*make_spec().shared_fields, {"name": "min_size", "type": "integer", "aliases": ["min-size"]}]
    spec = make_spec(shared_fields=shared)
    values = check_job(spec, {**SHARED, "min-size": "64"}, {"Metadata": "A=1"}, "groups[0]")
    assert values["min_size"] == 64 and "min-size" not in values
    assert check_job(spec, {**SHARED, "min_size": 8}, {"Metadata": "A=1"}, "groups[0]")["min_size"] == 8
    with pytest.raises(JobError, match="given twice, as min_size and min-size"):
        check_job(spec, {**SHARED, "min_size": 8, "min-size": 9}, {"Metadata": "A=1"}, "groups[0]")
    with pytest.raises(JobError) as bad:
        check_job(spec, {**SHARED, "min-size": "big"}, {"Metadata": "A=1"}, "groups[0]")
    assert bad.value.problems == [("shared", "min-size", "expected a whole number, got 'big'")]


def test_own_output_folder_narrows_where_a_job_counts_as_already_done() -> None:
    spec = make_spec(output_prefix="{output}", own_output_folder="{Metadata|values}.zarr")
    values = check_job(spec, SHARED, {"Metadata": "Plate=P1"}, "groups[0]")
    assert spec.for_job(values, "id").output_key() == "results"  # every job writes here...
    assert spec.for_job(values, "id").own_output_key() == "results/P1.zarr"  # ...but only this one here
    assert make_spec().for_job(values, "id").own_output_key() == "results/P1"  # unset: the output prefix itself
    with pytest.raises(JobError, match="own_output_folder"):
        check_job(spec, SHARED, {"Metadata": "Plate=../x"}, "groups[0]")
    with pytest.raises(ValueError, match="cannot use the local folder"):
        make_spec(own_output_folder="{output_dir}")


# ---------------------------------------------------------------- commands of several steps

SAMPLE = {"job_fields": [{"name": "sample"}], "output_prefix": "{output}/{sample}"}


def test_a_command_of_steps_gives_each_program_its_argv_and_stdout_file_in_the_job_folder() -> None:
    spec = make_spec(
        **SAMPLE,
        command={
            "steps": [
                {"run": ["samtools", "sort", "-o", "{work_dir}/{sample}.bam", "{pipeline}"]},
                {"run": ["samtools", "index", "{work_dir}/{sample}.bam"]},
                {"run": ["samtools", "flagstat", "{work_dir}/{sample}.bam"], "stdout": "{output_dir}/{sample}.txt"},
                {"run": ["wc", "-l", "{output_dir}/{sample}.txt"], "stdout": "counts/{sample}.txt"},
            ]
        },
    )
    values = check_job(spec, SHARED, {"sample": "s1"}, "groups[0]")
    steps = spec.for_job(values, "id").steps("/w", "/w/input", "/w/output")
    assert [(step.argv, step.stdout) for step in steps] == [
        (["samtools", "sort", "-o", "/w/s1.bam", "/w/input/pipes/a.cppipe"], ""),
        (["samtools", "index", "/w/s1.bam"], ""),
        (["samtools", "flagstat", "/w/s1.bam"], "/w/output/s1.txt"),
        (["wc", "-l", "/w/output/s1.txt"], "/w/counts/s1.txt"),  # relative: to the job's folder
    ]


def test_a_single_command_is_one_step_whose_output_goes_to_the_log() -> None:
    spec = make_spec()
    values = check_job(spec, SHARED, {"Metadata": "A=1"}, "groups[0]")
    (step,) = spec.for_job(values, "id").steps("/w", "/w/i", "/w/o")
    assert step.stdout == "" and step.argv[0] == "toy"


@pytest.mark.parametrize("stdout", ["/tmp/x.txt", "../x.txt", "{output_dir}/../../x", "{output_dir}", "out/", ""])
def test_a_steps_stdout_outside_the_job_folder_is_refused_in_the_spec(stdout: str) -> None:
    command = {"steps": [{"run": ["toy"], "stdout": stdout}]}
    if not stdout:  # no stdout: the job's log
        make_spec(**SAMPLE, command=command)
        return
    with pytest.raises(ValueError, match=r"command.steps\[0\].stdout .* must name a file in the job's folders"):
        make_spec(**SAMPLE, command=command)


@pytest.mark.parametrize("sample", ["../../../etc/x", "/etc/x"])
def test_a_value_taking_a_steps_stdout_out_of_the_job_folder_is_refused_at_submit(sample: str) -> None:
    spec = make_spec(
        job_fields=[{"name": "sample"}],
        output_prefix="{output}/x",
        command={
            "steps": [{"run": ["toy"], "stdout": "{output_dir}/{sample}.txt"}, {"run": ["x"], "stdout": "{sample}"}]
        },
    )
    with pytest.raises(JobError, match=r"command.steps\[\d\].stdout .* is outside the job's folder"):
        check_job(spec, SHARED, {"sample": sample}, "groups[0]")
    values = check_job(spec, SHARED, {"sample": "a/../b/c"}, "groups[0]")
    steps = spec.for_job(values, "id").steps("/w", "/w/o", "/w/o")
    assert [step.stdout for step in steps] == ["/w/o/b/c.txt", "/w/b/c"]


def test_the_places_of_a_steps_problems_read_as_the_spec_is_written(tmp_path: Path) -> None:
    data = make_spec().model_dump()
    data["command"] = {"steps": [{"run": ["toy", "{nope}"]}, {"run": ["toy", 3]}, {"run": ["x"], "to": "y"}]}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SpecError) as bad:
        load_spec(path)
    lines = [line.strip() for line in str(bad.value).splitlines()[1:]]
    assert lines[0].startswith("command.steps.1.run.1: a command item is text")
    assert lines[1] == "command.steps.2.to: Extra inputs are not permitted"
    data["command"] = {"steps": [{"run": ["toy", "{nope}"]}]}
    path.write_text(json.dumps(data))
    with pytest.raises(SpecError, match=r"command.steps\[0\].run\[1\] uses \{nope\}, which is neither"):
        load_spec(path)
    data["command"] = "toy {Metadata}"
    path.write_text(json.dumps(data))
    with pytest.raises(SpecError, match=r"command: the command is a list of arguments, or \{steps: "):
        load_spec(path)


# ---------------------------------------------------------------- values inside scripts


@pytest.mark.parametrize(
    ("command", "where", "runs"),
    [
        (["sh", "-c", "echo {sample}"], "command[2]", "sh -c"),
        (["bash", "-c", "samtools view {sample} | head"], "command[2]", "bash -c"),
        (["/bin/bash", "-euo", "pipefail", "-c", "x {sample}"], "command[4]", "bash -c"),
        (["env", "LC_ALL=C", "dash", "-ec", "x {output_dir}"], "command[4]", "dash -c"),
        (["zsh", "-c", "x {config.AWS_BUCKET}"], "command[2]", "zsh -c"),
        (["python3", "-c", "print('{sample}')"], "command[2]", "python3 -c"),
        (["/usr/bin/python3.11", "-u", "-c", "print({sample})"], "command[3]", "python3.11 -c"),
        (["python", "-cprint({sample})"], "command[1]", "python -c"),
        (["perl", "-lne", "print if /{sample}/"], "command[2]", "perl -e"),
        (["Rscript", "--vanilla", "-e", "f('{sample}')"], "command[3]", "Rscript -e"),
        (["node", "-e", "run('{sample}')"], "command[2]", "node -e"),
        (["node", "--eval={sample}"], "command[1]", "node --eval"),
        (["toy", {"split": "sh -c 'echo {sample}'"}], "command[1].split", "sh -c"),
        (["toy", {"when": "sample", "args": ["bash", "-c", "x {sample}"]}], "command[1].args[2]", "bash -c"),
        ({"steps": [{"run": ["toy"]}, {"run": ["sh", "-c", "x {sample}"]}]}, "command.steps[1].run[2]", "sh -c"),
    ],
)
def test_a_placeholder_inside_a_shells_or_interpreters_script_is_refused_naming_the_fix(
    command: list | dict, where: str, runs: str
) -> None:
    """`sh -c 'echo {sample}'` with a sample named `x;touch INJECTED;echo` would run touch."""
    with pytest.raises(ValueError) as refused:
        make_spec(**SAMPLE, command=command)
    message = str(refused.value)
    assert f"{where}: the script that {runs} runs holds {{" in message
    assert "as an argument after the script" in message and "command: {steps: [{run: [...]}, ...]}" in message


def test_the_refusal_shows_the_positional_form_for_the_program_and_value_at_hand() -> None:
    with pytest.raises(ValueError, match=r"\(bash -c '\.\.\. \"\$1\"' bash \{sample\}\)"):
        make_spec(**SAMPLE, command=["bash", "-c", "echo {sample}"])
    with pytest.raises(ValueError, match=r"python3 -c 'import sys; \.\.\. sys\.argv\[1\]' \{sample\}"):
        make_spec(**SAMPLE, command=["python3", "-c", "print({sample})"])


@pytest.mark.parametrize(
    "command",
    [
        ["sh", "-c", 'samtools flagstat "$1" > "$2"', "sh", "{sample}", "{output_dir}/{sample}.txt"],
        ["bash", "-o", "pipefail", "-c", 'x "$1"', "bash", "{sample}"],
        ["python3", "-c", "import sys; print(sys.argv[1])", "{sample}"],
        ["python3", "/opt/tool.py", "-c", "{sample}"],  # the script's own -c: a value, not code
        ["python3", "-m", "tool", "-c", "{sample}"],
        ["bash", "/opt/run.sh", "-c", "{sample}"],
        ["perl", "-e", "print $ARGV[0]", "{sample}"],
        ["toy", "-c", "{sample}"],  # any other program's -c is its own business
        ["sh", "-c", "echo {{not a placeholder}}", "sh"],
    ],
)
def test_values_passed_as_arguments_after_a_script_are_accepted(command: list) -> None:
    make_spec(**SAMPLE, command=command)
