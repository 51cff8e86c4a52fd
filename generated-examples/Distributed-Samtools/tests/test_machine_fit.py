"""TASKS_PER_MACHINE containers of CPU_SHARES and MEMORY must fit each MACHINE_TYPE, or its machines bill idle.

`run.py check` refuses offline (the shipped table of instance types), startCluster before it
creates anything (DescribeInstanceTypes); local mode only notes it (its containers run here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ds_runtime.config import load_config
from ds_runtime.config_keys import DS_KEYS, REQUIRED, Derived
from ds_runtime.control.commands.cluster import start_cluster
from ds_runtime.control.commands.setup import setup
from ds_runtime.control.common.context import AwsBackend, CommandError
from ds_runtime.control.machines.instance_types import INSTANCE_TYPES
from ds_runtime.control.machines.machine_fit import Machine, offline_fit, require_fit
from ds_runtime.entry import main
from ds_runtime.local.backend import LocalBackend

from ._control_support import APP, REGION, make_ctx, spec, write_config, write_fleet_file, write_spec

# The test config (_control_support.CONFIG): 2 tasks of 1024 CPU units and 1900 MiB on m5.large or c5.large.
M5_XLARGE_FOR_CONTAINERS = 16384 - 820  # 16 GiB less 5%, rounded up


def run_check(
    folder: Path, capsys: pytest.CaptureFixture[str], *options: str, gpus: int = 0, **config: str
) -> tuple[int, str]:
    """`run.py check` of config.py with `config` changed, for the test tool needing `gpus` GPUs per container."""
    spec_path = str(write_spec(folder, gpus=gpus))
    argv = [*options, "--config", str(write_config(folder, **config)), "--spec", spec_path, "check"]
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def problems(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("problem: ")]


CASES = {
    "fits": ({}, []),
    "fits to the MiB": (
        {"MACHINE_TYPE": "['m5.xlarge']", "TASKS_PER_MACHINE": "1", "MEMORY": str(M5_XLARGE_FOR_CONTAINERS)},
        [],
    ),
    "one MiB too much": (
        {"MACHINE_TYPE": "['m5.xlarge']", "TASKS_PER_MACHINE": "1", "MEMORY": str(M5_XLARGE_FOR_CONTAINERS + 1)},
        [["MEMORY 15565 x TASKS_PER_MACHINE 1 = 15565 MiB", "lower MEMORY to at most 15564"]],
    ),
    "too much memory": (
        {"MACHINE_TYPE": "['m5.xlarge']", "TASKS_PER_MACHINE": "3", "MEMORY": "204800"},
        [
            [
                "MEMORY 204800 x TASKS_PER_MACHINE 3 = 614400 MiB (600 GiB) does not fit MACHINE_TYPE m5.xlarge "
                "(4 vCPUs = 4096 CPU units, 16 GiB of which 15564 MiB for containers after 5% for the system and "
                "the ECS agent); ECS would place none of them: its machines would bill idle",
                "Fix: lower MEMORY to at most 5188, or choose a larger MACHINE_TYPE",
            ]
        ],
    ),
    "too many CPU shares": (
        {"CPU_SHARES": "2048"},
        [
            [
                "CPU_SHARES 2048 x TASKS_PER_MACHINE 2 = 4096 CPU units does not fit MACHINE_TYPE m5.large "
                "(2 vCPUs = 2048 CPU units",
                "ECS would place only 1 per machine",
                "lower CPU_SHARES to at most 1024, or TASKS_PER_MACHINE to 1, or choose a larger MACHINE_TYPE "
                "(e.g. m5.xlarge)",
            ],
            ["does not fit MACHINE_TYPE c5.large", "(e.g. c5.xlarge)"],
        ],
    ),
    "one type of the list too small": (
        {"MEMORY": "3000"},  # 2 x 3000 MiB: m5.large's 8 GiB hold them, c5.large's 4 GiB do not
        [
            [
                "MEMORY 3000 x TASKS_PER_MACHINE 2 = 6000 MiB",
                "MACHINE_TYPE c5.large (2 vCPUs = 2048 CPU units, 4 GiB of which 3891 MiB for containers",
                "lower MEMORY to at most 1945, or TASKS_PER_MACHINE to 1",
                "or remove 'c5.large' from MACHINE_TYPE (m5.large holds them)",
            ]
        ],
    ),
    "memory and CPU shares both": (
        {"MACHINE_TYPE": "['c5.large']", "CPU_SHARES": "4096", "MEMORY": "4000"},
        [
            [
                "MEMORY 4000 x TASKS_PER_MACHINE 2 = 8000 MiB (7.812 GiB) and CPU_SHARES 4096 x TASKS_PER_MACHINE 2 = "
                "8192 CPU units do not fit",
                "lower MEMORY to at most 1945 and CPU_SHARES to at most 1024",
            ]
        ],
    ),
}


@pytest.mark.parametrize(("config", "expected"), CASES.values(), ids=CASES.keys())
def test_check_refuses_each_machine_type_the_containers_do_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: dict[str, str], expected: list[list[str]]
) -> None:
    code, output = run_check(tmp_path, capsys, **config)
    found = problems(output)
    assert len(found) == len(expected), output
    for problem, parts in zip(found, expected, strict=True):
        assert problem.startswith(f"problem: {tmp_path / 'config.py'}: ")
        for part in parts:
            assert part in problem, problem
    assert code == (1 if expected else 0)
    assert output.rstrip().endswith("check: ok, the run can start" if not expected else "(nothing was created)")


# (gpus per container, config.py changes, the parts of each problem): the test config's 2 tasks of 1024 CPU units
# and 1900 MiB fit every type here but for their GPUs; each container has GPUs of its own.
GPU_CASES = {
    "one on g4dn.xlarge's one GPU": (1, {"MACHINE_TYPE": "['g4dn.xlarge']", "TASKS_PER_MACHINE": "1"}, []),
    "two GPU containers on g4dn.xlarge's one GPU": (
        1,
        {"MACHINE_TYPE": "['g4dn.xlarge']"},
        [
            [
                "gpus 1 (tool/spec.json) x TASKS_PER_MACHINE 2 = 2 GPUs does not fit MACHINE_TYPE g4dn.xlarge "
                "(4 vCPUs = 4096 CPU units, 1 GPU, 16 GiB",
                "ECS would place only 1 per machine: the other tasks would wait while the machines bill",
                "Fix: TASKS_PER_MACHINE to 1, or choose a larger MACHINE_TYPE (e.g. g4dn.12xlarge)",
            ]
        ],
    ),
    "a GPU container on m5.xlarge, which has none": (
        1,
        {"MACHINE_TYPE": "['m5.xlarge']", "TASKS_PER_MACHINE": "1"},
        [
            [
                "gpus 1 (tool/spec.json) x TASKS_PER_MACHINE 1 = 1 GPU does not fit MACHINE_TYPE m5.xlarge (4 vCPUs",
                "ECS would place none of them: its machines would bill idle",
                "Fix: choose a MACHINE_TYPE with GPUs (e.g. g4dn.xlarge)",
            ]
        ],
    ),
    "four on g4dn.12xlarge's four GPUs": (1, {"MACHINE_TYPE": "['g4dn.12xlarge']", "TASKS_PER_MACHINE": "4"}, []),
    "three containers of 2 GPUs on g5.12xlarge's four": (
        2,
        {"MACHINE_TYPE": "['g5.12xlarge']", "TASKS_PER_MACHINE": "3"},
        [["gpus 2 (tool/spec.json) x TASKS_PER_MACHINE 3 = 6 GPUs", "Fix: TASKS_PER_MACHINE to 2, or choose a larger"]],
    ),
    "a CPU tool on a GPU machine": (0, {"MACHINE_TYPE": "['g4dn.xlarge']"}, []),
    "a type without GPUs in a list with one": (
        1,
        {"MACHINE_TYPE": "['g4dn.xlarge', 'm5.xlarge']", "TASKS_PER_MACHINE": "1"},
        [["does not fit MACHINE_TYPE m5.xlarge", "or remove 'm5.xlarge' from MACHINE_TYPE (g4dn.xlarge holds them)"]],
    ),
}


@pytest.mark.parametrize(("gpus", "config", "expected"), GPU_CASES.values(), ids=GPU_CASES.keys())
def test_check_refuses_machine_types_without_a_gpu_for_each_container(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gpus: int, config: dict[str, str], expected: list[list[str]]
) -> None:
    code, output = run_check(tmp_path, capsys, gpus=gpus, **config)
    found = problems(output)
    assert len(found) == len(expected), output
    for problem, parts in zip(found, expected, strict=True):
        for part in parts:
            assert part in problem, problem
    assert code == (1 if expected else 0)


def test_a_machine_type_missing_from_the_table_is_a_note_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = run_check(tmp_path, capsys, MACHINE_TYPE="['m5.large', 'x9.huge']")
    assert code == 0, output
    assert "note: MACHINE_TYPE 'x9.huge' is not in this repository's table of instance types (moto " in output
    assert "startCluster asks AWS (DescribeInstanceTypes) whether the containers fit it" in output
    code, output = run_check(tmp_path, capsys, MACHINE_TYPE="['c5.large', 'x9.huge']", MEMORY="3000")
    [problem] = problems(output)
    assert "does not fit MACHINE_TYPE c5.large" in problem and "remove" not in problem  # x9.huge may not fit either
    assert code == 1


def test_local_mode_check_notes_what_aws_would_refuse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_check(tmp_path, capsys, "--local", MEMORY="204800")
    assert code == 0, output
    assert output.count("local mode runs the containers on this computer, but on AWS: MEMORY 204800") == 2
    assert problems(output) == []


def test_ds_defaults_fit_their_machine_type(tmp_path: Path) -> None:
    """A config.py with only the required keys takes DS's defaults: 1 x 4096 units, 15000 MiB on an m4.xlarge."""
    required = {key.name: "'distributed-echo'" if key.name == "AWS_BUCKET" else "'x'" for key in DS_KEYS}
    path = tmp_path / "config.py"
    path.write_text(
        "".join(f"{key.name} = {required[key.name]}\n" for key in DS_KEYS if key.default is REQUIRED)
        + "ECHO_MODE = 'loud'\n"
    )
    config = load_config(path, spec(), warn=lambda text: None)
    defaults = {key.name: key.default for key in DS_KEYS if not isinstance(key.default, Derived)}
    assert (defaults["MACHINE_TYPE"], 15000, 4096) == (config.MACHINE_TYPE, config.MEMORY, config.CPU_SHARES)
    assert offline_fit(config).problems == []


