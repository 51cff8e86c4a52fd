"""The pinned image: setup names the worker image by digest in the task definition and in DS_IMAGE.

Where the digest comes from (control/machines/pinned_image.py): ECR's DescribeImages for an ECR tag, the
registry (through the Docker engine) or buildImage --push's record for any other, the built image's
id for local containers; what a tag none of them can resolve gets; what check and status show.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ds_runtime.control.commands.check import LOCAL_IMAGE, preflight, report
from ds_runtime.control.commands.cluster import start_cluster
from ds_runtime.control.commands.image import build_image
from ds_runtime.control.commands.setup import setup
from ds_runtime.control.common.context import CommandError, Context
from ds_runtime.control.machines.pinned_image import pin
from ds_runtime.control.machines.push_record import PUSH_RECORD, record_push
from ds_runtime.control.resources.account import setup_account
from ds_runtime.control.views.status import status
from ds_runtime.entry import main
from ds_runtime.local.backend import LocalBackend, LocalState, start_local_tasks
from ds_runtime.local.containers import ContainerFleet, container_environment, start_containers
from ds_runtime.local.workers import process_image, task_environment

from ._control_support import ECHO_IMAGE, REGION, make_ctx, output, write_config, write_fleet_file, write_spec

ECR_REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/distributed-echo"
HUB_TAG = "example/distributed-echo:1"
PUSHED = "sha256:" + "ab" * 32
MOVED = "sha256:" + "cd" * 32


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Docker engine answers (a socket nobody listens on), and run.py's folder is tmp_path: no push record."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.chdir(tmp_path)


def container() -> dict[str, Any]:
    ecs = boto3.client("ecs", region_name=REGION)
    definition = ecs.describe_task_definition(taskDefinition="DistributedEchoTask")["taskDefinition"]
    return definition["containerDefinitions"][0]


def environment(found: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in found["environment"]}


def push_to_ecr(layer: str) -> str:
    """An image in moto's ECR as distributed-echo:1 (a manifest naming `layer`); its digest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": layer},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": layer}],
    }
    ecr = boto3.client("ecr", region_name=REGION)
    image = ecr.put_image(repositoryName="distributed-echo", imageManifest=json.dumps(manifest), imageTag="1")
    return image["image"]["imageId"]["imageDigest"]


class FakeEngine:
    """The Docker engine calls buildImage and the registry lookup make, answered as a real engine would."""

    def __init__(self, registry_digest: str = "", image_id: str = "sha256:" + "11" * 32) -> None:
        self.pushed: list[str] = []
        self.started: list[str] = []
        self.image_id = image_id
        self.api = SimpleNamespace(build=self._build, push=self._push)
        self.images = SimpleNamespace(get=self._get, get_registry_data=lambda tag: SimpleNamespace(id=registry_digest))
        self.containers = SimpleNamespace(run=self._run)

    def info(self) -> dict[str, str]:
        return {"Architecture": "x86_64"}

    def _build(self, **options: Any) -> Iterator[dict[str, str]]:
        yield {"stream": f"Successfully tagged {options['tag']}\n"}

    def _push(self, repository: str, tag: str, **options: Any) -> Iterator[dict[str, Any]]:
        self.pushed.append(f"{repository}:{tag}")
        yield {"status": "Pushed", "id": "layer1"}
        yield {"aux": {"Tag": tag, "Digest": PUSHED, "Size": 525}}

    def _get(self, name: str) -> Any:
        return SimpleNamespace(attrs={"Id": self.image_id, "Size": 10**8})

    def _run(self, image: str, **options: Any) -> Any:
        self.started.append(image)
        return SimpleNamespace(id=f"container{len(self.started)}")


# ---------------------------------------------------------------- AWS: ECR and other registries


def test_setup_names_the_ecr_digest_of_the_tag_in_the_task_definition_and_ds_image(aws: None, tmp_path: Path) -> None:
    boto3.client("ecr", region_name=REGION).create_repository(repositoryName="distributed-echo")
    digest = push_to_ecr("sha256:" + "01" * 32)
    ctx = make_ctx(tmp_path, DOCKERHUB_TAG=f"'{ECR_REPO}:1'")
    setup_account(ctx)
    setup(ctx)
    pinned = container()
    assert pinned["image"] == f"{ECR_REPO}@{digest}"
    assert environment(pinned)["DS_IMAGE"] == pinned["image"]  # the worker records what the task runs
    assert f"image {ECR_REPO}:1: {ECR_REPO}@{digest} (ECR's digest of the tag)" in output(ctx)

    moved = push_to_ecr("sha256:" + "02" * 32)  # the tag moves: the run set up before keeps its image
    assert container()["image"] == f"{ECR_REPO}@{digest}"
    again = make_ctx(tmp_path, DOCKERHUB_TAG=f"'{ECR_REPO}:1'")
    setup(again)
    assert container()["image"] == f"{ECR_REPO}@{moved}" != f"{ECR_REPO}@{digest}"
    assert "registered revision 2" in output(again)


