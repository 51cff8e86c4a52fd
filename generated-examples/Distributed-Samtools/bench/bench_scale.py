"""Benchmark: every command of a run at 1,000, 10,000 and 100,000 jobs, on local mode's emulator.

    python bench/bench_scale.py                              # 1,000, 10,000 and 100,000 jobs
    python bench/bench_scale.py --sizes 10000 100000 --only status report
    python bench/bench_scale.py --sizes 10000 --against main # and the same on main's runtime

Per size, the emulator (moto's server with fast_sqs and fast_s3, in this process) is reset and given a
finished run straight into moto: one outcome record per job (1% failed three times and
dead-lettered, 1% interrupted once then done) and the dead-lettered jobs' messages. Then each
command runs as `run.py` runs it (the CLI's parser and the command table's handler), each in a process of its
own: makeJobs (a table of N rows), submitJob (its Job file), status, estimate, report and
retryFailed. Printed: seconds, the process's peak memory and the CPU seconds of the command
(with its child processes) and of the emulator per command and size, then the
growth exponent of each between sizes (1: linear; 2: quadratic; a least-squares fit of log
figure on log jobs). Absolute times are the emulator's; the growth carries over.

BENCH_PROFILE=FOLDER writes a cProfile of each command's process there (COMMAND-SIZE.prof).

--against REF runs the same bench on REF's runtime (its template/, from git, in a temporary
folder: this script and its helpers are copied beside it) and prints both, with the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import requests
from _support import REGION, bench_config
from bench_submit import SPEC, exponent
from rich.console import Console

from ds_runtime.aws import make_session
from ds_runtime.control import cli
from ds_runtime.control.common.context import Context
from ds_runtime.control.resources.account import setup_account
from ds_runtime.entry import handler
from ds_runtime.jobs import JOB_ID_KEY, job_id_of
from ds_runtime.outcomes import Outcome, app_attribute, default_prefix, outcome_key

COMMANDS = ("makeJobs", "submitJob", "status", "estimate", "report", "retryFailed")
OUTPUT = "out"
FAILED_EVERY = 100  # 1%: failed three times, dead-lettered
INTERRUPTED_EVERY = 97  # ~1%: interrupted once, then done
WORKERS = 50
PROFILE = "BENCH_PROFILE"  # a folder: each command's process writes its cProfile there (COMMAND-SIZE.prof)


def peak_mb() -> float:
    """This process's peak resident memory since it started. Not getrusage's ru_maxrss, which a process
    started by fork and exec inherits from its parent (here the emulator, holding the whole run)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024  # kB


def context() -> Context:
    return Context(bench_config(SPEC), SPEC, make_session(None, REGION), Console(file=io.StringIO()))


def job_values(i: int) -> dict[str, str]:
    return {"output": OUTPUT, "sample": f"s{i}"}


def records(size: int) -> list[Outcome]:
    """A finished run's outcome records: every job's attempts, spread over WORKERS workers."""
    start, found = datetime(2025, 1, 1, tzinfo=timezone.utc), []
    for i in range(size):
        job_id = job_id_of(job_values(i))
        states = ["done"]
        if i % FAILED_EVERY == 0:
            states = ["failed"] * 3
        elif i % INTERRUPTED_EVERY == 0:
            states = ["interrupted", "done"]
        for attempt, state in enumerate(states, 1):
            begun = start + timedelta(seconds=60 * (i + attempt * size) / WORKERS)
            found.append(
                Outcome(
                    job_id,
                    attempt,
                    state,  # type: ignore[arg-type]
                    begun.isoformat(),
                    (begun + timedelta(seconds=60)).isoformat(),
                    60.0,
                    "host",
                    exit_code={"done": 0, "failed": 1}.get(state),
                    tail=[f"line {n}" for n in range(20)],
                    output_prefix=f"{OUTPUT}/s{i}",
                    worker=f"host/{i % WORKERS}",
                )
            )
    return found