def test_machine_memory_for_containers_keeps_5_percent_back() -> None:
    assert Machine("m4.large", 2, 8192).memory_for_containers == 7782  # AWS's example registers 7985: below it
    assert Machine("c4.xlarge", 4, 7680).memory_for_containers == 7296
    assert Machine("g4dn.xlarge", 4, 16384, 1).describe().startswith("g4dn.xlarge (4 vCPUs = 4096 CPU units, 1 GPU,")


def test_the_shipped_table_agrees_with_describe_instance_types() -> None:
    """Every type the offline table holds, as (moto's copy of) DescribeInstanceTypes answers it."""
    with mock_aws():
        pages = boto3.client("ec2", region_name=REGION).get_paginator("describe_instance_types").paginate()
        described = {t["InstanceType"]: t for page in pages for t in page["InstanceTypes"]}
    assert len(INSTANCE_TYPES) > 500 and {"m4.xlarge", "m5.xlarge", "c5.xlarge", "r5.large"} <= set(INSTANCE_TYPES)
    for name, (vcpus, memory, gpus) in INSTANCE_TYPES.items():
        answer = described[name]
        assert (answer["VCpuInfo"]["DefaultVCpus"], answer["MemoryInfo"]["SizeInMiB"]) == (vcpus, memory), name
        assert sum(g["Count"] for g in answer.get("GpuInfo", {}).get("Gpus", [])) == gpus, name


