"""Benchmark: submitJob (batches of 10, a few threads) vs DS's one SendMessage per job; and how submitJob scales.

Both send the same jobs to their own fresh queue on one emulator (local mode's: moto's
server in its own process, with fast_sqs unless --plain) and are timed end to end
(reading the job file included). Absolute rates are the emulator's, not AWS's; the
API-call counts and the ratio are what carry over.

    python bench/bench_submit.py                        # 1,000 and 10,000 jobs, local mode's emulator
    python bench/bench_submit.py --plain --sizes 1000   # plain moto slows as the queue deepens

--scale times `run.py submitJob` alone at each size, each in a process of its own: the checks (reading
and checking config.py and the Job file, the task role's output grant: everything before the first
message is sent), the whole command, jobs per second and the process's peak memory; then the growth
exponent of each between sizes (1: linear; 2: quadratic), from a least-squares fit of log time
(or memory above the start) on log jobs.

    python bench/bench_submit.py --scale                # 1,000, 10,000 and 100,000 jobs

--senders times the send phase alone (from the first SendMessageBatch to the end) with each number of
sender threads, every SQS call delayed by --rtt milliseconds first (a round trip to AWS, which the
emulator on this computer lacks), against the bound of that many threads: threads x 10 jobs per round trip.

    python bench/bench_submit.py --senders 4 8 16 32 --rtt 20 --sizes 10000
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from _support import REGION, SPEC, SPEC_DATA, bench_config, write_config_file
from rich.console import Console

from ds_runtime.aws import make_session
from ds_runtime.control.commands import submit as submit_module
from ds_runtime.control.commands.submit import submit
from ds_runtime.control.common.context import Context
from ds_runtime.control.resources.account import setup_account
from ds_runtime.entry import main as run_py
from ds_runtime.jobs import read_job_file
from ds_runtime.local.emulator import READY_LINE


def count_calls(client: object) -> list[int]:
    calls: list[int] = []
    client.meta.events.register("before-call.sqs.*", lambda **kw: calls.append(1))  # type: ignore[attr-defined]
    return calls


def ours(job_file: Path, queue: str) -> tuple[float, int]:
    config = bench_config(SPEC, SQS_QUEUE_NAME=queue)
    ctx = Context(config, SPEC, make_session(None, REGION), Console(file=io.StringIO()))
    setup_account(ctx)  # submitJob grants the task role its jobs' output prefixes: the role must exist
    calls = count_calls(ctx.client("sqs"))
    started = time.perf_counter()
    assert submit(ctx, job_file) == 0
    return time.perf_counter() - started, len(calls)


def ds_way(job_file: Path, queue: str) -> tuple[float, int]:
    """DS's submitJob: one SendMessage per job, in one thread."""
    sqs = boto3.client("sqs", region_name=REGION)
    calls = count_calls(sqs)
    started = time.perf_counter()
    jobs = read_job_file(job_file, SPEC)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for job in jobs:
        sqs.send_message(QueueUrl=url, MessageBody=job.message_body())
    return time.perf_counter() - started, len(calls)


def write_job_file(folder: Path, size: int) -> Path:
    job_file = folder / f"jobs{size}.json"
    groups = [{"sample": f"s{i}"} for i in range(size)]
    job_file.write_text(json.dumps({"output": "out", "groups": groups}))
    return job_file


def compare(sizes: list[int]) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    print(f"{'jobs':>7} | {'ours: calls/job':>15} {'jobs/s':>8} | {'DS: calls/job':>13} {'jobs/s':>8} | speed-up")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            job_file = write_job_file(Path(tmp), size)
            for queue in (f"ours{size}", f"ds{size}"):
                sqs.create_queue(QueueName=queue)
            t_ours, c_ours = ours(job_file, f"ours{size}")
            t_ds, c_ds = ds_way(job_file, f"ds{size}")
            print(
                f"{size:>7} | {c_ours / size:>15.3f} {size / t_ours:>8.0f} | {c_ds / size:>13.3f} "
                f"{size / t_ds:>8.0f} | {t_ds / t_ours:>7.1f}x",
                flush=True,
            )


def send_phase(job_file: Path, queue: str, senders: int, rtt: float) -> float:
    """Seconds from submitJob's first SendMessageBatch to its end, each SQS call `rtt` seconds longer."""
    config = bench_config(SPEC, SQS_QUEUE_NAME=queue)
    ctx = Context(config, SPEC, make_session(None, REGION), Console(file=io.StringIO()))
    setup_account(ctx)
    sqs = ctx.client("sqs")
    first_send: list[float] = []

    def delayed(**_: object) -> None:  # a handler that returned something would replace the request
        time.sleep(rtt)

    def sending(**_: object) -> None:
        if not first_send:
            first_send.append(time.perf_counter())

    sqs.meta.events.register("before-send.sqs.*", delayed)
    sqs.meta.events.register("before-call.sqs.SendMessageBatch", sending)
    assert submit(ctx, job_file, senders=senders) == 0
    return time.perf_counter() - first_send[0]


