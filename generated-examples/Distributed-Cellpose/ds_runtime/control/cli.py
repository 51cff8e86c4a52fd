"""run.py's commands: DS's four commands with DS's names and arguments, plus account setup, cost and
failure commands, data in and out, local mode (--local, localRun) and buildImage; run on a backend
that the entry point (ds_runtime/entry.py) picks."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from ..config import DSConfig
from ..spec import ToolSpec
from .account import print_user_policy, setup_account, undo_account
from .cleanup import cleanup
from .cluster import start_cluster
from .confirm import confirm_policy
from .context import Backend, CommandError, Context
from .data import download_outputs, upload_inputs
from .estimate import estimate_command
from .make_jobs import add_parser as add_make_jobs_parser
from .make_jobs import make_jobs_command
from .monitor import monitor
from .report import report_command
from .retry import retry_failed
from .run_record import load_monitor_file
from .setup import setup
from .status import status
from .submit import submit

CHEAPEST_WORDS = ("cheapest", "true")
LOCAL_OUTPUTS = "local-outputs"  # where local mode puts what the emulated bucket held
BUCKET_HELP = "a bucket config.py names for this run (AWS_BUCKET, a tool bucket key or JOB_BUCKETS); default AWS_BUCKET"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run.py",
        description="Run this repository's tool over many jobs on AWS (Distributed-Something).",
        epilog="In order: setupAccount (once), setup, submitJob, startCluster, monitor. "
        "Cost and failures: estimate, status, report, retryFailed, cleanup.",
    )
    p.add_argument("--config", type=Path, default=Path("config.py"), help="settings file (default: config.py)")
    p.add_argument("--spec", type=Path, default=Path("tool/spec.json"), help="tool spec (default: tool/spec.json)")
    p.add_argument(
        "--local",
        action="store_true",
        help="run on this computer for free: an AWS emulator and local workers instead of AWS",
    )
    p.add_argument(
        "--docker",
        action="store_true",
        help="with --local: the workers are containers of the worker image (DOCKERHUB_TAG), not processes",
    )
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="check config.py (and a Job and a Fleet file) offline, and that the containers fit each "
        "MACHINE_TYPE; create nothing",
    )
    check.add_argument("jobfile", type=Path, nargs="?", help="a Job file, e.g. files/exampleJob.json")
    check.add_argument("fleetfile", type=Path, nargs="?", help="a Fleet file, e.g. files/exampleFleet.json")
    commands.add_parser("setup", help="create the queues, ECS cluster, task definition and service")
    job = commands.add_parser("submitJob", help="check a job file and put one message per job on the queue")
    job.add_argument("jobfile", type=Path, help="a Job file, e.g. files/exampleJob.json")
    fleet = commands.add_parser("startCluster", help="ask for spot machines and start the workers")
    fleet.add_argument("fleetfile", type=Path, help="a Fleet file, e.g. files/exampleFleet.json")
    fleet.add_argument("--wait", type=float, default=600, help="seconds to wait for the first machine (default 600)")
    fleet.add_argument("--yes", action="store_true", help="start without asking (the plan and cost are still shown)")
    fleet.add_argument(
        "--job-seconds", type=float, help="seconds one job takes, for the cost shown (default: measured)"
    )
    mon = commands.add_parser("monitor", help="shrink the fleet as jobs finish and tear everything down at the end")
    mon.add_argument("monitorfile", type=Path, help="the file startCluster wrote")
    mon.add_argument(
        "cheapest",
        nargs="?",
        default="",
        help="'cheapest' (or True, as in DS): after 15 minutes, stop replacing machines lost to spot interruptions",
    )
    mon.add_argument("--interval", type=float, default=60, help="seconds between looks at the queue (default 60)")
    add_make_jobs_parser(commands)
    cost = commands.add_parser("estimate", help="what a Job file will cost and when it will finish (nothing starts)")
    cost.add_argument("jobfile", type=Path, help="a Job file, e.g. files/exampleJob.json")
    cost.add_argument("fleetfile", type=Path, nargs="?", help="a Fleet file: prices in its subnets' zones only")
    cost.add_argument("--job-seconds", type=float, help="seconds one job takes (default: median of finished jobs)")
    cost.add_argument("--json", action="store_true", help="print JSON instead")
    state = commands.add_parser("status", help="jobs queued, running, done, failed, dead-lettered; why jobs failed")
    state.add_argument("--json", action="store_true", help="print JSON instead")
    page = commands.add_parser("report", help="one HTML page on the run: timeline, durations, failures, cost")
    page.add_argument("--out", type=Path, default=Path("report.html"), help="where to write it (default report.html)")
    page.add_argument(
        "--monitor-file", type=Path, help="startCluster's file, for the machines' real hours (default: if present)"
    )
    retry = commands.add_parser("retryFailed", help="put dead-lettered jobs back on the queue (all, or those named)")
    retry.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="job ids as `status` shows them (default: all)")
    clean = commands.add_parser("cleanup", help="find and delete everything of this app left in AWS")
    clean.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    clean.add_argument("--yes", action="store_true", help="delete without asking")
    clean.add_argument("--files", type=Path, default=Path("files"), help="where monitor files are (default: files)")
    account = commands.add_parser("setupAccount", help="once per account: create this app's least-privilege IAM roles")
    account.add_argument(
        "--print-policy", action="store_true", help="only print the policy the commands need (for their user)"
    )
    commands.add_parser("undoAccount", help="delete the IAM roles setupAccount created")
    up = commands.add_parser("uploadInputs", help="copy a local folder into the bucket (AWS_BUCKET, or --bucket)")
    up.add_argument("folder", type=Path, help="local folder; its files keep their relative paths")
    up.add_argument("prefix", nargs="?", default="", help="S3 prefix to put them under (default: bucket root)")
    up.add_argument("--bucket", help=BUCKET_HELP)
    down = commands.add_parser("downloadOutputs", help="copy everything under an S3 prefix into a local folder")
    down.add_argument("prefix", help="S3 prefix, e.g. the Job file's output")
    down.add_argument("folder", type=Path, help="local folder; files land under folder/<key>")
    down.add_argument("--bucket", help=BUCKET_HELP)
    trial = commands.add_parser(
        "localRun",
        help="try a Job file on this computer, free: setup, submitJob, startCluster and monitor in one go",
    )
    trial.add_argument("jobfile", type=Path, help="a Job file, e.g. files/exampleJob.json")
    trial.add_argument("--fleet", type=Path, default=Path("files/exampleFleet.json"), help="Fleet file (as is)")
    trial.add_argument("--inputs", type=Path, help="local folder to upload as inputs first")
    trial.add_argument("--input-prefix", default="", help="S3 prefix for those inputs (default: bucket root)")
    trial.add_argument(
        "--inputs-bucket", help="the bucket for those inputs, e.g. config.py's SOURCE_BUCKET; " + BUCKET_HELP
    )
    trial.add_argument("--outputs", type=Path, default=Path(LOCAL_OUTPUTS), help="where outputs are fetched")
    trial.add_argument(
        "--docker",
        action="store_true",
        dest="localrun_docker",  # not `docker`: a subcommand's default would overwrite the global flag
        help="workers as containers of the worker image (DOCKERHUB_TAG; build it with buildImage)",
    )
    commands.add_parser(
        "localStop",
        help="local mode: save the emulated bucket to local-outputs/ and stop the emulator and workers, "
        "jobs or not (monitor does this when the queue is empty)",
    )
    build = commands.add_parser("buildImage", help="build the worker image from the Dockerfile, tagged DOCKERHUB_TAG")
    build.add_argument("--push", action="store_true", help="then push it to the tag's registry (after docker login)")
    build.add_argument(
        "--build-arg",
        dest="build_args",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Dockerfile ARG, e.g. WORKER_PYTHON=/usr/bin/python3 (repeatable)",
    )
    build.add_argument("--network", help="the build's network, e.g. host to reach a package index on 127.0.0.1")
    build.add_argument("--platform", help="e.g. linux/amd64 (x86 machines) when building on an arm64 computer")
    build.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    return p


def run_command(args: argparse.Namespace, ctx: Context) -> int:
    if args.command == "uploadInputs":
        return upload_inputs(ctx, args.folder, args.prefix, args.bucket)
    if args.command == "downloadOutputs":
        return download_outputs(ctx, args.prefix, args.folder, args.bucket)
    if args.command == "setup":
        return setup(ctx)
    if args.command == "submitJob":
        return submit(ctx, args.jobfile)
    if args.command == "makeJobs":
        return make_jobs_command(ctx, args)
    if args.command == "startCluster":
        confirm = confirm_policy(ctx, args.yes, "startCluster")  # refuses at once without a terminal or --yes
        return start_cluster(ctx, args.fleetfile, wait_seconds=args.wait, confirm=confirm, job_seconds=args.job_seconds)
    if args.command == "estimate":
        return estimate_command(ctx, args.jobfile, args.fleetfile, args.job_seconds, as_json=args.json)
    if args.command == "status":
        return status(ctx, as_json=args.json)
    if args.command == "report":
        default = Path("files") / f"{ctx.config.APP_NAME}SpotFleetRequestId.json"
        monitor_file = args.monitor_file or (default if default.exists() else None)
        return report_command(ctx, args.out, load_monitor_file(monitor_file) if monitor_file else None)
    if args.command == "retryFailed":
        return retry_failed(ctx, args.job_ids)
    if args.command == "cleanup":
        return cleanup(ctx, dry_run=args.dry_run, yes=args.yes, files=args.files)
    if args.command == "monitor":
        word = args.cheapest.strip().lower()
        if word not in ("", "false", *CHEAPEST_WORDS):
            raise CommandError(f"monitor's last argument {args.cheapest!r}: use 'cheapest' or leave it out")
        code = monitor(ctx, args.monitorfile, cheapest=word in CHEAPEST_WORDS, interval=args.interval)
        ctx.backend.end_run(ctx, drained=code == 0)
        return code
    if args.command == "setupAccount":
        return print_user_policy(ctx) if args.print_policy else setup_account(ctx)
    return undo_account(ctx)


def run_on(backend: Backend, args: argparse.Namespace, config: DSConfig, spec: ToolSpec, console: Console) -> int:
    """A command on this backend: its files checked, then the session and the account it needs, then the command."""
    check_files_first(args)  # bad input starts nothing, not even the local emulator
    if args.command == "startCluster":
        backend.check_tasks(config)  # nor does a missing Docker engine or image
    ctx = Context(config, spec, backend.session(config.AWS_REGION), console, backend)
    backend.prepare(ctx)
    return run_command(args, ctx)


def check_files_first(args: argparse.Namespace) -> None:
    # Job and Fleet files were checked by `preflight`, as `check` does.
    if args.command == "monitor":
        load_monitor_file(args.monitorfile)
    elif args.command == "uploadInputs" and not args.folder.is_dir():
        raise CommandError(f"{args.folder}: input folder not found; give a folder of files to upload")
