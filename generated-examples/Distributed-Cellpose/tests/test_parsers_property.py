"""Every parser of user input, fed what hypothesis makes up: nothing but its documented error escapes.

Job files and Fleet files (any bytes, any JSON), CSV sources (makeJobs' and the worker's), template
strings and their placeholders, S3 keys, upload flags. A parser either returns what it promises or
raises the one error its callers turn into a message naming the file and the fix: never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ds_runtime.control.commands.job_sources import listing_rows, loaddata_rows, table_rows
from ds_runtime.control.machines.fleet_file import FleetFileError, load_fleet_file
from ds_runtime.jobs import JobFileError, jobs_from_data, read_job_file
from ds_runtime.keys import S3_MAX_KEY_BYTES, join_key, safe_key
from ds_runtime.placeholders import placeholders, render
from ds_runtime.spec import ToolSpec
from ds_runtime.upload_flags import UploadFlagsError, parse_upload_flags
from ds_runtime.worker.listing import Listing, ListingError, stage_listing

from ._control_support import SPEC

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Tools of each shape the examples have: plain fields (the test tool), DCP's metadata mapping matched
# against a LoadData CSV and laid out into folders, the demo's key and number fields.
TOOLS = [
    ToolSpec.model_validate(SPEC),
    ToolSpec.model_validate(
        {
            **SPEC,
            "shared_fields": [
                {"name": "output", "type": "s3_prefix"},
                {"name": "data_file", "type": "s3_key", "required": False},
                {"name": "output_structure", "type": "string", "required": False, "default": ""},
            ],
            "job_fields": [{"name": "Metadata", "type": "mapping"}],
            "command": ["cp", "-g", "{Metadata}", "-o", "{output_dir}"],
            "input_fields": [
                {"key": "data_file", "lists_files": {"path_root": "/home/ubuntu/bucket", "rows_matching": "Metadata"}}
            ],
            "output_prefix": "{output}/{Metadata|layout:output_structure}",
        }
    ),
    ToolSpec.model_validate(
        {
            **SPEC,
            "shared_fields": [
                {"name": "output", "type": "s3_prefix"},
                {"name": "min_area", "type": "integer", "required": False, "default": 20},
                {"name": "ratio", "type": "number", "required": False},
                {"name": "fast", "type": "boolean", "required": False, "default": False},
            ],
            "job_fields": [{"name": "image", "type": "s3_key"}, {"name": "method", "type": "string"}],
            "command": ["count", "{image}", "{output_dir}", "--min-area", "{min_area}", "{image|stem}"],
            "input_fields": ["image"],
            "output_prefix": "{output}/{image|stem}/{method}",
        }
    ),
    # Steps whose stdout files are named by a job's value: one the values may take anywhere.
    ToolSpec.model_validate(
        {
            **SPEC,
            "command": {
                "steps": [
                    {"run": ["sort", "{sample}"], "stdout": "{work_dir}/{sample}.sorted"},
                    {"run": ["sh", "-c", 'wc -l "$1"', "sh", "{sample}"], "stdout": "{output_dir}/{sample}/n.txt"},
                ]
            },
        }
    ),
]

text = st.text(max_size=40)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | text
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4)
)
field_names = st.sampled_from(
    ["input", "output", "sample", "Metadata", "data_file", "output_structure", "image", "method", "min_area", "ratio"]
)
# Job files shaped like real ones (a list of groups, shared keys of the fields) with any values in them.
job_values = scalars | st.dictionaries(text, scalars, max_size=3) | st.lists(scalars, max_size=2)
job_files = (
    st.fixed_dictionaries(
        {"groups": st.lists(st.dictionaries(field_names, job_values, max_size=4) | job_values, max_size=4)},
        optional={"output": job_values, "input": job_values, "_comment": text},
    )
    | json_values
    # Near misses of each tool's Job files: every field there, with any text in it (keys, filters, layouts).
    | st.fixed_dictionaries(
        {"input": text, "output": text, "groups": st.lists(st.fixed_dictionaries({"sample": text}), min_size=1)}
    )
    | st.fixed_dictionaries(
        {"output": text, "data_file": text, "output_structure": text},
        optional={"groups": st.lists(st.fixed_dictionaries({"Metadata": st.dictionaries(text, text) | text}))},
    )
    | st.fixed_dictionaries(
        {"output": text, "min_area": job_values, "ratio": job_values, "fast": job_values},
        optional={"groups": st.lists(st.fixed_dictionaries({"image": text, "method": text}))},
    )
)


def _file(data: bytes, suffix: str = ".json") -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)  # noqa: SIM115 - the caller reads it
    handle.write(data)
    handle.close()
    return Path(handle.name)


@SETTINGS
@given(data=job_files, tool=st.sampled_from(TOOLS))
def test_any_job_file_data_gives_jobs_or_a_job_file_error(data: Any, tool: ToolSpec) -> None:
    try:
        jobs = jobs_from_data(data, tool)
    except JobFileError:
        return
    for job in jobs:  # a job that passed builds everything the worker builds
        view = tool.for_job(job.values, job.job_id)
        steps = view.steps("/w", "/w/input", "/w/output")
        assert all(step.stdout.startswith("/w/") for step in steps if step.stdout)  # never out of the job's folder
        assert safe_key(view.output_key()) == view.output_key()


@SETTINGS
@given(raw=st.binary(max_size=300) | job_files.map(lambda d: json.dumps(d).encode()))
@example(raw=b'{"groups": [{"sample": "a"}], "groups": [{"sample": "b"}]}')
@example(raw=b"[" * 5000 + b"]" * 5000)
@example(raw='{"groups": [{"sample": "\xe9"}]}'.encode("latin-1"))
def test_any_job_file_gives_jobs_or_a_job_file_error(raw: bytes) -> None:
    path = _file(raw)
    try:
        read_job_file(path, TOOLS[0])
    except JobFileError as exc:
        assert str(path) in str(exc)
    finally:
        path.unlink()


@SETTINGS
@given(
    data=json_values | st.fixed_dictionaries({}, optional={"IamFleetRole": text, "LaunchSpecifications": json_values})
)
@example(data={"IamFleetRole": "arn:x", "LaunchSpecifications": [{"ImageId": "ami-1", "NetworkInterfaces": 3}]})
@example(data={"IamFleetRole": "arn:x", "LaunchSpecifications": [{"ImageId": "ami-1", "NetworkInterfaces": [1]}]})
def test_any_fleet_file_loads_or_gives_a_fleet_file_error(data: Any) -> None:
    path = _file(json.dumps(data).encode())
    try:
        assert isinstance(load_fleet_file(path), dict)
    except FleetFileError as exc:
        assert str(path) in str(exc)
    finally:
        path.unlink()


csv_text = st.text(alphabet=st.sampled_from(list('ab,\t"\n\r\x00 é1_M')), max_size=200)
csv_bytes = csv_text.map(str.encode) | st.binary(max_size=200)


@SETTINGS
@given(raw=csv_bytes, suffix=st.sampled_from([".csv", ".tsv"]))
def test_any_csv_source_gives_rows_or_a_job_file_error(raw: bytes, suffix: str) -> None:
    path = _file(raw, suffix)
    try:
        for read in (lambda: table_rows(path), lambda: loaddata_rows(path, ["a"])):
            with contextlib.suppress(JobFileError):
                read()
    finally:
        path.unlink()


@SETTINGS
@given(raw=csv_bytes, wanted=st.dictionaries(st.sampled_from(["a", "b", "Metadata_a"]), scalars, max_size=2))
def test_any_input_list_is_staged_or_refused_with_a_listing_error(raw: bytes, wanted: dict[str, Any]) -> None:
    for suffix in (".csv", ".txt"):
        path = _file(raw, suffix)
        try:
            with contextlib.suppress(ListingError):
                stage_listing(path, Listing("/home/ubuntu/bucket", "/job/input"), wanted)
        finally:
            path.unlink()


@SETTINGS
@given(
    keys=st.lists(text, max_size=5),
    prefix=text,
    pattern=st.text(alphabet=st.sampled_from(list("{}ab*/._ ")), max_size=20),
    group_by=st.none() | st.lists(st.sampled_from(["a", "b", "key"]), max_size=2),
    with_key=st.booleans(),
)
def test_any_listing_pattern_gives_rows_or_a_job_file_error(
    keys: list[str], prefix: str, pattern: str, group_by: list[str] | None, with_key: bool
) -> None:
    with contextlib.suppress(JobFileError):
        listing_rows([(k, k) for k in keys], prefix, pattern, group_by, with_key)


@SETTINGS
@given(template=text, values=st.dictionaries(st.sampled_from(["a", "b", "m"]), job_values, max_size=3))
def test_placeholders_are_found_in_any_template_and_render_refuses_with_value_errors(
    template: str, values: dict[str, Any]
) -> None:
    found = placeholders(template)
    assert all(isinstance(name, str) for name, _ in found)
    # A value a filter refuses, a name not given, a mapping expected: what the spec and job checks report.
    with contextlib.suppress(ValueError, KeyError, TypeError):
        render(template, values)


@SETTINGS
@given(template=text)
def test_a_spec_with_any_template_loads_or_is_refused_as_a_spec(template: str) -> None:
    from pydantic import ValidationError

    with contextlib.suppress(ValidationError):
        ToolSpec.model_validate({**SPEC, "command": ["x", template], "output_prefix": template or "out"})


@SETTINGS
@given(key=text | st.text(alphabet=st.sampled_from(list("ab/.\\\x00")), max_size=12))
@example(key="in//a.txt")
def test_any_key_is_safe_or_refused_with_a_value_error(key: str) -> None:
    try:
        safe = safe_key(key)
    except ValueError:
        return
    parts = safe.rstrip("/").split("/")
    assert not safe.startswith("/") and ".." not in parts and "." not in parts
    assert "" not in parts or safe == "", safe
    assert len(safe.encode()) <= S3_MAX_KEY_BYTES
    try:
        joined = join_key("results/run", key)
    except ValueError:
        return
    assert joined.startswith("results/run/")


@SETTINGS
@given(
    flags=text
    | st.lists(st.sampled_from(["--acl", "--sse", "private", "'", '"', "--storage-class", "x"])).map(" ".join)
)
def test_any_upload_flags_parse_or_give_an_upload_flags_error(flags: str) -> None:
    with contextlib.suppress(UploadFlagsError):
        parse_upload_flags(flags)


def test_hypothesis_is_what_runs_these(pytestconfig: pytest.Config) -> None:
    """These tests need hypothesis (the `test` extra, requirements-dev.txt): a missing one is an import error."""
    import hypothesis

    assert hypothesis.__version__


# A shell's options before its -c, as people write them: flags alone or together, -o with its value, long ones.
shell_options = st.lists(st.sampled_from([["-e"], ["-x"], ["-eu"], ["-o", "pipefail"], ["--norc"], ["+o", "posix"]]))


@SETTINGS
@given(
    shell=st.sampled_from(["sh", "bash", "/bin/dash", "/usr/bin/zsh"]),
    before=shell_options,
    flags=st.sampled_from(["-c", "-ec", "-xc", "-ce"]),
    after=shell_options,
    value=text.filter(lambda t: "{" not in t and "}" not in t),
)
def test_a_shells_script_holding_a_placeholder_is_refused_however_its_options_are_written(
    shell: str, before: list[list[str]], flags: str, after: list[list[str]], value: str
) -> None:
    options = [word for option in before for word in option]
    rest = [word for option in after for word in option]
    script = f"echo {value} {{sample}}"
    with pytest.raises(ValueError, match=r"the script that \S+ -c runs holds \{sample\}"):
        ToolSpec.model_validate({**SPEC, "command": [shell, *options, flags, *rest, script]})
    # The same script reading the value as its first argument is fine.
    positional = [shell, *options, flags, *rest, script.replace("{sample}", '"$1"'), "sh", "{sample}"]
    ToolSpec.model_validate({**SPEC, "command": positional})


# Words a command is made of, runners and their options among them, in any order.
command_words = st.lists(
    st.sampled_from(
        [
            *("sh", "/bin/bash", "python3", "perl", "node", "Rscript", "php", "env"),
            *("-c", "-e", "-ec", "-o", "-m", "-W", "--", "-", "--eval", "--eval={sample}", "-cprint({sample})"),
            *("{sample}", "x {sample}", '"$1"', "{{x}}"),
        ]
    )
    | text,
    min_size=1,
    max_size=8,
)


@SETTINGS
@given(words=command_words, split=st.booleans())
def test_any_command_is_read_or_refused_with_a_spec_error_never_a_crash(words: list[str], split: bool) -> None:
    command = [words[0], {"split": " ".join(words[1:])}] if split else words
    try:
        ToolSpec.model_validate({**SPEC, "command": command})
    except ValueError as exc:  # pydantic's ValidationError is one: the message load_spec shows
        assert str(exc)
