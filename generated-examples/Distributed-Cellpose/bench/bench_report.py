"""Benchmark: `run.py report` over many attempts: reading the records, drawing the page, its size.

    python bench/bench_report.py                 # 2,000 attempts on 20 workers
    python bench/bench_report.py --attempts 10000

The records are written to an in-process emulator (moto), which answers each GET far
slower than S3 does: the read time is an upper bound; the render time and page size carry over.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._control_support import APP, REGION, make_ctx

from ds_runtime.control.views.report import gather, render
from ds_runtime.outcomes import Outcome, default_prefix, write_outcome

BUCKET = "echo-bucket"  # the test config's AWS_BUCKET
WORKERS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=2000)
    count = parser.parse_args().attempts
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        start = datetime(2025, 1, 1, tzinfo=timezone.utc)
        for i in range(count):
            begun = start + timedelta(seconds=3 * i / WORKERS)
            seconds = 60.0 + i % 30
            state = "failed" if i % 50 == 0 else "done"
            record = Outcome(
                f"job{i:06d}",
                1,
                state,
                begun.isoformat(),
                (begun + timedelta(seconds=seconds)).isoformat(),
                seconds,
                "host",
                exit_code=1 if state == "failed" else 0,
                tail=[f"line {n}" for n in range(20)],
                worker=f"host/{i % WORKERS}",
            )
            write_outcome(s3, BUCKET, default_prefix(APP), record)
        ctx = make_ctx(Path(tempfile.mkdtemp()))
        clock = time.perf_counter()
        report = gather(ctx)
        read = time.perf_counter() - clock
        clock = time.perf_counter()
        page = render(report)
        drawn = time.perf_counter() - clock
    print(
        f"{count} attempts on {WORKERS} workers: records read in {read:.1f} s (emulator), "
        f"page drawn in {drawn:.2f} s, {len(page) / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
