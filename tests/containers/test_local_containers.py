"""Local mode with container workers, and `run.py buildImage`, on a real Docker engine.

The repository is the harness's Distributed-WordCount (rendered from the template),
copied per test with its config.py pointed at the harness's worker image; its
ds_runtime is the one the harness put on sys.path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from .conftest import REGION, TIMINGS, build_args, wait_for

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.real_tool]

TEXTS = {f"in/doc{i}.txt": "one two three\n" * (i + 1) + "four\n" for i in range(6)}


def set_config(repo: Path, **values: Any) -> None:
    """Replace `NAME = ...` lines of the repo's config.py (so later lines computed from them follow)."""
    path = repo / "config.py"
    text = path.read_text()
    for name, value in values.items():
        text, count = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", text, flags=re.M)
        assert count == 1, f"config.py has no single {name} line"
    path.write_text(text)


@pytest.fixture
def plain_repo(wordcount_repo: Path, tmp_path: Path) -> Path:
    """A copy of Distributed-WordCount with an app name (the containers' ds.app label) of its own."""
    copy = tmp_path / "Distributed-WordCount"
    shutil.copytree(wordcount_repo, copy, ignore=shutil.ignore_patterns(".local", "local-outputs", "__pycache__"))
    run = uuid.uuid4().hex[:6]
    set_config(
        copy,
        APP_NAME=f"DistributedWordCount{run}",
        AWS_BUCKET=f"dsgen-local-{run}",
        CLUSTER_MACHINES=1,
        TASKS_PER_MACHINE=2,
        MEMORY=1000,
    )
    return copy


@pytest.fixture
def repo(worker_image: str, plain_repo: Path) -> Path:
    """That copy, its DOCKERHUB_TAG the harness's worker image (and its build context holding the wheels)."""
    set_config(plain_repo, DOCKERHUB_TAG=worker_image)
    return plain_repo


def app_name(repo: Path) -> str:
    return re.search(r"^APP_NAME = ['\"](.*)['\"]$", (repo / "config.py").read_text(), re.M).group(1)


def labelled(client: Any, app: str) -> list[Any]:
    return client.containers.list(all=True, filters={"label": f"ds.app={app}"})


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def local_run(repo: Path, job: Path, inputs: Path, outputs: Path) -> subprocess.CompletedProcess[str]:
    argv = ["run.py", "localRun", str(job), "--inputs", str(inputs), "--outputs", str(outputs), "--docker"]
    return subprocess.run(
        [sys.executable, *argv], cwd=repo, env=clean_env(), capture_output=True, text=True, timeout=600
    )


# ------------------------------------------------------------------ local mode, container workers


def test_local_run_with_containers_does_every_job_and_leaves_no_container(docker_client: Any, repo: Path) -> None:
    inputs = repo / "my-inputs"
    for key, text in TEXTS.items():
        (inputs / key).parent.mkdir(parents=True, exist_ok=True)
        (inputs / key).write_text(text)
    job = repo / "files" / "job.json"
    job.write_text(json.dumps({"output": "results/", "groups": [{"text_key": k, "pause": 1} for k in sorted(TEXTS)]}))

    started = time.monotonic()
    done = local_run(repo, job, inputs, repo / "out")
    TIMINGS["localRun with 2 containers, 6 jobs of 1 s: wall"] = f"{time.monotonic() - started:.1f} s"
    assert done.returncode == 0, done.stdout + done.stderr
    assert "worker container(s)" in done.stdout
    assert re.search(r"│ done\s+│ 6", done.stdout), done.stdout

    for key, text in TEXTS.items():
        counts = json.loads((repo / "out" / "results" / Path(key).stem / "counts.json").read_text())
        assert counts == {"lines": len(text.splitlines()), "words": len(text.split())}
    # The workers were containers (their logs were kept when they were removed), and none is left.
    logs = sorted((repo / ".local" / "workers").glob("*.log"))
    assert len(logs) == 2, logs
    assert sum(log.read_text().count(": done") for log in logs) >= 6, [log.read_text() for log in logs]
    assert labelled(docker_client, app_name(repo)) == []
    assert not (repo / ".local" / "state.json").exists(), "localRun leaves no state for a later --local command"


def test_local_run_with_containers_refuses_a_missing_image_before_starting_anything(
    docker_client: Any, repo: Path
) -> None:
    set_config(repo, DOCKERHUB_TAG="dsgen-test/no-such-image:never")
    job = repo / "files" / "job.json"
    job.write_text(json.dumps({"output": "results/", "groups": [{"text_key": "in/a.txt"}]}))
    (repo / "empty").mkdir()
    done = local_run(repo, job, repo / "empty", repo / "out")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "image dsgen-test/no-such-image:never (config.py's DOCKERHUB_TAG) is not on this computer" in done.stderr
    assert "python run.py buildImage" in done.stderr
    assert "input file(s)" not in done.stdout  # nothing was uploaded: no emulator was started
    assert labelled(docker_client, app_name(repo)) == []


