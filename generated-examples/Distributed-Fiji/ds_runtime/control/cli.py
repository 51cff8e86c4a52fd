"""run.py's commands, in one table: DS's four commands with DS's names and arguments, plus account setup,
cost and failure commands, data in and out, local mode (--local, localRun) and buildImage.

The parser, the entry point's dispatch (ds_runtime/entry.py) and the commands page (docs.py) all read
COMMANDS, so a command cannot be offered without being run, nor run as another one. A command's module
is imported only when it runs: `run.py --help` imports none of them (nor boto3), so it answers at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

LOCAL_OUTPUTS = "local-outputs"  # where local mode puts what the emulated bucket held
BUCKET_HELP = "a bucket config.py names for this run (AWS_BUCKET, a tool bucket key or JOB_BUCKETS); default AWS_BUCKET"


class Runs(Enum):
    """Where a command runs, and so what the entry point calls its function with."""

    BACKEND = "backend"  # (ctx, args): a Context on AWS or, with --local, on the local emulator
    IMAGE = "image"  # (ctx, args): a Context with no AWS profile or emulator (Docker only)
    LOCAL = "local"  # (config, spec, console, args): local mode's own commands, which start what they need
    CHECK = "check"  # (found): the offline checks' result (check.Preflight)


def _nothing(p: argparse.ArgumentParser) -> None:
    pass


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    module: str  # under ds_runtime, e.g. "control.commands.submit": imported only when the command runs
    function: str  # its entry in that module, called as `runs` says
    arguments: Callable[[argparse.ArgumentParser], None] = _nothing
    runs: Runs = Runs.BACKEND
    description: str | None = None  # a longer text for the command's --help, shown as written


def _check(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobfile", type=Path, nargs="?", help="a Job file, e.g. files/exampleJob.json")
    p.add_argument("fleetfile", type=Path, nargs="?", help="a Fleet file, e.g. files/exampleFleet.json")


def _submit_job(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobfile", type=Path, help="a Job file, e.g. files/exampleJob.json")


def _start_cluster(p: argparse.ArgumentParser) -> None:
    p.add_argument("fleetfile", type=Path, help="a Fleet file, e.g. files/exampleFleet.json")
    p.add_argument("--wait", type=float, default=600, help="seconds to wait for the first machine (default 600)")
    p.add_argument("--yes", action="store_true", help="start without asking (the plan and cost are still shown)")
    p.add_argument("--job-seconds", type=float, help="seconds one job takes, for the cost shown (default: measured)")


def _monitor(p: argparse.ArgumentParser) -> None:
    p.add_argument("monitorfile", type=Path, help="the file startCluster wrote")
    p.add_argument(
        "cheapest",
        nargs="?",
        default="",
        help="'cheapest' (or True, as in DS): after 15 minutes, stop replacing machines lost to spot interruptions",
    )
    p.add_argument("--interval", type=float, default=60, help="seconds between looks at the queue (default 60)")


MAKE_JOBS_EXAMPLES = """Write a DS-format Job file from data; every job is checked as submitJob checks it. E.g.:
  makeJobs listing projects/x/images/ --pattern '{plate}/{well}_s{site}_w*.tif' --set output=... --out files/p1.json
  makeJobs loaddata load_data.csv --group-by Metadata_Plate,Metadata_Well --set output=... --out files/p1.json
  makeJobs table jobs.tsv --map COLUMN=FIELD --set output=... --out files/jobs.json
`run.py makeJobs SOURCE --help` for each source's options."""


