"""Local mode: the same commands and boto3 calls, served by an emulator on this computer.

LocalBackend is control's Backend for it. `python run.py --local setup` (and every other
command with --local) starts one emulator daemon the first time and reuses it until
`monitor` tears the run down; its address and the local workers' process ids live in
`.local/state.json`. `startCluster` requests the "fleet" from the emulator exactly as on
AWS, then starts CLUSTER_MACHINES x TASKS_PER_MACHINE worker processes in place of ECS
tasks, or containers of the worker image with `workers="docker"` (see fleet.py).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import boto3
import requests
from rich.console import Console

from ..aws import make_session
from ..buckets import allowed_buckets
from ..config import DSConfig
from ..control.cli import LOCAL_OUTPUTS
from ..control.common.context import CommandError, Context, PinnedImage
from ..control.resources.account import roles, setup_account
from ..s3_files import download
from ..spec import ToolSpec
from .emulator import READY_LINE
from .tasks import STATE_DIR, LocalFleet, local_fleet
from .workers import EMULATOR_KEYS, IDLE_STOP_GRACE_SECONDS, STOP_GRACE_SECONDS, alive, container_definition

EMULATOR_START_SECONDS = 60
# Saved or fetched objects of AWS_BUCKET land under the folder as they are keyed; those of the
# run's other buckets under <folder>/_buckets/<bucket>/ ('_' starts no bucket name).
OTHER_BUCKETS = "_buckets"


@dataclass
class LocalState:
    endpoint_url: str = ""
    emulator_pid: int = 0
    task_pids: list[int] = field(default_factory=list)  # worker processes
    container_ids: list[str] = field(default_factory=list)  # worker containers (--docker)
    run_id: str = ""  # the run whose workers were started, once startCluster has

    def record(self, kind: str, ids: list[str]) -> None:
        if kind == "process":
            self.task_pids += [int(i) for i in ids]
        else:
            self.container_ids += ids

    def tasks(self) -> dict[str, list[str]]:
        """Task ids by fleet kind (see fleet.py)."""
        return {"process": [str(pid) for pid in self.task_pids], "docker": list(self.container_ids)}

    @classmethod
    def load(cls, repo: Path) -> LocalState:
        path = repo / STATE_DIR / "state.json"
        return cls(**json.loads(path.read_text())) if path.is_file() else cls()

    def save(self, repo: Path) -> None:
        path = repo / STATE_DIR / "state.json"
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)


def activate(endpoint_url: str) -> None:
    """Point this process's boto3 (and its children) at the emulator, with keys only it accepts."""
    os.environ.update(EMULATOR_KEYS, AWS_ENDPOINT_URL=endpoint_url)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)


def _answers(endpoint_url: str) -> bool:
    try:
        return requests.get(f"{endpoint_url}/moto-api/", timeout=2).ok
    except requests.RequestException:
        return False


def emulator_answers(state: LocalState) -> bool:
    return bool(state.emulator_pid) and alive(state.emulator_pid) and _answers(state.endpoint_url)


def ensure_emulator(repo: Path) -> LocalState:
    """The run's emulator daemon, started if none runs here; its state is kept in .local/.

    A recorded emulator that no longer answers is refused, never replaced: an empty one would
    hold none of the run's queues, jobs or outputs, and the run would look finished with nothing done.
    """
    state = LocalState.load(repo)
    if emulator_answers(state):
        return state
    if state.emulator_pid:
        raise CommandError(lost_emulator(repo, state))
    (repo / STATE_DIR).mkdir(exist_ok=True)
    log = (repo / STATE_DIR / "emulator.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "ds_runtime.local.emulator"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,  # outlives this command, until monitor stops it
    )
    deadline = time.monotonic() + EMULATOR_START_SECONDS
    line = ""
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline() if process.stdout else ""
        if line.startswith(READY_LINE):
            break
    if not line.startswith(READY_LINE):
        process.kill()
        raise CommandError(f"the local AWS emulator did not start; see {repo / STATE_DIR / 'emulator.log'}")
    if process.stdout:
        process.stdout.close()  # the daemon prints nothing more; do not keep a pipe to it
    state = LocalState(line.split()[2], process.pid, task_pids=state.task_pids, container_ids=state.container_ids)
    state.save(repo)
    return state


