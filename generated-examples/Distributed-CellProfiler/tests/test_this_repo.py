"""This repository's own files fit together: tool spec, config.py, example Job and Fleet files.

These files are rendered from dsgen's answers (or edited since); the runtime tests
beside this one cover the code that is the same in every repository.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws
from rich.console import Console

from ds_runtime.aws import make_session
from ds_runtime.config import DSConfig, load_config
from ds_runtime.control.common.context import Context
from ds_runtime.control.machines.fleet_file import FleetFileError, load_fleet_file
from ds_runtime.control.machines.machine_fit import offline_fit
from ds_runtime.control.machines.pinned_image import repository_of
from ds_runtime.control.resources.account import output_prefixes
from ds_runtime.entry import main
from ds_runtime.jobs import read_job_file
from ds_runtime.spec import ToolSpec, load_spec

from ._policy_lint import assert_aws_accepts, every_policy

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "tool" / "spec.json"
JOB_FILES = sorted((REPO / "files").glob("*Job*.json"))

pytestmark = pytest.mark.skipif(not SPEC.exists(), reason="runs in a generated repository (tool/spec.json rendered)")


def test_tool_spec_and_config_load() -> None:
    spec = load_spec(SPEC)
    config = load_config(REPO / "config.py", spec, warn=pytest.fail)
    assert spec.app_name == config.APP_NAME
    assert set(config.extra) == set(spec.config_keys)


@pytest.mark.parametrize("job_file", JOB_FILES, ids=lambda p: p.name)
def test_example_job_file_fits_the_tool(job_file: Path) -> None:
    spec = load_spec(SPEC)
    jobs = read_job_file(job_file, spec)
    assert len({job.job_id for job in jobs}) == len(jobs) >= 1, "example jobs must be distinct"
    for job in jobs:
        steps = spec.for_job(job.values, job.job_id).steps("/work/j", "/work/j/input", "/work/j/output")
        for step in steps:
            assert step.argv and all(isinstance(arg, str) for arg in step.argv)
            assert not step.stdout or step.stdout.startswith("/work/j/")
        assert not spec.for_job(job.values, job.job_id).output_key().startswith(("/", ".."))


def test_example_fleet_file_is_ds_format_with_stand_ins_to_replace() -> None:
    fleet = json.loads((REPO / "files" / "exampleFleet.json").read_text())
    assert "LaunchSpecifications" in fleet and "IamFleetRole" not in fleet  # an EC2 Fleet needs no fleet role
    with pytest.raises(FleetFileError, match="stand-in"):
        load_fleet_file(REPO / "files" / "exampleFleet.json")


def test_example_fleet_file_starts_the_image_the_tools_gpus_need() -> None:
    """A tool with gpus gets the ECS GPU-optimised image (NVIDIA driver), any other the plain one."""
    spec = load_spec(SPEC)
    fleet = load_fleet_file(REPO / "files" / "exampleFleet.json", allow_stand_ins=True, gpus=spec.gpus)
    images = {launch["ImageId"] for launch in fleet["LaunchSpecifications"]}
    gpu = "/gpu/" if spec.gpus else "/"
    assert images == {f"resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023{gpu}recommended/image_id"}


def test_the_containers_fit_this_configs_machine_types() -> None:
    spec = load_spec(SPEC)
    config = load_config(REPO / "config.py", spec, warn=lambda _: None)
    assert offline_fit(config, spec.gpus).problems == []  # a type the table lacks is a note: AWS is asked then


@pytest.fixture
def set_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[ToolSpec, DSConfig]]:
    """This repository after `setupAccount` and `setup` on an emulated account, run from its folder.

    setup is given config.py with its image named by a digest: no registry is asked (pinned_image.py)."""
    monkeypatch.chdir(REPO)
    spec = load_spec(SPEC)
    config = load_config(REPO / "config.py", spec, warn=lambda _: None)
    pinned = tmp_path / "config.py"
    digest = f"{repository_of(config.DOCKERHUB_TAG)}@sha256:{0:064}"
    pinned.write_text((REPO / "config.py").read_text() + f"\nDOCKERHUB_TAG = {digest!r}\n")
    with mock_aws():
        assert main(["setupAccount"]) == 0
        assert main(["--config", str(pinned), "setup"]) == 0
        yield spec, config


def test_setup_registers_the_gpus_the_tool_needs(set_up: tuple[ToolSpec, DSConfig]) -> None:
    spec, config = set_up
    ecs = boto3.client("ecs", region_name=config.AWS_REGION)
    [container] = ecs.describe_task_definition(taskDefinition=f"{config.APP_NAME}Task")["taskDefinition"][
        "containerDefinitions"
    ]
    wanted = [{"type": "GPU", "value": str(spec.gpus)}] if spec.gpus else None
    assert container.get("resourceRequirements") == wanted


def test_every_policy_of_this_repo_is_one_aws_accepts() -> None:
    """Its roles, operator policy, output grant (for the example jobs) and bucket policy; see _policy_lint.py."""
    spec = load_spec(SPEC)
    config = load_config(REPO / "config.py", spec, warn=lambda text: None)
    with mock_aws():
        ctx = Context(config, spec, make_session(config.AWS_PROFILE, config.AWS_REGION), Console(file=io.StringIO()))
        jobs = [job for job_file in JOB_FILES for job in read_job_file(job_file, spec)]
        policies = every_policy(ctx, output_prefixes(ctx, jobs))
    assert_aws_accepts(policies)


def test_run_py_help() -> None:
    done = subprocess.run([sys.executable, "run.py", "--help"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and "submitJob" in done.stdout


@pytest.mark.parametrize("job_file", JOB_FILES, ids=lambda p: p.name)
def test_example_job_file_submits_one_message_per_job(job_file: Path, set_up: tuple[ToolSpec, DSConfig]) -> None:
    spec, config = set_up
    assert main(["submitJob", str(job_file)]) == 0
    sqs = boto3.client("sqs", region_name=config.AWS_REGION)
    url = sqs.get_queue_url(QueueName=config.SQS_QUEUE_NAME)["QueueUrl"]
    count = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(count["Attributes"]["ApproximateNumberOfMessages"]) == len(read_job_file(job_file, spec))


def test_every_json_file_parses() -> None:
    for path in REPO.rglob("*.json"):
        if ".venv" not in path.parts:
            json.loads(path.read_text())


def test_every_key_of_this_config_py_is_documented() -> None:
    config = load_config(REPO / "config.py", load_spec(SPEC), warn=pytest.fail)
    pages = (REPO / "docs" / "config.md").read_text() + (REPO / "docs" / "tool.md").read_text()
    keys = [k for k in DSConfig.model_fields if k != "extra"] + list(config.extra)
    assert [k for k in keys if f"| `{k}` |" not in pages] == []


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    listed = sorted(page for entry in nav for page in entry.values())
    assert listed == sorted(p.name for p in (REPO / "docs").glob("*.md"))
