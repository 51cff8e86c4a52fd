"""config.py loading: DS's constants, checked with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ds_runtime.config import ConfigError, load_config

from ._control_support import spec, write_config


def load(tmp_path: Path, warnings: list[str] | None = None, **overrides: str):
    sink = warnings if warnings is not None else []
    return load_config(write_config(tmp_path, **overrides), spec(), warn=sink.append)


def test_ds_config_loads_with_types(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert config.APP_NAME == "DistributedEcho"
    assert config.SQS_QUEUE_NAME == "DistributedEchoQueue"  # expressions work: it is Python
    assert config.MACHINE_TYPE == ["m5.large", "c5.large"]
    assert config.ASSIGN_IP is False and config.CLEAN_DASHBOARD is True
    assert config.extra == {"ECHO_MODE": "loud"}


@pytest.mark.parametrize("text", ["True", "'True'", "'true'", "' TRUE '"])
def test_booleans_accepted_as_python_or_text(tmp_path: Path, text: str) -> None:
    assert load(tmp_path, CHECK_IF_DONE_BOOL=text).CHECK_IF_DONE_BOOL is True


def test_single_machine_type_string_becomes_a_list(tmp_path: Path) -> None:
    assert load(tmp_path, MACHINE_TYPE="'m5.xlarge'").MACHINE_TYPE == ["m5.xlarge"]


@pytest.mark.parametrize(
    ("key", "value", "fix"),
    [
        ("EBS_VOL_SIZE", "10", "at least 22"),
        ("MEMORY", "0", "above 0"),
        ("MACHINE_TYPE", "[]", "list of one or more"),
        ("SQS_MESSAGE_VISIBILITY", "50000", "12 h"),
        ("CHECK_IF_DONE_BOOL", "'yes'", "True or False"),
        ("CLUSTER_MACHINES", "'3'", "whole number"),
        ("TASKS_PER_MACHINE", "True", "whole number"),
        ("MACHINE_PRICE", "-1", "dollars"),
        ("AWS_REGION", "'Virginia'", "us-east-1"),
        ("AWS_BUCKET", "'s3://echo-bucket'", "without s3://"),
        ("JOB_RETRIES", "0", "1 to 1000"),
    ],
)
def test_bad_value_names_file_key_value_and_fix(tmp_path: Path, key: str, value: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **{key: value})
    message = str(caught.value)
    assert str(tmp_path / "config.py") in message
    assert key in message and repr(eval(value)) in message
    assert fix in message


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="3 problem") as caught:
        load(tmp_path, MEMORY="0", EBS_VOL_SIZE="1", ASSIGN_IP="'maybe'")
    assert all(k in str(caught.value) for k in ("MEMORY", "EBS_VOL_SIZE", "ASSIGN_IP"))


def test_unknown_key_is_noted_and_tool_key_is_not(tmp_path: Path) -> None:
    notes: list[str] = []
    load(tmp_path, notes, MACHNE_PRICE="0.2")
    unknown = [n for n in notes if "unknown key" in n]
    assert len(unknown) == 1 and "config.py:32: unknown key MACHNE_PRICE" in unknown[0]
    assert not any("ECHO_MODE" in n for n in notes)


def test_missing_ds_keys_take_ds_defaults_with_one_note_each(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    dropped = ("JOB_RETRIES", "MEMORY", "CPU_SHARES", "SQS_QUEUE_NAME", "ASSIGN_IP")
    path.write_text("\n".join(x for x in path.read_text().splitlines() if not x.startswith(dropped)))
    notes: list[str] = []
    config = load_config(path, spec(), warn=notes.append)
    assert (config.JOB_RETRIES, config.MEMORY, config.CPU_SHARES) == (10, 15000, 1024)  # DOCKER_CORES = 1
    assert config.SQS_QUEUE_NAME == "DistributedEchoQueue" and config.ASSIGN_IP is True
    assert "using DS's default for JOB_RETRIES = 10" in notes
    assert "using DS's default for CPU_SHARES = DOCKER_CORES * 1024 = 1024" in notes
    assert "using DCP's default for ASSIGN_IP = True" in notes
    assert len(notes) == len(set(notes))


def test_missing_required_and_tool_keys_are_errors(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    kept = [line for line in path.read_text().splitlines() if not line.startswith(("AWS_BUCKET", "ECHO"))]
    path.write_text("\n".join(kept))
    with pytest.raises(ConfigError) as caught:
        load_config(path, spec(), warn=lambda text: None)
    assert "AWS_BUCKET is missing" in str(caught.value) and "ECHO_MODE is missing" in str(caught.value)


def test_missing_tool_key_takes_the_tools_default(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text("\n".join(x for x in path.read_text().splitlines() if not x.startswith("ECHO")))
    notes: list[str] = []
    config = load_config(path, spec(config_defaults={"ECHO_MODE": "quiet"}), warn=notes.append)
    assert config.extra == {"ECHO_MODE": "quiet"}
    assert "using this tool's default for ECHO_MODE = 'quiet'" in notes


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("'arn:aws:sqs:some-region:111111100000:DeadMessages'", "DeadMessages"),  # DS's own placeholder
        ("'arn:aws:sqs:us-east-1:123456789012:EchoDead'", "EchoDead"),
        ("'EchoDead'", "EchoDead"),
    ],
)
def test_dead_letter_queue_as_name_or_arn(tmp_path: Path, value: str, name: str) -> None:
    assert name == load(tmp_path, SQS_DEAD_LETTER_QUEUE=value).SQS_DEAD_LETTER_QUEUE


def test_dead_letter_queue_arn_in_another_region_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is in eu-west-1, not AWS_REGION 'us-east-1'"):
        load(tmp_path, SQS_DEAD_LETTER_QUEUE="'arn:aws:sqs:eu-west-1:123456789012:EchoDead'")


def test_whole_floats_count_as_whole_numbers(tmp_path: Path) -> None:
    assert load(tmp_path, SQS_MESSAGE_VISIBILITY="1.5 * 60 * 60").SQS_MESSAGE_VISIBILITY == 5400
    with pytest.raises(ConfigError, match="CLUSTER_MACHINES"):
        load(tmp_path, CLUSTER_MACHINES="2.5")


def test_legacy_requirements_file_is_read_as_requirements(tmp_path: Path) -> None:
    tool = spec(config_keys=["ECHO_MODE", "REQUIREMENTS"], config_defaults={"REQUIREMENTS": ""})
    notes: list[str] = []
    config = load_config(write_config(tmp_path, REQUIREMENTS_FILE="'requirements.txt'"), tool, warn=notes.append)
    assert config.extra["REQUIREMENTS"] == "-r requirements.txt"
    assert any(
        "REQUIREMENTS_FILE = 'requirements.txt' is read as REQUIREMENTS = '-r requirements.txt'" in n for n in notes
    )


def test_family_key_this_tool_does_not_use_is_noted(tmp_path: Path) -> None:
    notes: list[str] = []
    load(tmp_path, notes, DOWNLOAD_FILES="'False'")
    assert any("DOWNLOAD_FILES (DCP, DF: download inputs" in n and "not used by this tool" in n for n in notes)


# config.py files that cannot be used: each gives one message naming the file and line, no traceback.
BROKEN = [
    ("APP_NAME = 'x'\nMEMORY = 7500 +\n", r"config\.py:2: not valid Python \(invalid syntax\)"),
    ("import sys\nAPP_NAME = 'x'\nsys.exit(1)\n", r"config\.py:3: config\.py calls exit\(\)"),
    ("import no_such_module_here\n", r"config\.py:1: import failed \(No module named 'no_such_module_here'\)"),
    ("APP_NAME = 'x'\nDOCKER_CORES = 4\nCPU_SHARES = DOCKER_CORES * '1024' / 2\n", r"config\.py:3: TypeError"),
    ("X = 1\nAPP_NAME = APP\n", r"config\.py:2: NameError: name 'APP' is not defined"),
    ("raise KeyError('boom')\n", r"config\.py:1: KeyError: 'boom'"),
    ("APP_NAME = 'x'\x00\n", r"config\.py(:1)?: (not valid Python|cannot be read as Python text)"),
]


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_broken_config_files_give_one_message(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.py"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path, spec(), warn=lambda text: None)
    assert "Traceback" not in str(caught.value)


def test_non_utf8_file_gives_one_message(tmp_path: Path) -> None:
    path = tmp_path / "config.py"
    path.write_bytes(b"APP_NAME = '\xff'\n")
    with pytest.raises(ConfigError, match="save it as UTF-8"):
        load_config(path, spec())


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("MACHINE_TYPE", "5", r"config\.py:\d+: MACHINE_TYPE = 5 is wrong"),
        ("AWS_BUCKET", "None", r"AWS_BUCKET = None is wrong"),
        ("ECHO_MODE", "object()", r"ECHO_MODE = <object object at .*> cannot be passed to the worker"),
        ("ECHO_MODE", "print", r"ECHO_MODE = <built-in function print> cannot be passed"),
    ],
)
def test_wrong_types_are_errors_naming_the_key(tmp_path: Path, key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, **{key: value})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.py", spec())


def test_key_table_has_one_entry_per_ds_key() -> None:
    from ds_runtime.config import DSConfig
    from ds_runtime.config_keys import DS_KEYS, KEYS, key_table_markdown

    assert [k.name for k in DS_KEYS] == [k for k in DSConfig.model_fields if k != "extra"]
    table = key_table_markdown()
    assert all(f"| `{name}` |" in table for name in KEYS)
    assert "| `JOB_RETRIES` | `10` (DS) |" in table
    assert "| `UPLOAD_FLAGS` | the tool's (its answers) |" in table
    assert "| `REQUIREMENTS_FILE` | (legacy: REQUIREMENTS) |" in table
    assert "| `APP_NAME` | required |" in table


def test_wrong_key_is_reported_once_not_through_its_derived_default(tmp_path: Path) -> None:
    path = write_config(tmp_path, DOCKER_CORES="'four'")
    path.write_text("\n".join(x for x in path.read_text().splitlines() if not x.startswith("CPU_SHARES")))
    with pytest.raises(ConfigError) as caught:
        load_config(path, spec(), warn=lambda text: None)
    assert caught.value.problems == [
        f"{path}:15: DOCKER_CORES = 'four' is wrong (Input should be a valid integer); "
        "a whole number of cores per container, at least 1"
    ]


def test_a_queue_cannot_be_its_own_dead_letter_queue(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, SQS_DEAD_LETTER_QUEUE="SQS_QUEUE_NAME")
    message = str(caught.value)
    assert str(tmp_path / "config.py") in message
    assert "SQS_DEAD_LETTER_QUEUE = 'DistributedEchoQueue' is SQS_QUEUE_NAME too" in message
