"""Real-container harness: a Docker engine, a local base image, wheels, a rendered repo,
its worker image, and an AWS emulator on the host that the containers reach.

What the harness needs and where it comes from (`.ci/run` prepares all of it; these tests
only use it, and skip, saying how to get it, when something is missing):
  .ci/docker/start-dockerd.sh  a Docker engine (installs docker.io as root if needed)
  .ci/docker/base-image.sh     dsgen/debian-python:bookworm from debootstrap
  .ci/docker/wheels.sh         the worker's locked requirements as cp311 wheels (run here: a download
                               into the user's cache, ~/.cache/dsgen)
  .ci/docker/uv-image.sh       a local stand-in for ghcr.io/astral-sh/uv (from uv's PyPI wheel; run here)
The worker image is the rendered repository's own Dockerfile, built with host
networking, BASE_IMAGE=dsgen/debian-python:bookworm, WORKER_PYTHON=/usr/bin/python3,
the wheels served as an index on 127.0.0.1 (PIP_/UV_INDEX_URL, *_FIND_LINKS), and
HTTP(S)_PROXY set to a dead port: anything that reaches for the internet fails.

Workers run with host networking against moto's server on 127.0.0.1. The dummy
AWS keys and AWS_ENDPOINT_URL given to the containers exist only in these tests: on
ECS, credentials come from the task role and the task definition carries none.

Environment:
  DSGEN_REQUIRE_DOCKER=1   no engine or base image is a failure, not a skip (CI sets it)
  DSGEN_START_DOCKERD=1    start an engine (and build the base image) when none is there: this
                           installs packages and starts a daemon as root, so only when asked
  DSGEN_WORKER_DOCKERFILE  build with this Dockerfile instead of the rendered one
  DSGEN_BUILD_NOCACHE=1    build the worker image without the layer cache (cold timing)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from ..conftest import require_tool, tool_unavailable

ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = ROOT / ".ci" / "docker"
BASE_IMAGE = os.environ.get("DSGEN_BASE_IMAGE", "dsgen/debian-python:bookworm")
WORKER_TAG = "dsgen-test/distributed-wordcount:latest"
REGION = "us-east-1"
TEST_ONLY_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

# Figures for the summary at the end of the run (seconds, bytes).
TIMINGS: dict[str, str] = {}

# The tool: a real program in the base image (python3), no shell. It counts the lines
# and words of its input file, after an optional pause (for the stop test). No braces
# in the script: those are placeholders in a command template.
WORDCOUNT_SCRIPT = "\n".join(
    [
        "import json, pathlib, sys, time",
        "src, out, pause = sys.argv[1:4]",
        "print('counting', src, flush=True)",
        "time.sleep(float(pause))",
        "text = pathlib.Path(src).read_text()",
        "counts = dict(lines=len(text.splitlines()), words=len(text.split()))",
        "pathlib.Path(out, 'counts.json').write_text(json.dumps(counts))",
        "print('counted', counts['words'], 'words', flush=True)",
    ]
)

WORDCOUNT_ANSWERS: dict[str, Any] = {
    "tool_name": "WordCount",
    "tool_description": "Counts lines and words of text files; the container harness's tool.",
    "docker_image": BASE_IMAGE,
    "job_list_key": "groups",
    "fields": [
        {"name": "output", "scope": "shared", "type": "s3_prefix", "example": "results/"},
        {"name": "text_key", "scope": "job", "type": "s3_key", "example": ["in/a.txt", "in/b.txt"]},
        {"name": "pause", "scope": "job", "type": "number", "required": False, "default": 0},
    ],
    "command": ["python3", "-c", WORDCOUNT_SCRIPT, "{text_key}", "{output_dir}", "{pause}"],
    "input_fields": ["text_key"],
    "output_prefix": "{output}/{text_key|stem}",
    "done_required_file": "counts.json",
    "done_required_content": "words",
    # A startup fetch into a folder the image makes writable for the worker user (UID 10001).
    "extra_config": {"STOPWORDS_URL": ""},
    "startup": [{"fetch": "{config.STOPWORDS_URL}", "into": "/opt/wordcount", "when": "config.STOPWORDS_URL"}],
    "docker_steps": ['RUN mkdir -p /opt/wordcount && chown "${WORKER_UID}" /opt/wordcount'],
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "containers: needs a Docker engine (started by .ci/docker/start-dockerd.sh)")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("container harness figures")
        for name, value in TIMINGS.items():
            terminalreporter.write_line(f"{name}: {value}")


def unavailable(reason: str) -> NoReturn:
    """Skip (or, with DSGEN_REQUIRE_DOCKER=1, fail) every test that needs the engine."""
    tool_unavailable(reason, "DSGEN_REQUIRE_DOCKER")


def opted_in() -> bool:
    """Whether the tests may install and start what they lack (DSGEN_START_DOCKERD=1)."""
    return os.environ.get("DSGEN_START_DOCKERD") == "1"


def script_reason(done: subprocess.CompletedProcess[str]) -> str:
    """The scripts' last `dsgen-...:` line on stderr, which says what went wrong."""
    lines = [line for line in done.stderr.splitlines() if line.startswith("dsgen-")]
    return lines[-1] if lines else (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]