def seed(endpoint: str, size: int) -> None:
    """A fresh emulator holding a finished run of `size` jobs (records straight into moto's S3)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    requests.post(f"{endpoint}/moto-api/reset", timeout=60).raise_for_status()
    ctx = context()
    c = ctx.config
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=c.AWS_BUCKET)
    setup_account(ctx)  # submitJob grants the task role its jobs' output prefixes: the role must exist
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.create_queue(QueueName=c.SQS_QUEUE_NAME)
    dead = sqs.create_queue(QueueName=c.SQS_DEAD_LETTER_QUEUE)["QueueUrl"]
    s3 = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    prefix = default_prefix(c.APP_NAME)
    for record in records(size):
        s3.put_object(c.AWS_BUCKET, outcome_key(prefix, record), record.to_json().encode())
    bodies = [json.dumps({**job_values(i), JOB_ID_KEY: job_id_of(job_values(i))}) for i in range(0, size, FAILED_EVERY)]
    for n in range(0, len(bodies), 10):
        entries = [
            {"Id": str(k), "MessageBody": b, "MessageAttributes": app_attribute(c.APP_NAME)}
            for k, b in enumerate(bodies[n : n + 10])
        ]
        sqs.send_message_batch(QueueUrl=dead, Entries=entries)


def command_line(command: str, size: int, folder: Path) -> list[str]:
    table, job_file = folder / f"table{size}.csv", folder / f"jobs{size}.json"
    return {
        "makeJobs": ["makeJobs", "table", str(table), "--set", f"output={OUTPUT}", "--out", str(job_file), "--force"],
        "submitJob": ["submitJob", str(job_file)],
        "status": ["status"],
        "estimate": ["estimate", str(job_file)],
        "report": ["report", "--out", str(folder / "report.html")],
        "retryFailed": ["retryFailed"],
    }[command]


def one_command(command: str, size: int, folder: Path) -> dict[str, float]:
    """One command in this process (a fresh one per command and size): its seconds and memory."""
    args = cli.parser().parse_args(command_line(command, size, folder))
    args.checked_jobs = None  # as run.py without its preflight: the command reads the Job file itself
    ctx = context()
    start_mb = peak_mb()
    profile = cProfile.Profile() if PROFILE in os.environ else None
    started, cpu = time.perf_counter(), cpu_seconds(children=True)
    with profile or contextlib.nullcontext():
        assert handler(cli.command(args.command))(ctx, args) == 0, ctx.console.file.getvalue()  # type: ignore[attr-defined]
    seconds, cpu = time.perf_counter() - started, cpu_seconds(children=True) - cpu
    if profile is not None:
        profile.dump_stats(Path(os.environ[PROFILE]) / f"{command}-{size}.prof")
    return {"seconds": seconds, "client_cpu": cpu, "peak_mb": peak_mb(), "growth_mb": peak_mb() - start_mb}


def cpu_seconds(children: bool) -> float:
    """This process's CPU seconds, all threads, and its finished children's if `children` (a command's
    reading processes); without them in the bench's own process: the emulator's work."""
    used = os.times()
    return used.user + used.system + (used.children_user + used.children_system if children else 0.0)


def run_sizes(sizes: list[int], commands: list[str]) -> dict[int, dict[str, dict[str, float]]]:
    from ds_runtime.local.emulator import start_emulator

    found: dict[int, dict[str, dict[str, float]]] = {}
    with start_emulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(AWS_ENDPOINT_URL=emulator.endpoint_url, AWS_ACCESS_KEY_ID="b", AWS_SECRET_ACCESS_KEY="b")
        folder = Path(tmp)
        for size in sizes:
            clock = time.perf_counter()
            seed(emulator.endpoint_url, size)
            rows = "\n".join(f"s{i}" for i in range(size))
            (folder / f"table{size}.csv").write_text(f"sample\n{rows}\n")
            print(f"{size} jobs: emulator seeded in {time.perf_counter() - clock:.1f} s", flush=True)
            found[size] = {}
            for command in commands:
                server = cpu_seconds(children=False)
                done = subprocess.run(
                    [sys.executable, __file__, "--one", command, str(size), str(folder)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    raise SystemExit(f"{command} at {size} jobs failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
                row = found[size][command] = json.loads(done.stdout.strip().splitlines()[-1])
                row["server_cpu"] = cpu_seconds(children=False) - server
                print(
                    f"  {command:<12} {row['seconds']:>8.2f} s {row['peak_mb']:>7.0f} MB peak;"
                    f" CPU s: command {row['client_cpu']:.2f}, emulator {row['server_cpu']:.2f}",
                    flush=True,
                )
    return found


def show(figures: dict[int, dict[str, dict[str, float]]], commands: list[str], title: str) -> None:
    print(f"\n{title}: seconds (peak MB)")
    print(f"{'jobs':>7} | " + " | ".join(f"{c:>14}" for c in commands))
    for size, row in figures.items():
        print(f"{size:>7} | " + " | ".join(f"{row[c]['seconds']:>7.2f} ({row[c]['peak_mb']:>4.0f})" for c in commands))
    if len(figures) > 1:
        sizes = list(figures)
        times = [exponent(sizes, [figures[s][c]["seconds"] for s in sizes]) for c in commands]
        memory = [exponent(sizes, [max(figures[s][c]["growth_mb"], 1.0) for s in sizes]) for c in commands]
        for what, found in (("time", times), ("memory above the start", memory)):
            pairs = ", ".join(f"{c} {e:.2f}" for c, e in zip(commands, found, strict=True))
            print(f"growth exponent (1 = linear, 2 = quadratic), {what}: {pairs}")


def against(ref: str, argv: list[str]) -> dict[int, dict[str, dict[str, float]]]:
    """The same bench on `ref`'s runtime, in a temporary copy of its template/; its figures."""
    here = Path(__file__).resolve().parent
    root = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    top = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    archive = subprocess.run(["git", "-C", top.stdout.strip(), "archive", ref, "template"], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"--against {ref}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    for name in ("bench_scale.py", "_support.py", "bench_submit.py"):
        (root / "template" / "bench" / name).write_bytes((here / name).read_bytes())
    out = root / "figures.json"
    script = root / "template" / "bench" / "bench_scale.py"
    subprocess.run([sys.executable, str(script), *argv, "--figures", str(out)], check=True, cwd=root / "template")
    return {int(k): v for k, v in json.loads(out.read_text()).items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="job counts")
    p.add_argument("--only", nargs="+", choices=COMMANDS, help="these commands (default: all, in a run's order)")
    p.add_argument("--against", metavar="REF", help="also run on this git ref's runtime and compare")
    p.add_argument("--figures", type=Path, help=argparse.SUPPRESS)  # --against's child: where to put its figures
    p.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # a child: COMMAND SIZE FOLDER, figures as JSON
    args = p.parse_args()
    if args.one:
        command, size, folder = args.one
        print(json.dumps(one_command(command, int(size), Path(folder))))
        return
    commands = [c for c in COMMANDS if not args.only or c in args.only]
    if {"submitJob", "estimate"} & set(commands) and "makeJobs" not in commands:
        commands.insert(0, "makeJobs")  # they read the Job file it writes
    sizes = [str(s) for s in args.sizes]
    old = against(args.against, ["--sizes", *sizes, "--only", *commands]) if args.against else None
    figures = run_sizes(args.sizes, commands)
    if args.figures:
        args.figures.write_text(json.dumps(figures))
        return
    if old is not None:
        show(old, commands, f"{args.against}'s runtime")
    show(figures, commands, "this runtime")
    if old is not None:
        print("\nspeed-up (old seconds / new seconds):")
        for size in figures:
            ratios = (f"{c} {old[size][c]['seconds'] / figures[size][c]['seconds']:.1f}x" for c in commands)
            print(f"{size:>7} | " + " | ".join(ratios))


if __name__ == "__main__":
    main()
