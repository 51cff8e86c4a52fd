"""`python run.py localRun JOBFILE`: a whole run on this computer, for free, in one command.

The same commands as on AWS, on the local backend, in one process: an emulator, setup,
inputs up, submitJob, startCluster (its backend starts local worker processes, or containers
of the worker image, in place of ECS tasks), then monitor's steps (shrink, then tear down),
outputs down. Its own: the emulator lives in this process (nothing is left for a later
command), the commands' chatter is quiet, and instead of monitor's log lines a live bar shows
queued / running / done / failed, stopping early if every worker task has exited (nothing
restarts them, as ECS would); a table sums the run up, with the reason of every failed job.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..config import DSConfig
from ..control.commands.cluster import start_cluster
from ..control.commands.data import chosen_bucket
from ..control.commands.monitor import Monitor
from ..control.commands.setup import setup
from ..control.commands.submit import submit
from ..control.common.context import Context
from ..control.common.run_record import RunRecord, load_monitor_file
from ..control.resources.teardown import Teardown, report
from ..control.views.failed_jobs import FailedJob, print_failed_jobs
from ..control.views.report import write_run_report
from ..jobs import Job, read_run_jobs
from ..outcomes import Outcome, default_prefix, latest_keys, latest_outcomes
from ..s3_files import download, listed_objects, upload
from ..spec import ToolSpec
from .backend import LocalBackend, bucket_folder
from .emulator import start_emulator
from .tasks import local_fleet

POLL_SECONDS = 1.0


@dataclass
class Tally:
    total: int
    queued: int = 0
    running: int = 0
    dead: int = 0
    states: Counter[str] = field(default_factory=Counter)

    @property
    def finished(self) -> int:
        return self.states["done"] + self.states["skipped"] + self.dead

    def text(self) -> str:
        s = self.states
        return (
            f"queued {self.queued}  running {self.running}  done {s['done']}  skipped {s['skipped']}  "
            f"failed {self.dead} (+{max(0, s['failed'] - self.dead)} retrying)"
        )


@dataclass(frozen=True)
class LocalRunRequest:
    job_file: Path
    fleet_file: Path
    inputs: Path | None
    input_prefix: str
    outputs: Path
    inputs_bucket: str | None = None  # default AWS_BUCKET
    jobs: list[Job] | None = None  # the Job file's jobs if read and checked already (read_run_jobs)


def run_local_run(config: DSConfig, spec: ToolSpec, console: Console, args: argparse.Namespace) -> int:
    request = LocalRunRequest(
        args.jobfile, args.fleet, args.inputs, args.input_prefix, args.outputs, args.inputs_bucket, args.checked_jobs
    )
    # What plays the ECS tasks: worker processes, or containers of the worker image.
    workers = "docker" if args.docker or args.localrun_docker else "process"
    return local_run(config, spec, Path.cwd(), request, console, workers=workers)


def local_run(
    config: DSConfig, spec: ToolSpec, repo: Path, request: LocalRunRequest, console: Console, workers: str = "process"
) -> int:
    """`workers`: "process" (this Python runs the worker and the tool) or "docker" (the worker image)."""
    started = time.monotonic()
    jobs = request.jobs
    if jobs is None:
        jobs = read_run_jobs(request.job_file, spec, config)  # a bad job file is refused before anything starts
    if request.inputs is not None and not request.inputs.is_dir():
        raise FileNotFoundError(f"{request.inputs}: input folder not found; give a folder of files to upload")
    inputs_bucket = chosen_bucket(spec, config, request.inputs_bucket, "--inputs-bucket")
    fleet = local_fleet(workers, repo)
    fleet.check(config)  # so is a missing Docker engine or image
    own_files = tempfile.TemporaryDirectory(prefix="localRun-")
    with start_emulator() as emulator:
        backend = LocalBackend(repo, fleet, emulator.endpoint_url)
        # The commands' own chatter is kept for AWS runs; here the bar and the summary speak.
        ctx = Context(config, spec, backend.session(config.AWS_REGION), Console(quiet=True), backend)
        backend.prepare(ctx)
        setup(ctx)
        if request.inputs is not None:
            sent = upload(ctx.client("s3"), inputs_bucket, request.inputs, request.input_prefix)
            console.print(f"{len(sent)} input file(s) from {request.inputs} uploaded to s3://{inputs_bucket}")
        submit(ctx, request.job_file, jobs)
        # Its own monitor file, never files/<APP_NAME>SpotFleetRequestId.json: that may be a real run's.
        monitor_file = Path(own_files.name) / f"{config.APP_NAME}SpotFleetRequestId.json"
        start_cluster(ctx, request.fleet_file, wait_seconds=30, poll_seconds=0.2, monitor_file=monitor_file)
        plan = load_monitor_file(monitor_file)
        ids = backend.task_ids  # startCluster started them
        kind = "local worker task(s)" if workers == "process" else "worker container(s)"
        console.print(f"{len(jobs)} job(s) on {len(ids)} {kind} x {config.DOCKER_CORES} worker(s)")
        drained = False
        try:
            tally, stranded = _watch(ctx, plan, len(jobs), console, lambda: fleet.running(ids))
            if stranded:
                left = len(jobs) - tally.finished
                console.print(
                    f"all {len(ids)} {kind} exited with {left} job(s) left (did a startup step fail?): "
                    f"see the first lines of each log; {fleet.where_logs_are()}"
                )
            drained = not stranded
            outcomes = latest_outcomes(ctx.client("s3"), config.AWS_BUCKET, default_prefix(config.APP_NAME))
            fetched = _fetch_outputs(ctx, outcomes, request.outputs)
            # In files/reports/ as monitor writes it (the monitor file itself lives in a temporary folder).
            report_line = write_run_report(ctx, plan, repo / "files")  # before the teardown empties the queues
            steps = Teardown(plan, ctx.session).run()
        finally:
            backend.end_run(ctx, drained)
            own_files.cleanup()
    _summary(console, tally, outcomes, fetched, request.outputs, time.monotonic() - started)
    console.print(report_line, highlight=False, soft_wrap=True)
    torn_down = all(step.ok for step in steps)
    if not torn_down:
        for line in report(steps):
            console.print(line)
    return 0 if tally.finished == len(jobs) and not tally.dead and torn_down else 1


def _tally(ctx: Context, plan: RunRecord, total: int) -> tuple[Tally, bool]:
    load = ctx.queue_load(plan.queue_name)
    # The state is in each record's key: a listing counts them, no record is read while polling.
    latest = latest_keys(ctx.client("s3"), ctx.config.AWS_BUCKET, default_prefix(ctx.config.APP_NAME))
    tally = Tally(total=total, states=Counter(k.state for k in latest.values()), dead=_dead_letters(ctx))
    if load is not None:
        tally.queued, tally.running = load.visible, load.in_flight
    return tally, load is None or load.empty


def _dead_letters(ctx: Context) -> int:
    dead = ctx.queue_load(ctx.config.SQS_DEAD_LETTER_QUEUE)
    return dead.visible if dead else 0


def _watch(
    ctx: Context, plan: RunRecord, total: int, console: Console, running: Callable[[], int]
) -> tuple[Tally, bool]:
    """Poll until the queue is empty, showing progress; the monitor's shrinking runs as on AWS.

    Also stops, returning True, when no worker task runs any more (nothing would ever drain
    the queue): in local mode nothing restarts a task, as ECS would.
    """
    monitor = Monitor(ctx, plan, interval=POLL_SECONDS)
    columns = (TextColumn("jobs"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        bar = progress.add_task("", total=total)
        while True:
            tally, empty = _tally(ctx, plan, total)
            progress.update(bar, completed=tally.finished, description=tally.text())
            if empty:
                return tally, False
            if not running():
                # The last job may have finished since the tally above: count again.
                tally, empty = _tally(ctx, plan, total)
                return tally, not empty
            if monitor.poll():
                return _tally(ctx, plan, total)[0], False
            time.sleep(POLL_SECONDS)


def _fetch_outputs(ctx: Context, outcomes: dict[str, Outcome], outputs: Path) -> int:
    """Each job's outputs from where its outcome record says they went, into bucket_folder()."""
    s3, aws_bucket = ctx.client("s3"), ctx.config.AWS_BUCKET
    places = {(o.output_bucket or aws_bucket, o.output_prefix) for o in outcomes.values() if o.output_prefix}
    fetched = 0
    for bucket in sorted({bucket for bucket, _ in places}):
        prefixes = {prefix for where, prefix in places if where == bucket}
        keys = sorted({key for prefix in prefixes for key, _ in listed_objects(s3, bucket, prefix)})
        download(s3, bucket, keys, bucket_folder(outputs, bucket, aws_bucket))
        fetched += len(keys)
    return fetched


def _summary(
    console: Console, tally: Tally, outcomes: dict[str, Outcome], fetched: int, outputs: Path, seconds: float
) -> None:
    table = Table(title="local run", show_header=False)
    table.add_row("jobs", str(tally.total))
    table.add_row("done", str(tally.states["done"]))
    table.add_row("skipped (already done)", str(tally.states["skipped"]))
    table.add_row("failed (dead-lettered)", str(tally.dead))
    table.add_row("wall time", f"{seconds:.1f} s")
    table.add_row("outputs", Text(f"{fetched} file(s) under {outputs}"))  # a path, not Rich markup
    console.print(table)
    failures = [o for o in outcomes.values() if o.state == "failed"]
    if failures:
        jobs = [
            FailedJob(
                o.job_id,
                "failed",
                o.attempt,
                o.exit_code,
                reason=o.error,
                tail=o.tail[-5:],
                log=f"{o.log_group} {o.log_stream}".strip(),
                permanent=o.permanent,
            )
            for o in failures
        ]
        print_failed_jobs(console, "failed jobs", jobs)
