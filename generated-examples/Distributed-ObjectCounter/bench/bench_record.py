"""Outcome record size: bytes per record of a typical job, with this tree's worker and an older one.

    python bench/bench_record.py                      # 20 jobs with this tree's worker
    python bench/bench_record.py --against 0d2b0ed    # the same jobs with that commit's worker too
    python bench/bench_record.py --show               # and print one record of each

A typical job, as a CellProfiler plate-and-well job: a pipeline file (one key), the well's images
(a prefix of 4 files), a threshold on the command line, 3 output files. Each round runs the jobs with
one `python -m ds_runtime.worker` process on moto's server and reads back the records: the mean
size of a record's JSON as stored in S3, and that times 3,456 (a 384-well plate at 9 sites).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import requests
from bench_worker import REGION, older_code  # this folder: the script's own
from moto.server import ThreadedMotoServer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ds_runtime.jobs import Job, job_id_of  # noqa: E402 - after the path set-up
from ds_runtime.outcomes import outcome_keys  # noqa: E402
from ds_runtime.spec import ToolSpec  # noqa: E402
from ds_runtime.worker_settings import WorkerSettings  # noqa: E402

BUCKET = "bench-record"
PLATE_JOBS = 3456
# Writes 3 result files into the output folder (no braces: the spec would read them as placeholders).
TOOL = "import sys, pathlib\nfor name in ('Image.csv', 'Nuclei.csv', 'Cells.csv'):\n" + (
    "    pathlib.Path(sys.argv[1], name).write_text(name * 200)\n"
)
SPEC = {
    "tool_name": "plate",
    "app_name": "Bench",
    "docker_image": "bench:latest",
    "command": [sys.executable, "-c", TOOL, "{output_dir}", "{input_dir}", "{pipeline}", "{threshold}"],
    "shared_fields": [
        {"name": "pipeline", "type": "s3_key"},
        {"name": "threshold", "type": "string"},
    ],
    "job_fields": [{"name": "plate"}, {"name": "well"}, {"name": "images", "type": "s3_prefix"}],
    "input_fields": ["pipeline", "images"],
    "output_prefix": "results/{plate}/{well}",
    "done": {"min_files": 3},
}


def one_round(endpoint: str, jobs: int, work: Path, code: Path) -> list[bytes]:
    """Run `jobs` jobs with the worker in `code`; every record as stored."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    s3, sqs = boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    queue_url = sqs.create_queue(QueueName="BenchQueue", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="bench")
    (work / "spec.json").write_text(ToolSpec.model_validate(SPEC).model_dump_json())
    s3.put_object(Bucket=BUCKET, Key="pipelines/analysis.cppipe", Body=b"CellProfiler Pipeline\n" * 400)
    for n in range(jobs):
        well = f"A{n + 1:02d}"
        for site in range(4):
            s3.put_object(Bucket=BUCKET, Key=f"images/Plate1/{well}/s{site}.tif", Body=b"\0" * 2048)
        values = {
            "pipeline": "pipelines/analysis.cppipe",
            "threshold": "0.5",
            "plate": "Plate1",
            "well": well,
            "images": f"images/Plate1/{well}",
        }
        sqs.send_message(QueueUrl=queue_url, MessageBody=Job(job_id_of(values), values).message_body())
    settings = WorkerSettings(
        app_name="Bench",
        queue_url=queue_url,
        bucket=BUCKET,
        region=REGION,
        log_group="bench",
        idle_exit_seconds=0,
        spec_path=str(work / "spec.json"),
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/bench@sha256:" + "ab" * 32,
    )
    env = {**os.environ, **settings.to_env(), "TMPDIR": str(work)}
    subprocess.run(
        [sys.executable, "-m", "ds_runtime.worker"], cwd=code, env=env, check=True, stdout=subprocess.DEVNULL
    )
    keys = outcome_keys(s3, BUCKET, settings.outcome_prefix)
    records = [s3.get_object(Bucket=BUCKET, Key=k.key)["Body"].read() for k in keys]
    states = {json.loads(r)["state"] for r in records}
    if len(records) != jobs or states != {"done"}:
        raise SystemExit(f"expected {jobs} done records, got {len(records)}: {sorted(states)}")
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--against", metavar="REF", help="also run the worker of this git commit, branch or tag")
    parser.add_argument("--show", action="store_true", help="print one record of each")
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    print(f"{args.jobs} typical jobs (a pipeline, 4 images, 3 outputs); record bytes as stored in S3")
    print(f"{'code':>12} {'bytes/record':>13} {'min':>6} {'max':>6} {f'x {PLATE_JOBS:,} jobs':>15}")
    try:
        with older_code(args.against) if args.against else contextlib.nullcontext() as old:
            codes = ([(args.against, old)] if old else []) + [("this tree", REPO)]
            for name, code in codes:
                with tempfile.TemporaryDirectory() as work:
                    records = one_round(os.environ["AWS_ENDPOINT_URL"], args.jobs, Path(work), code)
                sizes = [len(r) for r in records]
                mean = statistics.mean(sizes)
                plate = f"{mean * PLATE_JOBS / 1e6:>12.2f} MB"
                print(f"{name[:12]:>12} {mean:>13.0f} {min(sizes):>6} {max(sizes):>6} {plate}", flush=True)
                if args.show:
                    print(records[0].decode())
    finally:
        server.stop()


if __name__ == "__main__":
    main()