# ---------------------------------------------------------------- startCluster


def test_start_cluster_refuses_containers_that_fit_no_machine_before_creating_anything(ready: Path) -> None:
    ctx = make_ctx(ready, MACHINE_TYPE="['m5.xlarge', 'c5.large']", MEMORY="6000")
    path = write_fleet_file(ready)
    with pytest.raises(CommandError) as caught:
        start_cluster(ctx, path, wait_seconds=1)
    message = str(caught.value)
    assert message.startswith("the containers do not fit the machines, nothing was started:")
    assert "MEMORY 6000 x TASKS_PER_MACHINE 2 = 12000 MiB" in message
    assert (
        "MACHINE_TYPE c5.large (2 vCPUs" in message
        and "or remove 'c5.large' from MACHINE_TYPE (m5.xlarge holds them)" in message
    )
    assert "MACHINE_TYPE m5.xlarge" not in message  # 16 GiB hold 2 x 6000 MiB
    assert boto3.client("ec2", region_name=REGION).describe_fleets()["Fleets"] == []
    assert boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"] == []
    assert not (path.parent / f"{APP}SpotFleetRequestId.json").exists()
    ecs = boto3.client("ecs", region_name=REGION)
    assert ecs.describe_services(cluster="echo-cluster", services=[f"{APP}Service"])["services"][0]["desiredCount"] == 0