@pytest.mark.parametrize("repository", [True, False], ids=["tag-never-pushed", "no-repository"])
def test_setup_refuses_an_ecr_tag_ecr_does_not_hold_and_creates_nothing(
    aws: None, tmp_path: Path, repository: bool
) -> None:
    if repository:
        boto3.client("ecr", region_name=REGION).create_repository(repositoryName="distributed-echo")
    ctx = make_ctx(tmp_path, DOCKERHUB_TAG=f"'{ECR_REPO}:1'")
    setup_account(ctx)
    with pytest.raises(CommandError) as refused:
        setup(ctx)
    text = str(refused.value)
    assert f"DOCKERHUB_TAG '{ECR_REPO}:1' cannot be pinned to a digest" in text
    assert "python run.py buildImage --push" in text and "Nothing was created" in text
    assert boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", []) == []


def test_setup_refuses_a_tag_no_registry_answers_and_no_push_recorded(
    aws: None, tmp_path: Path, no_engine: None, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(write_config(tmp_path, DOCKERHUB_TAG=f"'{HUB_TAG}'")), "--spec", str(write_spec(tmp_path))]
    assert main([*args, "setupAccount"]) == 0
    assert main([*args, "setup"]) == 2
    err = capsys.readouterr().err
    assert f"config.py's DOCKERHUB_TAG '{HUB_TAG}' cannot be pinned to a digest" in err
    assert "no Docker engine answers" in err and f"no push of it is recorded in {PUSH_RECORD}" in err
    assert "`python run.py buildImage --push`" in err
    assert boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", []) == []


def test_buildimage_push_records_the_digest_setup_then_pins_without_a_registry(
    aws: None, tmp_path: Path, no_engine: None
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    ctx = make_ctx(tmp_path, DOCKERHUB_TAG=f"'{HUB_TAG}'")
    engine = FakeEngine()
    assert build_image(ctx, True, {}, context=tmp_path, client=engine) == 0
    assert engine.pushed == [HUB_TAG]
    assert json.loads((tmp_path / PUSH_RECORD).read_text())[HUB_TAG]["digest"] == PUSHED
    setup_account(ctx)
    setup(ctx)
    assert container()["image"] == environment(container())["DS_IMAGE"] == f"example/distributed-echo@{PUSHED}"
    assert f"as buildImage --push recorded it in {PUSH_RECORD}" in output(ctx)
    assert "the registry could not be asked: no Docker engine answers" in output(ctx)  # loud: which and why


def test_the_registry_answer_wins_over_the_record_and_a_moved_tag_is_said(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, DOCKERHUB_TAG="'registry.example.org:5000/lab/echo:1'")
    record = tmp_path / "pushed.json"
    assert pin(ctx, lambda: FakeEngine(PUSHED), record).reference == f"registry.example.org:5000/lab/echo@{PUSHED}"
    record_push("registry.example.org:5000/lab/echo:1", PUSHED, record)
    moved = pin(ctx, lambda: FakeEngine(MOVED), record)
    assert moved.reference == f"registry.example.org:5000/lab/echo@{MOVED}"
    assert f"the tag has moved since buildImage --push recorded {PUSHED}" in moved.how


def test_a_digest_in_config_is_used_as_it_is_and_buildimage_refuses_to_build_it(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    assert pin(ctx, lambda: pytest.fail("no registry is asked")).reference == ECHO_IMAGE
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(CommandError, match="names an image by digest, which no build can produce"):
        build_image(ctx, True, {}, context=tmp_path, client=FakeEngine())


# ---------------------------------------------------------------- check and status


def test_check_shows_what_setup_will_pin(tmp_path: Path, no_engine: None, capsys: pytest.CaptureFixture[str]) -> None:
    def line(tag: str) -> str:
        assert report(preflight(write_spec(tmp_path), write_config(tmp_path, DOCKERHUB_TAG=f"'{tag}'"), aws=False)) == 0
        [shown] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("image: ")]
        return shown

    assert line(ECHO_IMAGE) == f"image: {ECHO_IMAGE} (pinned by digest in config.py)"
    assert line(f"{ECR_REPO}:1") == f"image: {ECR_REPO}:1; setup pins it to ECR's digest of the tag"
    assert "no push of it is recorded" in line(HUB_TAG) and "buildImage --push" in line(HUB_TAG)
    record_push(HUB_TAG, PUSHED, tmp_path / PUSH_RECORD)
    assert line(HUB_TAG).startswith(f"image: {HUB_TAG}; pushed as {PUSHED} at ")


def test_check_in_local_mode_says_what_local_workers_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, DOCKERHUB_TAG=f"'{ECHO_IMAGE}'")
    assert report(preflight(write_spec(tmp_path), config, aws=False, local=True)) == 0
    [shown] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("image: ")]
    assert shown == f"{LOCAL_IMAGE}{ECHO_IMAGE} (pinned by digest in config.py)"