def _make_jobs(p: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, required=True, help="the Job file to write, e.g. files/plate1.json")
    common.add_argument("--force", action="store_true", help="replace --out if it exists")
    common.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a shared field, or a job field with one value for every job (repeatable)",
    )
    common.add_argument(
        "--map",
        dest="maps",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="the job field a column fills (FIELD.KEY: a key of a mapping field; COLUMN=: leave it out)",
    )
    sources = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    load = sources.add_parser("loaddata", parents=[common], help="one job per group of a LoadData CSV's rows")
    load.add_argument("csv", type=Path, help="the LoadData CSV")
    load.add_argument("--group-by", required=True, help="columns whose values make a group, e.g. Metadata_Plate,...")
    listing = sources.add_parser(
        "listing", parents=[common], help="one job per group of files under an S3 prefix (or a local folder)"
    )
    listing.add_argument(
        "prefix", nargs="?", default="", help="S3 prefix in the bucket, e.g. projects/demo/images/ (default: all)"
    )
    listing.add_argument("--pattern", required=True, help="path after the prefix, e.g. '{plate}/{well}_s{site}.tif'")
    listing.add_argument("--group-by", help="fields of the pattern that make a job (default: all of them)")
    listing.add_argument("--bucket", help="a bucket of this run (default AWS_BUCKET)")
    listing.add_argument(
        "--folder", type=Path, help="list this local folder instead, as if uploaded with uploadInputs FOLDER PREFIX"
    )
    table = sources.add_parser("table", parents=[common], help="one job per row of a CSV or TSV table")
    table.add_argument("table", type=Path, help="a .csv or .tsv file with a header row")