def run_script(name: str, *args: str, timeout: float = 1800, env: dict[str, str] | None = None):
    started = time.monotonic()
    done = subprocess.run(
        [str(DOCKER_DIR / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return done, time.monotonic() - started


# ------------------------------------------------------------------ engine and images


@pytest.fixture(scope="session")
def docker_client() -> Any:
    require_tool("docker", "DSGEN_REQUIRE_DOCKER")  # CI starts the engine and builds the base image meanwhile
    try:
        import docker
    except ImportError:
        unavailable("the docker Python package is not installed (pip install docker)")

    def connect() -> Any:
        try:
            client = docker.from_env(timeout=300)
            client.ping()
            return client
        except Exception:
            return None

    client = connect()
    if client is None:
        if not opted_in():
            unavailable(
                "no Docker engine answers: start one (.ci/docker/start-dockerd.sh), or set DSGEN_START_DOCKERD=1"
            )
        done, seconds = run_script("start-dockerd.sh", timeout=900)
        client = connect()
        if client is None:
            unavailable(f"no Docker engine could be started: {script_reason(done)}")
        TIMINGS["start-dockerd.sh"] = f"{seconds:.1f} s"
    return client


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    import docker

    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        if not opted_in():
            unavailable(
                f"no {BASE_IMAGE} image: build it (as root) with .ci/docker/base-image.sh, or set DSGEN_START_DOCKERD=1"
            )
    done, seconds = run_script("base-image.sh")
    if done.returncode:
        pytest.fail(f"base-image.sh failed: {script_reason(done)}\n{done.stderr[-3000:]}", pytrace=False)
    TIMINGS["base-image.sh"] = f"{seconds:.1f} s ({script_reason(done)})"
    return BASE_IMAGE


@pytest.fixture(scope="session")
def wheels_dir() -> Path:
    done, seconds = run_script("wheels.sh", env={"PYTHON": sys.executable})
    if done.returncode:
        pytest.fail(f"wheels.sh failed: {script_reason(done)}\n{done.stderr[-3000:]}", pytrace=False)
    TIMINGS["wheels.sh"] = f"{seconds:.1f} s"
    return Path(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ the rendered repository


def render_repo(dest: Path, answers: dict[str, Any]) -> Path:
    from dsgen.render import render
    from dsgen.source import WORKING_TREE

    return render(dest, answers, source=WORKING_TREE)


@pytest.fixture(scope="session")
def wordcount_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Distributed-WordCount, rendered from WORDCOUNT_ANSWERS; its ds_runtime importable here."""
    repo = render_repo(tmp_path_factory.mktemp("render") / "Distributed-WordCount", WORDCOUNT_ANSWERS)
    # ds_runtime is identical in every generated repo: import it from this one.
    sys.path.insert(0, str(repo))
    return repo


@pytest.fixture(scope="session")
def wheel_index(wheels_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The wheels as a PEP 503 index on 127.0.0.1 (`<url>simple/`, flat list at `<url>files/`).

    An index URL, not only find-links, because some installers (uv 0.5) cannot be told
    "no index" through the environment: pointing the index here does the same.
    """
    import functools
    import html
    import http.server
    import threading

    root = tmp_path_factory.mktemp("wheel-index")
    (root / "files").symlink_to(wheels_dir)
    projects: dict[str, list[str]] = {}
    for wheel in sorted(wheels_dir.glob("*.whl")):
        project = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        projects.setdefault(project, []).append(wheel.name)
    for project, names in projects.items():
        page = root / "simple" / project / "index.html"
        page.parent.mkdir(parents=True)
        links = "".join(f'<a href="/files/{html.escape(n)}">{html.escape(n)}</a>\n' for n in names)
        page.write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def build_args(dockerfile: str, wheel_url: str) -> dict[str, str]:
    """Build args for an offline build of the worker Dockerfile, whatever installer it uses."""
    args = {
        "BASE_IMAGE": BASE_IMAGE,
        # pip or uv, installing only from the harness's wheels (served on 127.0.0.1).
        "PIP_INDEX_URL": wheel_url + "simple/",
        "PIP_FIND_LINKS": wheel_url + "files/",
        "UV_INDEX_URL": wheel_url + "simple/",
        "UV_FIND_LINKS": wheel_url + "files/",
        "UV_NO_INDEX": "1",  # read by newer uv versions only
        # Predefined proxy args: anything that tries the internet fails at once,
        # so a build that passes here needs no network but the local wheel page.
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if re.search(r"^ARG WORKER_PYTHON\b", dockerfile, re.M):
        args["WORKER_PYTHON"] = "/usr/bin/python3"  # the base image's own CPython 3.11, not a download
    uv = re.search(r"^ARG UV_IMAGE=\S*?uv:(\S+)", dockerfile, re.M)
    if uv:
        done, _ = run_script("uv-image.sh", uv.group(1), env={"PYTHON": sys.executable}, timeout=300)
        if done.returncode:
            pytest.fail(f"uv-image.sh failed: {script_reason(done)}", pytrace=False)
        args["UV_IMAGE"] = done.stdout.strip().splitlines()[-1]
    return args


@pytest.fixture(scope="session")
def worker_image(docker_client: Any, base_image: str, wheels_dir: Path, wheel_index: str, wordcount_repo: Path) -> str:
    """The rendered repo's worker image, built offline from the local base image and wheels."""
    context = wordcount_repo
    override = os.environ.get("DSGEN_WORKER_DOCKERFILE")
    if override:
        shutil.copy(Path(override), context / "Dockerfile")
    wheels = context / "wheels"  # for a Dockerfile that installs from the build context
    if not wheels.exists():
        shutil.copytree(wheels_dir, wheels, ignore=shutil.ignore_patterns(".stamp", "requirements.txt*"))
    args = build_args((context / "Dockerfile").read_text(), wheel_index)
    nocache = os.environ.get("DSGEN_BUILD_NOCACHE") == "1"
    first = build_image(docker_client, context, WORKER_TAG, args, nocache=nocache)
    TIMINGS["worker image build" + (" (no cache)" if nocache else " (first this session)")] = f"{first:.1f} s"
    again = build_image(docker_client, context, WORKER_TAG, args)
    TIMINGS["worker image build (cached)"] = f"{again:.1f} s"
    size = docker_client.images.get(WORKER_TAG).attrs["Size"]
    base_size = docker_client.images.get(base_image).attrs["Size"]
    TIMINGS["worker image size"] = f"{size / 1e6:.0f} MB (base {base_size / 1e6:.0f} MB)"
    return WORKER_TAG


def build_image(client: Any, context: Path, tag: str, args: dict[str, str], *, nocache: bool = False) -> float:
    """`docker build --network host` with the given build args; seconds taken."""
    started = time.monotonic()
    lines: list[str] = []
    error = ""
    for chunk in client.api.build(
        path=str(context),
        tag=tag,
        buildargs=args,
        network_mode="host",  # reaches the wheel page on 127.0.0.1; works with or without a bridge
        rm=True,
        forcerm=True,
        nocache=nocache,
        decode=True,
    ):
        if "stream" in chunk:
            lines.append(chunk["stream"].rstrip("\n"))
        if "error" in chunk:
            error = chunk["error"]
    if error:
        log = "\n".join(lines[-40:])
        pytest.fail(f"docker build of {context / 'Dockerfile'} failed: {error}\n{log}", pytrace=False)
    return time.monotonic() - started


# ------------------------------------------------------------------ the AWS emulator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass
class Stack:
    """What `run.py setup` would create, on the emulator: bucket, queue + DLQ, log group."""

    endpoint: str
    s3: Any
    sqs: Any
    logs: Any
    bucket: str
    queue_url: str
    dlq_url: str
    log_group: str
    app_name: str = "DistributedWordCount"
    containers: list[Any] = field(default_factory=list)

    def settings(self, **changes: Any) -> Any:
        from ds_runtime.worker_settings import WorkerSettings

        base = dict(
            app_name=self.app_name,
            queue_url=self.queue_url,
            bucket=self.bucket,
            region=REGION,
            log_group=self.log_group,
        )
        return WorkerSettings(**{**base, **changes})

    def container_env(self, settings: Any) -> dict[str, str]:
        # TEST ONLY: the emulator's endpoint and dummy keys. On ECS the task role
        # supplies credentials and nothing like this is in the task definition.
        return {**settings.to_env(), "AWS_ENDPOINT_URL": self.endpoint, **TEST_ONLY_KEYS}

    def put_text(self, key: str, text: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=text.encode())

    def keys(self, prefix: str = "") -> dict[str, int]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}

    def text(self, key: str) -> str:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()

    def queue_counts(self, url: str | None = None) -> tuple[int, int]:
        """(visible, in flight)."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attrs = self.sqs.get_queue_attributes(QueueUrl=url or self.queue_url, AttributeNames=names)["Attributes"]
        return int(attrs[names[0]]), int(attrs[names[1]])

    def submit(self, repo: Path, job_file: dict[str, Any], tmp: Path) -> list[Any]:
        """Like `run.py submitJob`: read a DS job file with the repo's spec, send one message a job."""
        from ds_runtime.jobs import read_job_file
        from ds_runtime.spec import load_spec

        path = tmp / f"job-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(job_file))
        jobs = read_job_file(path, load_spec(repo / "tool" / "spec.json"))
        for start in range(0, len(jobs), 10):
            entries = [{"Id": str(i), "MessageBody": j.message_body()} for i, j in enumerate(jobs[start : start + 10])]
            failed = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed")
            assert not failed, failed
        return jobs

    def outcomes(self, settings: Any) -> dict[str, Any]:
        from ds_runtime.outcomes import latest_outcomes

        return latest_outcomes(self.s3, self.bucket, settings.outcome_prefix)

    def start_worker(
        self, client: Any, image: str, settings: Any, label: str, config: dict[str, str] | None = None
    ) -> Any:
        """`config`: the tool's own config keys, as `run.py setup` puts them in the task definition."""
        container = client.containers.run(
            image,
            detach=True,
            network_mode="host",  # reaches the emulator on 127.0.0.1; works without a bridge too
            environment={**self.container_env(settings), **(config or {})},
            name=f"dsgen-test-{label}-{uuid.uuid4().hex[:6]}",
            labels={"dsgen-test": "1"},
        )
        self.containers.append(container)
        return container


@pytest.fixture
def stack(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Stack]:
    import boto3

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**TEST_ONLY_KEYS, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(name, value)
    run = uuid.uuid4().hex[:8]
    s3, sqs, logs = (boto3.client(n, region_name=REGION) for n in ("s3", "sqs", "logs"))
    bucket = f"dsgen-test-{run}"
    s3.create_bucket(Bucket=bucket)
    dlq_url = sqs.create_queue(QueueName=f"WordCountDead-{run}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}
    queue_url = sqs.create_queue(
        QueueName=f"WordCountQueue-{run}",
        Attributes={"VisibilityTimeout": "120", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    log_group = f"WordCount-{run}"
    logs.create_log_group(logGroupName=log_group)
    st = Stack(moto_endpoint, s3, sqs, logs, bucket, queue_url, dlq_url, log_group)
    yield st
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for container in st.containers:
        with contextlib.suppress(Exception):
            if failed:
                print(f"--- logs of {container.name}\n{container.logs().decode(errors='replace')}")
            container.remove(force=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(interval)
