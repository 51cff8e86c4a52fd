"""SQS throughput of the local emulator at queue depth: plain moto against moto with fast_sqs.

    python bench/bench_emulator.py                      # plain at 4,000; fast at 4,000 and 10,000
    python bench/bench_emulator.py --plain-max-depth 10000   # plain at 10,000 too (~15+ min)

Each variant runs in its own emulator process (`python -m ds_runtime.local.emulator`),
one after the other, driven by one boto3 client as run.py's submit and a worker drive it:
SendMessageBatch of 10, and a consumer that receives one message (MaxNumberOfMessages=1,
ApproximateReceiveCount asked) and deletes it. For each depth D: the queue is filled to
D, then 1,000 more messages are sent (timed), then --jobs jobs are received and deleted
(timed) at depth D + 1,000.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import boto3

REPO = Path(__file__).resolve().parents[1]
BATCH = 10
TIMED_SENDS = 1000

Results = dict[str, float]


def start(plain: bool) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "ds_runtime.local.emulator", *(["--plain"] if plain else [])],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if len(line) < 4 or line[3] != f"fast_sqs={'off' if plain else 'on'}":
        process.kill()
        raise SystemExit(f"emulator did not start as asked: {' '.join(line)!r}")
    return process, line[2]


def send(sqs: Any, url: str, n: int) -> float:
    """Send n messages in batches of 10; the messages per second."""
    began = time.perf_counter()
    for first in range(0, n, BATCH):
        entries = [{"Id": str(i), "MessageBody": f'{{"job": {first + i}}}'} for i in range(BATCH)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    return n / (time.perf_counter() - began)


def drain(sqs: Any, url: str, jobs: int) -> float:
    """Receive and delete `jobs` messages one at a time, as a worker does; jobs per second."""
    began = time.perf_counter()
    for _ in range(jobs):
        (message,) = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )["Messages"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return jobs / (time.perf_counter() - began)


def measure(plain: bool, depths: list[int], jobs: int) -> Results:
    name = "plain moto" if plain else "fast_sqs"
    process, endpoint = start(plain)
    results: Results = {}
    try:
        sqs = boto3.client(
            "sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        url = sqs.create_queue(QueueName="bench", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
        results["first"] = send(sqs, url, TIMED_SENDS)
        print(f"  {name}: first {TIMED_SENDS:,} sends: {results['first']:.1f}/s", flush=True)
        queued = TIMED_SENDS
        for depth in depths:
            began = time.perf_counter()
            send(sqs, url, depth - queued)  # fill, untimed
            print(f"  {name}: filled to {depth:,} in {time.perf_counter() - began:.0f} s", flush=True)
            results[f"send@{depth}"] = send(sqs, url, TIMED_SENDS)
            results[f"drain@{depth}"] = drain(sqs, url, jobs)
            queued = depth + TIMED_SENDS - jobs
            print(
                f"  {name}: at {depth:,}: {results[f'send@{depth}']:.1f} sends/s, "
                f"{results[f'drain@{depth}']:.2f} jobs/s",
                flush=True,
            )
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


def table(plain: Results, fast: Results, depths: list[int], jobs: int) -> str:
    rows = [("sends/s, first 1,000 (empty queue)", "first")]
    for depth in depths:
        rows.append((f"sends/s, 1,000 more at depth {depth:,}", f"send@{depth}"))
        rows.append((f"receive+delete jobs/s ({jobs}) at depth {depth + TIMED_SENDS:,}", f"drain@{depth}"))
    lines = [f"{'':48} {'plain moto':>12} {'fast_sqs':>12} {'ratio':>8}"]
    for label, key in rows:
        before, after = plain.get(key), fast.get(key)
        shown = [f"{v:12.1f}" if v is not None else f"{'not run':>12}" for v in (before, after)]
        ratio = f"{after / before:7.1f}x" if before and after else f"{'':>8}"
        lines.append(f"{label:48} {shown[0]} {shown[1]} {ratio}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[4000, 10000], help="queue depths to measure at")
    parser.add_argument(
        "--plain-max-depth", type=int, default=4000, help="measure plain moto only up to this depth (it is slow)"
    )
    parser.add_argument("--jobs", type=int, default=100, help="jobs received+deleted at each depth")
    args = parser.parse_args(argv)
    depths = sorted(d for d in set(args.depths) if d >= TIMED_SENDS)
    print(f"moto {version('moto')}, boto3 {version('boto3')}, Python {sys.version.split()[0]}", flush=True)
    fast = measure(False, depths, args.jobs)
    plain = measure(True, [d for d in depths if d <= args.plain_max_depth], args.jobs)
    print(table(plain, fast, depths, args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