def lost_emulator(repo: Path, state: LocalState) -> str:
    """What to say when the run's emulator is gone: which run, what is lost, and how to go on."""
    run = f"run {state.run_id}" if state.run_id else "local run"
    return (
        f"local mode: the emulator of the {run} in {repo} ({state.endpoint_url}, process {state.emulator_pid}, "
        f"recorded in {repo / STATE_DIR / 'state.json'}) no longer answers. The queues, jobs and emulated buckets it "
        "held are gone with it, so no empty one is started in its place (the run would look finished with nothing "
        f"done); outputs saved before are in {repo / LOCAL_OUTPUTS}. To clean up: `python run.py localStop` (stops "
        "the run's workers and forgets it); then start the run again from `python run.py --local setup`, or in one "
        "command with `python run.py localRun JOBFILE`."
    )


def run_buckets(ctx: Context) -> frozenset[str]:
    """Every bucket the run may touch (buckets.allowed_buckets): AWS_BUCKET and those config.py names."""
    return allowed_buckets(ctx.spec, ctx.config.AWS_BUCKET, ctx.config.worker_config())


def bucket_folder(folder: Path, bucket: str, aws_bucket: str) -> Path:
    """Where a bucket's objects are saved locally: AWS_BUCKET's in the folder itself."""
    return folder if bucket == aws_bucket else folder / OTHER_BUCKETS / bucket


def prepare_account(ctx: Context) -> None:
    """What a user of AWS has made once by hand or with setupAccount: the buckets and the roles."""
    s3 = ctx.client("s3")
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    region = ctx.config.AWS_REGION
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    for bucket in sorted(run_buckets(ctx) - existing):
        s3.create_bucket(Bucket=bucket, **extra)
    iam = ctx.client("iam")
    existing = {r["RoleName"] for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]}
    if not {role.name for role in roles(ctx)} <= existing:  # by exact name: Foo-Bar's roles are not Foo's
        setup_account(ctx)


def start_local_tasks(
    ctx: Context,
    repo: Path,
    state: LocalState,
    workers: str | LocalFleet = "process",
    run_id: str = "",
    persist: bool = True,
) -> list[str]:
    """CLUSTER_MACHINES x TASKS_PER_MACHINE local tasks in place of ECS's, recorded in `state`.

    `persist`: also in .local/state.json, for a later `--local monitor` (localRun, one
    process from start to end, keeps them in memory and leaves no state behind).
    """
    fleet = local_fleet(workers, repo) if isinstance(workers, str) else workers
    require_pinned(ctx, fleet)
    count = ctx.config.CLUSTER_MACHINES * ctx.config.TASKS_PER_MACHINE
    ids = fleet.start(ctx, state.endpoint_url, count, run_id)
    state.record(fleet.kind, ids)
    state.run_id = run_id or state.run_id
    if persist:
        state.save(repo)
    what = "worker task(s)" if fleet.kind == "process" else f"worker container(s) of {ctx.config.DOCKERHUB_TAG}"
    ctx.console.print(f"local mode: {count} {what} started; {fleet.where_logs_are()}")
    return ids


def require_pinned(ctx: Context, fleet: LocalFleet) -> None:
    """The workers about to start run what the task definition pins (DS_IMAGE says so in every outcome record):
    not so after a rebuild of the image, or with workers of the other kind than setup was run for."""
    pinned = container_definition(ctx)["image"]
    here = fleet.image(ctx.config).reference
    if pinned != here:
        docker = " --docker" if fleet.kind == "docker" else ""
        raise CommandError(
            f"local mode: setup pinned the image {pinned}, but these workers would run {here} (the image was "
            f"rebuilt, or setup was run for {'process' if fleet.kind == 'docker' else 'container'} workers): run "
            f"`python run.py --local{docker} setup` again, then this command; no worker was started"
        )


def stop_local_tasks(repo: Path, state: LocalState, drained: bool) -> None:
    """Stop every recorded task, of every kind. `drained`: the queue is empty, the workers idle."""
    grace = IDLE_STOP_GRACE_SECONDS if drained else STOP_GRACE_SECONDS
    for kind, ids in state.tasks().items():
        if ids:
            local_fleet(kind, repo).stop(ids, grace)