def test_status_shows_the_image_the_task_definition_pins(aws: None, tmp_path: Path) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="echo-bucket")
    before = make_ctx(tmp_path)
    status(before)
    assert "image: no task definition (run setup)" in output(before).splitlines()
    setup_account(before)
    setup(make_ctx(tmp_path))
    after = make_ctx(tmp_path)
    status(after)
    assert f"image: {ECHO_IMAGE}" in output(after).splitlines()
    json_ctx = make_ctx(tmp_path)
    status(json_ctx, as_json=True)
    assert json.loads(output(json_ctx))["image"] == ECHO_IMAGE


# ---------------------------------------------------------------- local mode


def local_ctx(tmp_path: Path, backend: LocalBackend) -> Context:
    ctx = make_ctx(tmp_path)
    ctx.backend = backend
    return ctx


def test_local_process_workers_get_the_same_honest_ds_image_on_every_setup(aws: None, tmp_path: Path) -> None:
    ctx = local_ctx(tmp_path, LocalBackend(tmp_path, "process"))
    setup_account(ctx)
    setup(ctx)
    pinned = container()["image"]
    assert pinned == process_image() and pinned.startswith("local-process:python")
    assert task_environment(ctx, tmp_path, "http://127.0.0.1:1")["DS_IMAGE"] == pinned
    again = local_ctx(tmp_path, LocalBackend(tmp_path, "process"))
    setup(again)  # a rerun from the same environment: the same value, so resume sees nothing changed
    assert "unchanged (revision 1)" in output(again) and container()["image"] == pinned


def test_local_containers_run_the_built_image_by_the_id_setup_pinned(aws: None, tmp_path: Path) -> None:
    engine = FakeEngine(image_id="sha256:" + "42" * 32)
    fleet = ContainerFleet(tmp_path / "logs")
    fleet._client = engine
    ctx = local_ctx(tmp_path, LocalBackend(tmp_path, fleet))
    setup_account(ctx)
    setup(ctx)
    assert container()["image"] == engine.image_id
    assert container_environment(ctx, "http://127.0.0.1:1")["DS_IMAGE"] == engine.image_id
    start_containers(ctx, "http://127.0.0.1:1", 2, client=engine)
    assert engine.started == [engine.image_id] * 2

    engine.image_id = "sha256:" + "43" * 32  # rebuilt after setup: refused, not run under the old DS_IMAGE
    with pytest.raises(CommandError, match=r"rebuilt.*`python run\.py --local --docker setup` again"):
        start_local_tasks(ctx, tmp_path, LocalState(), fleet, persist=False)


def test_local_workers_of_another_kind_than_setup_was_run_for_are_refused(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    setup_account(ctx)
    setup(ctx)  # pinned to ECHO_IMAGE: processes would not run it
    with pytest.raises(CommandError, match=r"would run local-process:.*`python run\.py --local setup` again"):
        start_local_tasks(ctx, tmp_path, LocalState(), "process", persist=False)


def test_start_cluster_refuses_a_task_definition_that_names_its_image_by_tag(ready: Path) -> None:
    """One registered by a version before setup pinned images: each machine could pull another image."""
    ecs = boto3.client("ecs", region_name=REGION)
    registered = ecs.describe_task_definition(taskDefinition="DistributedEchoTask")["taskDefinition"]
    by_tag = {**registered["containerDefinitions"][0], "image": HUB_TAG}
    wanted = {k: registered[k] for k in ("family", "taskRoleArn", "networkMode", "requiresCompatibilities")}
    older = ecs.register_task_definition(**wanted, containerDefinitions=[by_tag])["taskDefinition"]
    service = {"cluster": "echo-cluster", "service": "DistributedEchoService"}
    ecs.update_service(**service, taskDefinition=older["taskDefinitionArn"])
    ctx = make_ctx(ready)
    path = write_fleet_file(ready)
    with pytest.raises(CommandError) as refused:
        start_cluster(ctx, path, wait_seconds=1)
    assert str(refused.value) == (
        f"service DistributedEchoService runs task definition DistributedEchoTask:2, which names its image by tag "
        f"({HUB_TAG}): the machines could each pull another image. Run `python run.py setup` to pin it by digest, "
        "then startCluster; nothing was started"
    )
    assert boto3.client("ec2", region_name=REGION).describe_fleets()["Fleets"] == []
    setup(ctx)
    assert start_cluster(ctx, path, wait_seconds=5, poll_seconds=0.01) == 0
