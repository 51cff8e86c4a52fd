"""config.py loading: DS's constants, checked with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ds_runtime.config import ConfigError, load_config
from tests._control_support import spec, write_config


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


def test_unknown_key_is_warned_and_tool_key_is_not(tmp_path: Path) -> None:
    warnings: list[str] = []
    load(tmp_path, warnings, MACHNE_PRICE="0.2")
    assert len(warnings) == 1 and "MACHNE_PRICE" in warnings[0]


def test_missing_keys_are_errors(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    kept = [line for line in path.read_text().splitlines() if not line.startswith(("MEMORY", "ECHO"))]
    path.write_text("\n".join(kept))
    with pytest.raises(ConfigError) as caught:
        load_config(path, spec(), warn=lambda text: None)
    assert "MEMORY is missing" in str(caught.value) and "ECHO_MODE is missing" in str(caught.value)


def test_python_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.py"
    path.write_text("APP_NAME = 'x'\nMEMORY = 7500 +\n")
    with pytest.raises(ConfigError, match=r"config\.py: cannot be run as Python: SyntaxError"):
        load_config(path, spec())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.py", spec())


def test_a_queue_cannot_be_its_own_dead_letter_queue(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, SQS_DEAD_LETTER_QUEUE="SQS_QUEUE_NAME")
    message = str(caught.value)
    assert str(tmp_path / "config.py") in message
    assert "SQS_DEAD_LETTER_QUEUE = 'DistributedEchoQueue' is SQS_QUEUE_NAME too" in message
