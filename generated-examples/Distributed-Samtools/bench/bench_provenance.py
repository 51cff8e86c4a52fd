"""Benchmark: what provenance costs in bytes, and `run.py export --ro-crate` in bytes and time.

    python bench/bench_provenance.py               # a 3,456-job plate (384 wells x 9 sites)
    python bench/bench_provenance.py --jobs 100

Each job's record carries the provenance a worker writes (image by digest, argv, spec hash, settings,
3 inputs with ETag and version, 2 outputs with SHA-256); the records are written to an in-process
emulator (moto), then exported. Printed: bytes per record without and with provenance, the crate's size
and bytes per job, and the export's time (reading the records from the emulator, which answers each GET
far slower than S3: an upper bound; building and writing the crate carries over).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._control_support import APP, REGION, make_ctx, write_job_file, write_spec

from ds_runtime.control.commands.export import build_crate, crate_files, export
from ds_runtime.outcomes import Outcome, default_prefix, write_outcome

BUCKET = "echo-bucket"  # the test config's AWS_BUCKET
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/distributed-echo@sha256:" + "ab" * 32


def record(i: int) -> Outcome:
    """Job i's record, as a worker with provenance writes it."""
    job = hashlib.sha256(str(i).encode()).hexdigest()[:16]
    begun = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=3 * i)
    well, site = f"{'ABCDEFGHIJKLMNOP'[i // 216 % 16]}{i // 9 % 24 + 1:02d}", i % 9 + 1
    folder, output = f"projects/plate1/images/{well}", f"projects/plate1/analysis/{well}-{site}"
    return Outcome(
        job,
        1,
        "done",
        begun.isoformat(),
        (begun + timedelta(seconds=75)).isoformat(),
        75.0,
        "ip-10-0-1-17",
        exit_code=0,
        tool_seconds=70.0,
        peak_memory_mb=812.5,
        cpu_seconds=68.2,
        output_prefix=output,
        log_group=APP,
        log_stream=f"{APP}/{job}",
        tail=["Processing image set", "Done"],
        message_id=f"msg-{i:08d}",
        worker=f"ip-10-0-1-17/{i % 4}",
        image=IMAGE,
        argv=[["cellprofiler", "-c", "-r", "-p", "/tmp/in/pipeline.cppipe", "-o", "/tmp/out", "-g", f"Well={well}"]],
        spec_sha256="5" * 64,
        settings={"DOCKER_CORES": "4", "MEMORY": "15000", "CHECK_IF_DONE_BOOL": "True"},
        inputs=[
            {"bucket": BUCKET, "key": f"{folder}/{well}_s{site}_w{c}.tif", "size": 8_390_000, "etag": f'"{"e" * 32}"'}
            | {"version_id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nrjfkd"}
            for c in range(1, 4)
        ],
        outputs=[
            {"bucket": BUCKET, "key": f"{output}/{name}", "size": 52_000, "sha256": "c" * 64}
            for name in ("Cells.csv", "Nuclei.csv")
        ],
        runtime="3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a",
        fingerprint="f" * 64,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3456)
    count = parser.parse_args().jobs
    records = [record(i) for i in range(count)]
    none = {"image": "", "argv": [], "spec_sha256": "", "settings": {}, "inputs": [], "outputs": [], "runtime": ""}
    bare = [replace(r, fingerprint="", **none) for r in records]  # as a worker before provenance wrote them
    with_provenance = statistics.mean(len(r.to_json().encode()) for r in records)
    without = statistics.mean(len(r.to_json().encode()) for r in bare)
    with tempfile.TemporaryDirectory() as scratch, mock_aws():
        folder = Path(scratch)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        for item in records:
            write_outcome(s3, BUCKET, default_prefix(APP), item)
        ctx = make_ctx(folder)
        files = crate_files(folder / "config.py", write_spec(folder), [write_job_file(folder, count)])
        clock = time.perf_counter()
        export(ctx, folder / "crate", files)
        seconds = time.perf_counter() - clock
        clock = time.perf_counter()  # the same records, already read: building and writing the crate alone
        build_crate(records, ctx, files).write(folder / "again")
        built = time.perf_counter() - clock
        size = (folder / "crate" / "ro-crate-metadata.json").stat().st_size
    print(f"{count} jobs, each 3 inputs and 2 outputs:")
    added = with_provenance - without
    print(f"  outcome record: {without:,.0f} bytes without provenance, {with_provenance:,.0f} with (+{added:,.0f})")
    print(f"  crate: {size:,} bytes, {size / count:,.0f} bytes per job")
    print(f"  export: {seconds:.1f} s with the records read from the emulator, {built:.1f} s to build and write it")


if __name__ == "__main__":
    main()