def save_bucket(ctx: Context, folder: Path) -> int:
    """Copy the run's emulated buckets (outputs, outcome records, logs) to a folder: the emulator forgets.

    AWS_BUCKET's objects go to the folder, the other buckets' to bucket_folder().
    """
    s3 = ctx.client("s3")
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    saved = 0
    for bucket in sorted(run_buckets(ctx) & existing):
        keys = [
            obj["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for obj in page.get("Contents", [])
            if not obj["Key"].endswith("/")
        ]
        download(s3, bucket, keys, bucket_folder(folder, bucket, ctx.config.AWS_BUCKET))
        saved += len(keys)
    return saved


def shutdown(repo: Path, drained: bool) -> None:
    """Stop the local workers and the emulator: nothing of the run keeps running or listening.

    `drained`: the queue is known empty, so the workers are idle and need no long grace.
    """
    state = LocalState.load(repo)
    stop_local_tasks(repo, state, drained)
    if state.emulator_pid and alive(state.emulator_pid):
        os.kill(state.emulator_pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while alive(state.emulator_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(state.emulator_pid):
            os.kill(state.emulator_pid, signal.SIGKILL)
    (repo / STATE_DIR / "state.json").unlink(missing_ok=True)


class LocalBackend:
    """The commands served by the emulator; worker tasks as processes or containers on this computer.

    Without `endpoint_url`: the emulator daemon that several `run.py --local` commands share
    (the first starts it, monitor's end stops it); the tasks' ids are kept in .local/state.json.
    With one (localRun's emulator, running in this process): the ids are kept here only.
    """

    name = "local mode"
    spends_money = False
    accepts_stand_ins = True
    places_on_machine_types = False  # the tasks run here: Docker's memory is a limit, CPU shares a weight
    run_py = "python run.py --local"

    def __init__(self, repo: Path, workers: str | LocalFleet = "process", endpoint_url: str = "") -> None:
        self.repo = repo
        self.fleet = local_fleet(workers, repo) if isinstance(workers, str) else workers
        self.shared = not endpoint_url
        self.state = LocalState(endpoint_url=endpoint_url)
        self.task_ids: list[str] = []  # the tasks start_tasks started

    def session(self, region: str) -> boto3.Session:
        if self.shared:
            self.state = ensure_emulator(self.repo)
        activate(self.state.endpoint_url)
        return make_session(None, region)

    def check_tasks(self, config: DSConfig) -> None:
        self.fleet.check(config)

    def prepare(self, ctx: Context) -> None:
        prepare_account(ctx)

    def own_image(self, ctx: Context) -> PinnedImage | None:
        return self.fleet.image(ctx.config)

    def start_tasks(self, ctx: Context, run_id: str) -> None:
        self.task_ids = start_local_tasks(ctx, self.repo, self.state, self.fleet, run_id, persist=self.shared)

    def end_run(self, ctx: Context, drained: bool) -> None:
        if not self.shared:  # the emulator stops with its owner; what it held is the owner's to fetch
            stop_local_tasks(self.repo, self.state, drained)
            return
        saved = save_bucket(ctx, self.repo / LOCAL_OUTPUTS)
        shutdown(self.repo, drained)
        ctx.console.print(
            f"local mode: bucket saved to {self.repo / LOCAL_OUTPUTS} ({saved} files); workers and emulator stopped"
        )


def run_local_stop(config: DSConfig, spec: ToolSpec, console: Console, args: argparse.Namespace) -> int:
    return stop_local(config, spec, Path.cwd(), console)


def stop_local(config: DSConfig, spec: ToolSpec, repo: Path, console: Console) -> int:
    """localStop: save the emulated bucket if the emulator answers, then stop the workers and the emulator."""
    state = LocalState.load(repo)
    if not state.emulator_pid:
        console.print("local mode: nothing is running here")
        return 0
    if emulator_answers(state):
        backend = LocalBackend(repo)
        ctx = Context(config, spec, backend.session(config.AWS_REGION), console, backend)
        saved = save_bucket(ctx, repo / LOCAL_OUTPUTS)
        console.print(f"local mode: bucket saved to {repo / LOCAL_OUTPUTS} ({saved} files)")
    else:
        console.print("local mode: the emulator no longer answers: nothing could be saved (what it held is gone)")
    shutdown(repo, drained=False)
    console.print("local mode: workers and emulator stopped")
    return 0