def test_stopping_container_workers_releases_the_running_job(
    docker_client: Any, repo: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """startCluster --local --docker, then monitor's shutdown mid-job: `docker stop` semantics."""
    from rich.console import Console

    from ds_runtime.aws import make_session
    from ds_runtime.config import load_config
    from ds_runtime.control.commands.cluster import start_cluster
    from ds_runtime.control.commands.setup import setup
    from ds_runtime.control.commands.submit import submit
    from ds_runtime.control.common.context import Context
    from ds_runtime.control.common.run_record import load_monitor_file
    from ds_runtime.local import backend
    from ds_runtime.local.containers import running_containers
    from ds_runtime.outcomes import default_prefix, latest_outcomes
    from ds_runtime.spec import load_spec

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    set_config(repo, CLUSTER_MACHINES=1, TASKS_PER_MACHINE=1)
    spec = load_spec(repo / "tool" / "spec.json")
    config = load_config(repo / "config.py", spec)
    local = backend.LocalBackend(repo, "docker")
    local.state = backend.LocalState(endpoint_url=moto_endpoint)  # this test's emulator, as the daemon's would be
    ctx = Context(config, spec, make_session(None, REGION), Console(quiet=True), local)
    local.prepare(ctx)
    setup(ctx)
    ctx.client("s3").put_object(Bucket=config.AWS_BUCKET, Key="in/long.txt", Body=b"a long job\n")
    job = repo / "files" / "long.json"
    job.write_text(json.dumps({"output": "results/", "groups": [{"text_key": "in/long.txt", "pause": 600}]}))
    submit(ctx, job)
    fleet_file = repo / "files" / "exampleFleet.json"
    started = time.monotonic()
    start_cluster(ctx, fleet_file, wait_seconds=30, poll_seconds=0.2)  # the backend starts the container
    plan = load_monitor_file(fleet_file.parent / f"{config.APP_NAME}SpotFleetRequestId.json")
    (container_id,) = local.task_ids
    try:
        container = docker_client.containers.get(container_id)
        # As ECS would run it: the task definition's environment, limits and no privilege,
        # the emulator's throwaway keys and address, and labels to find it by.
        attrs = container.attrs
        env = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
        aws = {k: v for k, v in env.items() if k.startswith("AWS_")}
        assert aws == {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_REGION": REGION,
            "AWS_BUCKET": config.AWS_BUCKET,
        }, aws
        assert env["APP_NAME"] == config.APP_NAME and env["TOOL_SPEC"] == "tool/spec.json"
        # The built image, by the id setup pinned: the container runs it, and its outcome records name it.
        built = docker_client.images.get(config.DOCKERHUB_TAG).id
        assert (
            attrs["Image"]
            == env["DS_IMAGE"]
            == ctx.client("ecs").describe_task_definition(taskDefinition=ctx.task_family)["taskDefinition"][
                "containerDefinitions"
            ][0]["image"]
            == built
        )
        labels = attrs["Config"]["Labels"]
        assert (labels["ds.app"], labels["ds.run"]) == (config.APP_NAME, plan.run_id)
        assert attrs["HostConfig"]["NetworkMode"] == "host"
        assert attrs["HostConfig"]["Privileged"] is False
        assert attrs["HostConfig"]["Memory"] == 1000 * 2**20
        assert json.loads((repo / ".local" / "state.json").read_text())["container_ids"] == [container_id]

        logs = lambda: container.logs().decode(errors="replace")  # noqa: E731
        wait_for(lambda: "counting" in logs(), 120, "the tool started in the container")
        TIMINGS["local container start to tool running"] = f"{time.monotonic() - started:.1f} s"
        assert running_containers([container_id], docker_client) == 1, "localRun sees it running"
    except BaseException:
        backend.stop_local_tasks(repo, local.state, drained=False)
        raise

    stopped = time.monotonic()
    backend.shutdown(repo, drained=False)  # what `run.py --local monitor` ends with
    stop_seconds = time.monotonic() - stopped
    TIMINGS["local container stop mid-job (docker stop, grace 20 s)"] = f"{stop_seconds:.1f} s"
    assert stop_seconds < 15, "the worker did not exit on SIGTERM (killed after the grace period)"
    assert docker_client.containers.list(all=True, filters={"label": f"ds.run={plan.run_id}"}) == []
    assert running_containers([container_id], docker_client) == 0
    assert not (repo / ".local" / "state.json").exists()
    (saved,) = (repo / ".local" / "workers").glob("*.log")
    assert "counting" in saved.read_text()

    # The job is offered again at once (not after the visibility timeout), and recorded as interrupted.
    sqs = ctx.client("sqs")
    message = wait_for(
        lambda: sqs.receive_message(
            QueueUrl=ctx.require_queue(),
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
        ).get("Messages"),
        10,
        "the stopped job visible again",
        interval=0,
    )[0]
    # Sent again as a new message carrying its interruption, so it spends none of JOB_RETRIES.
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert message["MessageAttributes"]["ds-interruptions"]["StringValue"] == "1"
    outcomes = latest_outcomes(ctx.client("s3"), config.AWS_BUCKET, default_prefix(config.APP_NAME))
    assert [o.state for o in outcomes.values()] == ["interrupted"]


# ------------------------------------------------------------------ buildImage


def image_context(repo: Path, tag: str) -> Any:
    from rich.console import Console

    from ds_runtime.aws import make_session
    from ds_runtime.config import load_config
    from ds_runtime.control.common.context import Context
    from ds_runtime.spec import load_spec

    set_config(repo, DOCKERHUB_TAG=tag)
    spec = load_spec(repo / "tool" / "spec.json")
    console = Console(record=True, width=200, file=open(os.devnull, "w"))  # noqa: SIM115
    return Context(load_config(repo / "config.py", spec), spec, make_session(None, REGION), console)


def test_build_image_builds_the_dockerfile_as_dockerhub_tag(docker_client: Any, repo: Path, wheel_index: str) -> None:
    from ds_runtime.control.commands.image import build_image

    tag = f"dsgen-test/buildimage-{uuid.uuid4().hex[:6]}:1.0"
    ctx = image_context(repo, tag)
    args = build_args((repo / "Dockerfile").read_text(), wheel_index)
    nocache = os.environ.get("DSGEN_BUILD_NOCACHE") == "1"
    try:
        started = time.monotonic()
        assert build_image(ctx, False, args, context=repo, network="host", nocache=nocache) == 0
        TIMINGS["buildImage" + (" (no cache)" if nocache else " (layers cached by the harness)")] = (
            f"{time.monotonic() - started:.1f} s"
        )
        started = time.monotonic()
        assert build_image(ctx, False, args, context=repo, network="host") == 0
        TIMINGS["buildImage again (cached)"] = f"{time.monotonic() - started:.1f} s"
        image = docker_client.images.get(tag)
        assert image.attrs["Config"]["Entrypoint"] == ["/opt/dsworker/venv/bin/python", "-m", "ds_runtime.worker"]
        said = ctx.console.export_text()
        assert f"built {tag} (" in said and "buildImage --push" in said
        # .dockerignore keeps local state out of the build context.
        assert ".local" in (repo / ".dockerignore").read_text().split()
    finally:
        docker_client.images.remove(tag, noprune=True)


def test_build_image_reports_a_failed_build_with_its_last_lines(docker_client: Any, repo: Path) -> None:
    from ds_runtime.control.commands.image import build_image
    from ds_runtime.control.common.context import CommandError

    ctx = image_context(repo, f"dsgen-test/failed-{uuid.uuid4().hex[:6]}:x")
    args = {"UV_IMAGE": "dsgen-test/no-such-image:never", "HTTPS_PROXY": "http://127.0.0.1:9"}
    with pytest.raises(CommandError) as caught:
        build_image(ctx, False, args, context=repo, network="host")
    text = str(caught.value)  # the engine's reason (here: no registry), then the step that failed
    assert re.match(r"docker build of dsgen-test/failed-\w+:x failed: \S", text), text
    assert "\nlast lines of the build:\nStep 1/" in text and text.endswith("FROM ${UV_IMAGE} AS uv"), text


def test_push_to_an_unreachable_registry_says_so(docker_client: Any, worker_image: str, repo: Path) -> None:
    """No registry is reachable here: a push must fail with a message saying what to check."""
    from ds_runtime.control.commands.image import push_image
    from ds_runtime.control.common.context import CommandError

    tag = f"127.0.0.1:9/dsgen-test/unreachable-{uuid.uuid4().hex[:6]}:1.0"  # port 9: nothing listens
    ctx = image_context(repo, tag)
    docker_client.images.get(worker_image).tag(tag)
    try:
        with pytest.raises(CommandError) as caught:
            push_image(ctx, docker_client, tag)
        text = str(caught.value)
        assert f"push of {tag} to 127.0.0.1:9 failed:" in text
        assert "docker login 127.0.0.1:9" in text and "The image is built" in text
    finally:
        docker_client.images.remove(tag, noprune=True)


def test_no_engine_is_a_clear_error(plain_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Needs no engine: what a user without one sees."""
    pytest.importorskip("docker")
    repo = plain_repo
    from ds_runtime.control.commands.image import build_image, parse_build_args
    from ds_runtime.control.common.context import CommandError

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    ctx = image_context(repo, "dsgen-test/never:built")
    with pytest.raises(CommandError, match=r"no Docker engine answers at unix:///nonexistent/docker.sock .*Docker"):
        build_image(ctx, False, {}, context=repo)
    assert parse_build_args(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(CommandError, match="NAME=VALUE"):
        parse_build_args(["novalue"])