def _estimate(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobfile", type=Path, help="a Job file, e.g. files/exampleJob.json")
    p.add_argument("fleetfile", type=Path, nargs="?", help="a Fleet file: prices in its subnets' zones only")
    p.add_argument("--job-seconds", type=float, help="seconds one job takes (default: median of finished jobs)")
    p.add_argument("--json", action="store_true", help="print JSON instead")


def _status(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead")


def _report(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("report.html"), help="where to write it (default report.html)")
    p.add_argument(
        "--monitor-file", type=Path, help="startCluster's file, for the machines' real hours (default: if present)"
    )


def _export(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ro-crate", type=Path, required=True, metavar="DIR", help="the folder to write the crate in (new or empty)"
    )
    p.add_argument(
        "--job-file",
        dest="job_files",
        type=Path,
        action="append",
        default=[],
        help="a Job file the run submitted, copied into the crate (repeatable; default: none)",
    )
    p.add_argument(
        "--license", help="the crate's license, a URL, e.g. https://spdx.org/licenses/CC-BY-4.0 (default: none chosen)"
    )


def _retry_failed(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="job ids as `status` shows them (default: all)")


def _cleanup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    p.add_argument("--yes", action="store_true", help="delete without asking")
    p.add_argument("--files", type=Path, default=Path("files"), help="where monitor files are (default: files)")


def _setup_account(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--print-policy", action="store_true", help="only print the policy the commands need (for their user)"
    )


def _upload_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", type=Path, help="local folder; its files keep their relative paths")
    p.add_argument("prefix", nargs="?", default="", help="S3 prefix to put them under (default: bucket root)")
    p.add_argument("--bucket", help=BUCKET_HELP)


def _download_outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("prefix", help="S3 prefix, e.g. the Job file's output")
    p.add_argument("folder", type=Path, help="local folder; files land under folder/<key>")
    p.add_argument("--bucket", help=BUCKET_HELP)


def _local_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobfile", type=Path, help="a Job file, e.g. files/exampleJob.json")
    p.add_argument("--fleet", type=Path, default=Path("files/exampleFleet.json"), help="Fleet file (as is)")
    p.add_argument("--inputs", type=Path, help="local folder to upload as inputs first")
    p.add_argument("--input-prefix", default="", help="S3 prefix for those inputs (default: bucket root)")
    p.add_argument(
        "--inputs-bucket", help="the bucket for those inputs, e.g. config.py's SOURCE_BUCKET; " + BUCKET_HELP
    )
    p.add_argument("--outputs", type=Path, default=Path(LOCAL_OUTPUTS), help="where outputs are fetched")
    p.add_argument(
        "--docker",
        action="store_true",
        dest="localrun_docker",  # not `docker`: a subcommand's default would overwrite the global flag
        help="workers as containers of the worker image (DOCKERHUB_TAG; build it with buildImage)",
    )


def _build_image(p: argparse.ArgumentParser) -> None:
    p.add_argument("--push", action="store_true", help="then push it to the tag's registry (after docker login)")
    p.add_argument(
        "--build-arg",
        dest="build_args",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Dockerfile ARG, e.g. WORKER_PYTHON=/usr/bin/python3 (repeatable)",
    )
    p.add_argument("--network", help="the build's network, e.g. host to reach a package index on 127.0.0.1")
    p.add_argument("--platform", help="e.g. linux/amd64 (x86 machines) when building on an arm64 computer")
    p.add_argument("--no-cache", action="store_true", help="rebuild every layer")


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "check",
            "check config.py (and a Job and a Fleet file) offline, and that the containers fit each MACHINE_TYPE;"
            " create nothing",
            "control.commands.check",
            "report",
            _check,
            runs=Runs.CHECK,
        ),
        Command(
            "setup",
            "create the queues, ECS cluster, task definition and service",
            "control.commands.setup",
            "run_setup",
        ),
        Command(
            "submitJob",
            "check a job file and put one message per job on the queue",
            "control.commands.submit",
            "run_submit_job",
            _submit_job,
        ),
        Command(
            "startCluster",
            "ask for spot machines and start the workers",
            "control.commands.cluster",
            "run_start_cluster",
            _start_cluster,
        ),
        Command(
            "monitor",
            "shrink the fleet as jobs finish and tear everything down at the end",
            "control.commands.monitor",
            "run_monitor",
            _monitor,
        ),
        Command(
            "makeJobs",
            "write a Job file from a LoadData CSV, a listing of files, or a table",
            "control.commands.make_jobs",
            "run_make_jobs",
            _make_jobs,
            description=MAKE_JOBS_EXAMPLES,
        ),
        Command(
            "estimate",
            "what a Job file will cost and when it will finish (nothing starts)",
            "control.views.estimate",
            "run_estimate",
            _estimate,
        ),
        Command(
            "status",
            "jobs queued, running, done, failed, dead-lettered; why jobs failed",
            "control.views.status",
            "run_status",
            _status,
        ),
        Command(
            "report",
            "one HTML page on the run: timeline, durations, peak memory, failures, cost",
            "control.views.report",
            "run_report",
            _report,
        ),
        Command(
            "export",
            "write the run as a Workflow Run RO-Crate: each attempt's image, command, inputs, outputs with checksums",
            "control.commands.export",
            "run_export",
            _export,
        ),
        Command(
            "retryFailed",
            "put dead-lettered jobs back on the queue (all, or those named)",
            "control.commands.retry",
            "run_retry_failed",
            _retry_failed,
        ),
        Command(
            "cleanup",
            "find and delete everything of this app left in AWS",
            "control.commands.cleanup",
            "run_cleanup",
            _cleanup,
        ),
        Command(
            "setupAccount",
            "once per account: create this app's least-privilege IAM roles",
            "control.resources.account",
            "run_setup_account",
            _setup_account,
        ),
        Command(
            "undoAccount", "delete the IAM roles setupAccount created", "control.resources.account", "run_undo_account"
        ),
        Command(
            "uploadInputs",
            "copy a local folder into the bucket (AWS_BUCKET, or --bucket)",
            "control.commands.data",
            "run_upload_inputs",
            _upload_inputs,
        ),
        Command(
            "downloadOutputs",
            "copy everything under an S3 prefix into a local folder",
            "control.commands.data",
            "run_download_outputs",
            _download_outputs,
        ),
        Command(
            "localRun",
            "try a Job file on this computer, free: setup, submitJob, startCluster and monitor in one go",
            "local.oneshot",
            "run_local_run",
            _local_run,
            runs=Runs.LOCAL,
        ),
        Command(
            "localStop",
            "local mode: save the emulated bucket to local-outputs/ and stop the emulator and workers, "
            "jobs or not (monitor does this when the queue is empty)",
            "local.backend",
            "run_local_stop",
            runs=Runs.LOCAL,
        ),
        Command(
            "buildImage",
            "build the worker image from the Dockerfile, tagged DOCKERHUB_TAG",
            "control.commands.image",
            "run_build_image",
            _build_image,
            runs=Runs.IMAGE,
        ),
    )
}


def command(name: str) -> Command:
    """The command of that name; an unknown name is an error, never another command."""
    try:
        return COMMANDS[name]
    except KeyError:
        raise LookupError(f"no command {name!r}: `python run.py --help` lists them") from None


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
    for c in COMMANDS.values():
        shown = {"description": c.description, "formatter_class": argparse.RawDescriptionHelpFormatter}
        c.arguments(commands.add_parser(c.name, help=c.help, **(shown if c.description else {})))
    return p