def test_start_cluster_refuses_a_task_definition_setup_registered_before_memory_changed(ready: Path) -> None:
    """ECS places the service's task definition, not config.py: a MEMORY changed since setup is not what runs."""
    ctx = make_ctx(ready, MEMORY="1800")  # setup registered 1900
    path = write_fleet_file(ready)
    with pytest.raises(CommandError) as caught:
        start_cluster(ctx, path, wait_seconds=1)
    assert str(caught.value) == (
        f"service {APP}Service runs task definition {APP}Task:1 with cpu 1024 and memory 1900, but config.py has "
        "CPU_SHARES 1024 and MEMORY 1800: run `python run.py setup` to register config.py's, then startCluster; "
        "nothing was started"
    )
    assert boto3.client("ec2", region_name=REGION).describe_fleets()["Fleets"] == []
    setup(ctx)
    assert start_cluster(ctx, path, wait_seconds=5, poll_seconds=0.01) == 0


def test_start_cluster_refuses_a_machine_type_aws_does_not_know(ready: Path) -> None:
    ctx = make_ctx(ready, MACHINE_TYPE="['m5.large', 'm5.xlarg']")
    with pytest.raises(CommandError, match=r"m5\.xlarg.*do not exist.*fix the name in config\.py"):
        start_cluster(ctx, write_fleet_file(ready), wait_seconds=1)
    assert boto3.client("ec2", region_name=REGION).describe_fleets()["Fleets"] == []


def test_a_user_who_may_not_describe_instance_types_is_told_the_policy(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    with Stubber(ctx.client("ec2")) as ec2:
        ec2.add_client_error("describe_instance_types", service_error_code="UnauthorizedOperation")
        with pytest.raises(CommandError, match=r"ec2:DescribeInstanceTypes.*setupAccount --print-policy"):
            require_fit(ctx)


def test_start_cluster_refuses_gpu_containers_on_machines_aws_describes_without_gpus(ready: Path) -> None:
    ctx = make_ctx(ready, tool=spec(gpus=1), MACHINE_TYPE="['m5.xlarge']", TASKS_PER_MACHINE="1")
    with pytest.raises(CommandError) as caught:
        start_cluster(ctx, write_fleet_file(ready), wait_seconds=1)
    assert "gpus 1 (tool/spec.json) x TASKS_PER_MACHINE 1 = 1 GPU does not fit MACHINE_TYPE m5.xlarge" in str(
        caught.value
    )
    assert boto3.client("ec2", region_name=REGION).describe_fleets()["Fleets"] == []


def test_start_cluster_refuses_a_task_definition_registered_before_the_tool_needed_gpus(ready: Path) -> None:
    ctx = make_ctx(ready, tool=spec(gpus=1), MACHINE_TYPE="['g4dn.xlarge']", TASKS_PER_MACHINE="1")
    with pytest.raises(CommandError) as caught:
        start_cluster(ctx, write_fleet_file(ready), wait_seconds=1)
    assert str(caught.value) == (
        f"service {APP}Service runs task definition {APP}Task:1 with 0 GPU(s) per container, but tool/spec.json "
        "has gpus 1: run `python run.py setup` to register it, then startCluster; nothing was started"
    )
    assert boto3.client("ec2", region_name=REGION).describe_fleets()["Fleets"] == []


@dataclass(frozen=True)
class ContainersRunHere(AwsBackend):
    """A backend whose tasks ECS does not place on the fleet's machines, as local mode's (see local/backend.py)."""

    places_on_machine_types = False


def test_start_cluster_skips_the_fit_where_the_tasks_do_not_run_on_machine_types(ready: Path) -> None:
    ctx = make_ctx(ready, MEMORY="204800")
    ctx.backend = ContainersRunHere()
    assert start_cluster(ctx, write_fleet_file(ready), wait_seconds=5, poll_seconds=0.01) == 0
    assert len(boto3.client("ec2", region_name=REGION).describe_fleets()["Fleets"]) == 1
    assert LocalBackend.places_on_machine_types is False