def threads(sizes: list[int], senders: list[int], rtt_ms: float) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    print(f"round trip +{rtt_ms:.0f} ms")
    print(f"{'jobs':>7} {'senders':>7} | {'send s':>7} {'jobs/s':>7} {'bound':>7} {'of bound':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            job_file = write_job_file(Path(tmp), size)
            for count in senders:
                queue = f"senders{size}x{count}"
                sqs.create_queue(QueueName=queue)
                seconds = send_phase(job_file, queue, count, rtt_ms / 1000)
                # Without a delay there is no bound but the emulator's and this computer's speed.
                bound = count * 10 / (rtt_ms / 1000) if rtt_ms else 0
                share = f"{size / seconds / bound:>8.0%}" if bound else f"{'-':>8}"
                shown = f"{bound:>7.0f}" if bound else f"{'-':>7}"
                print(f"{size:>7} {count:>7} | {seconds:>7.2f} {size / seconds:>7.0f} {shown} {share}", flush=True)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def one_size(size: int) -> dict[str, float]:
    """`run.py submitJob` of `size` jobs in this process (run by --scale in a fresh one): its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        queue = f"scale{size}"
        boto3.client("sqs", region_name=REGION).create_queue(QueueName=queue)
        config = bench_config(SPEC, SQS_QUEUE_NAME=queue)
        setup_account(Context(config, SPEC, make_session(None, REGION), Console(file=io.StringIO())))
        (folder / "spec.json").write_text(json.dumps(SPEC_DATA))
        argv = ["--config", str(write_config_file(folder, SQS_QUEUE_NAME=queue)), "--spec", str(folder / "spec.json")]
        argv += ["submitJob", str(write_job_file(folder, size))]
        first_send: list[float] = []
        send_batch = submit_module.send_batch

        def sending(*args: object, **kwargs: object) -> object:  # submitJob's sends, the first one timed
            if not first_send:
                first_send.append(time.perf_counter())
            return send_batch(*args, **kwargs)

        submit_module.send_batch = sending
        start_mb = peak_mb()
        started = time.perf_counter()
        assert run_py(argv, console=Console(file=io.StringIO())) == 0
        total = time.perf_counter() - started
    return {
        "jobs": size,
        "checks": first_send[0] - started,
        "total": total,
        "peak_mb": peak_mb(),
        "growth_mb": peak_mb() - start_mb,
    }


def exponent(sizes: list[float], values: list[float]) -> float:
    """The slope of log(value) on log(size), least squares: 1 grows linearly, 2 quadratically."""
    xs, ys = [math.log(s) for s in sizes], [math.log(max(v, 1e-9)) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def scale(sizes: list[int]) -> None:
    print(f"{'jobs':>7} | {'checks s':>8} {'total s':>8} {'jobs/s':>8} | {'peak MB':>8} {'growth MB':>9}")
    rows = []
    for size in sizes:
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(size)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"{size} jobs failed:\n{done.stdout}{done.stderr}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{size:>7} | {row['checks']:>8.2f} {row['total']:>8.2f} {size / row['total']:>8.0f} | "
            f"{row['peak_mb']:>8.0f} {row['growth_mb']:>9.0f}",
            flush=True,
        )
    if len(rows) > 1:
        jobs = [r["jobs"] for r in rows]
        print(
            f"growth exponent (1 = linear, 2 = quadratic): checks {exponent(jobs, [r['checks'] for r in rows]):.2f},"
            f" total {exponent(jobs, [r['total'] for r in rows]):.2f},"
            f" memory above the start {exponent(jobs, [max(r['growth_mb'], 1.0) for r in rows]):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", help="job counts (default 1000 10000; --scale: and 100000)")
    parser.add_argument("--plain", action="store_true", help="plain moto, without local mode's fast_sqs")
    parser.add_argument("--scale", action="store_true", help="submitJob alone per size: time, memory, growth")
    parser.add_argument("--senders", type=int, nargs="+", help="time the send phase with these thread counts")
    parser.add_argument("--rtt", type=float, default=20, help="with --senders: ms added to each SQS call (20)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # --scale's child: one size, figures as JSON
    args = parser.parse_args()
    if args.one:  # the emulator is the parent's
        print(json.dumps(one_size(args.one)))
        return
    command = [sys.executable, "-m", "ds_runtime.local.emulator", *(["--plain"] if args.plain else [])]
    server = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    ready = server.stdout.readline() if server.stdout else ""
    assert ready.startswith(READY_LINE), f"emulator did not start: {ready!r}"
    print(ready.strip())
    os.environ.update(AWS_ENDPOINT_URL=ready.split()[2], AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    try:
        if args.senders:
            threads(args.sizes or [10000], args.senders, args.rtt)
        elif args.scale:
            scale(args.sizes or [1000, 10000, 100000])
        else:
            compare(args.sizes or [1000, 10000])
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
