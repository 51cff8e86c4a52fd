"""Benchmark: submitJob (batches of 10, a few threads) vs DS's one SendMessage per job.

Both send the same jobs to their own fresh queue on one emulator (local mode's: moto's
server in its own process, with fast_sqs unless --plain) and are timed end to end
(reading the job file included). Absolute rates are the emulator's, not AWS's; the
API-call counts and the ratio are what carry over.

    python bench/bench_submit.py                        # 1,000 and 10,000 jobs, local mode's emulator
    python bench/bench_submit.py --plain --sizes 1000   # plain moto slows as the queue deepens
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from _support import REGION, bench_config
from rich.console import Console

from ds_runtime.aws import make_session
from ds_runtime.control.account import setup_account
from ds_runtime.control.context import Context
from ds_runtime.control.submit import submit
from ds_runtime.jobs import read_job_file
from ds_runtime.local.emulator import READY_LINE
from ds_runtime.spec import ToolSpec

SPEC = ToolSpec.model_validate(
    {
        "tool_name": "Bench",
        "app_name": "DistributedBench",
        "docker_image": "bench:1",
        "command": ["echo", "{sample}"],
        "shared_fields": [{"name": "output", "type": "s3_prefix"}],
        "job_fields": [{"name": "sample", "type": "string"}],
        "output_prefix": "{output}/{sample}",
    }
)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="job counts (default 1000 10000)")
    parser.add_argument("--plain", action="store_true", help="plain moto, without local mode's fast_sqs")
    args = parser.parse_args()
    command = [sys.executable, "-m", "ds_runtime.local.emulator", *(["--plain"] if args.plain else [])]
    server = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    ready = server.stdout.readline() if server.stdout else ""
    assert ready.startswith(READY_LINE), f"emulator did not start: {ready!r}"
    print(ready.strip())
    os.environ.update(AWS_ENDPOINT_URL=ready.split()[2], AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    sqs = boto3.client("sqs", region_name=REGION)
    print(f"{'jobs':>7} | {'ours: calls/job':>15} {'jobs/s':>8} | {'DS: calls/job':>13} {'jobs/s':>8} | speed-up")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for size in args.sizes:
                job_file = Path(tmp) / f"jobs{size}.json"
                groups = [{"sample": f"s{i}"} for i in range(size)]
                job_file.write_text(json.dumps({"output": "out", "groups": groups}))
                for queue in (f"ours{size}", f"ds{size}"):
                    sqs.create_queue(QueueName=queue)
                t_ours, c_ours = ours(job_file, f"ours{size}")
                t_ds, c_ds = ds_way(job_file, f"ds{size}")
                print(
                    f"{size:>7} | {c_ours / size:>15.3f} {size / t_ours:>8.0f} | {c_ds / size:>13.3f} "
                    f"{size / t_ds:>8.0f} | {t_ds / t_ours:>7.1f}x",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
