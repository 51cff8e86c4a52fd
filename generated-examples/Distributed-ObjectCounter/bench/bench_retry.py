"""Benchmark: retryFailed over a dead-letter queue of 1,000 to 100,000 failed jobs, on local mode's emulator.

For each size, a fresh queue and dead-letter queue on one emulator (moto's server in its own
process, with fast_sqs); the dead-letter queue is filled with that many jobs of this app
(sent 10 per call by a few threads, not timed), then retryFailed runs and is timed. Printed:
its seconds and dead-letter messages per second, the jobs it put back, the messages left in
the dead-letter queue and its exit status. Absolute rates are the emulator's, not AWS's.

    python bench/bench_retry.py                                  # 1,000, 10,000 and 100,000 jobs
    python bench/bench_retry.py --sizes 30000 --hold 30          # messages held 30 s, not 120
    python bench/bench_retry.py --sizes 10000 --workers 1 8 --rtt 20  # 1 and 8 threads, 20 ms per SQS call
    DS_BENCH_CODE=/tmp/old/template python bench/bench_retry.py  # another copy's retryFailed (_support.py)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from _support import REGION, SPEC, bench_config
from rich.console import Console

from ds_runtime.aws import make_session
from ds_runtime.control.commands import retry
from ds_runtime.control.common.context import Context
from ds_runtime.local.emulator import READY_LINE
from ds_runtime.outcomes import app_attribute

SEEDERS = 8


def seed(sqs: object, url: str, size: int, app: str) -> None:
    """`size` dead-lettered jobs of `app`, as submitJob sent them."""

    def send(start: int) -> None:
        entries = [
            {
                "Id": str(i),
                "MessageBody": json.dumps({"output": "out", "sample": f"s{start + i}", "_job_id": f"job{start + i}"}),
                "MessageAttributes": app_attribute(app),
            }
            for i in range(min(10, size - start))
        ]
        assert not sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")  # type: ignore[attr-defined]

    with ThreadPoolExecutor(SEEDERS) as pool:
        list(pool.map(send, range(0, size, 10)))


def visible(sqs: object, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]  # type: ignore[attr-defined]
    return sum(int(attributes[n]) for n in names)


def one_size(size: int, workers: int, rtt_ms: float) -> dict[str, float]:
    queue, dead = f"RetryQueue{size}x{workers}", f"RetryDead{size}x{workers}"
    sqs = boto3.client("sqs", region_name=REGION)
    dead_url = sqs.create_queue(QueueName=dead)["QueueUrl"]
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    config = bench_config(SPEC, SQS_QUEUE_NAME=queue, SQS_DEAD_LETTER_QUEUE=dead)
    started = time.perf_counter()
    seed(sqs, dead_url, size, config.APP_NAME)
    seeded = time.perf_counter() - started
    ctx = Context(config, SPEC, make_session(None, REGION), Console(file=io.StringIO()))
    if rtt_ms:  # a round trip to AWS, which the emulator on this computer lacks
        ctx.client("sqs").meta.events.register("before-send.sqs.*", lambda **_: time.sleep(rtt_ms / 1000))
    retry.WORKERS = workers
    started = time.perf_counter()
    code = retry.retry_failed(ctx)
    seconds = time.perf_counter() - started
    return {"seed": seeded, "seconds": seconds, "back": visible(sqs, url), "left": visible(sqs, dead_url), "exit": code}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="dead-lettered jobs")
    parser.add_argument("--hold", type=int, help=f"retryFailed's TAKE_SECONDS (default {retry.TAKE_SECONDS})")
    default = getattr(retry, "WORKERS", 1)
    parser.add_argument("--workers", type=int, nargs="+", default=[default], help=f"its threads (default {default})")
    parser.add_argument("--rtt", type=float, default=0, help="ms added to each of its SQS calls (default 0)")
    args = parser.parse_args()
    if args.hold:
        retry.TAKE_SECONDS = args.hold
    command = [sys.executable, "-m", "ds_runtime.local.emulator"]
    server = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    ready = server.stdout.readline() if server.stdout else ""
    assert ready.startswith(READY_LINE), f"emulator did not start: {ready!r}"
    print(ready.strip(), f"| retryFailed of {retry.__file__} | hold {retry.TAKE_SECONDS} s")
    os.environ.update(AWS_ENDPOINT_URL=ready.split()[2], AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    try:
        print(f"round trip +{args.rtt:.0f} ms")
        print(
            f"{'jobs':>7} {'threads':>7} | {'seed s':>7} | {'retry s':>8} {'msgs/s':>7} | "
            f"{'put back':>8} {'left':>7} {'exit':>4}"
        )
        for size in args.sizes:
            for workers in args.workers:
                row = one_size(size, workers, args.rtt)
                print(
                    f"{size:>7} {workers:>7} | {row['seed']:>7.1f} | {row['seconds']:>8.1f} "
                    f"{size / row['seconds']:>7.0f} | {row['back']:>8} {row['left']:>7} {row['exit']:>4}",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
