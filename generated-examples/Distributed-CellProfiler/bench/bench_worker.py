"""Per-job overhead of the worker on the emulator: wall time per job minus the tool's own time.

    python bench/bench_worker.py                 # 200 trivial jobs, with 1 and with 2 worker processes
    python bench/bench_worker.py --jobs 500 --workers 1 2 4

Each round: a fresh emulator state (moto's server), one queue, N jobs whose tool is
`touch <output_dir>/out.txt`, and one `python -m ds_runtime.worker` container-like
process with DOCKER_CORES workers. Timing comes from the outcome records: from the
first job's start to the last job's end, so worker start-up and idle exit are left out.
Overhead per job = span x workers / jobs - mean tool time: everything the worker
adds (receive, job folder, logs, upload and its check, outcome record, delete).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import boto3
import requests
from moto.server import ThreadedMotoServer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ds_runtime.jobs import Job, job_id_of  # noqa: E402 - after the path set-up
from ds_runtime.outcomes import latest_outcomes  # noqa: E402
from ds_runtime.spec import ToolSpec  # noqa: E402
from ds_runtime.worker_settings import WorkerSettings  # noqa: E402

REGION = "us-east-1"
BUCKET = "bench-bucket"


def one_round(endpoint: str, jobs: int, workers: int, work: Path) -> dict[str, float]:
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    s3, sqs = boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    queue_url = sqs.create_queue(QueueName="BenchQueue", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="bench")
    spec = ToolSpec.model_validate(
        {
            "tool_name": "touch",
            "app_name": "Bench",
            "docker_image": "bench:latest",
            "command": [shutil.which("touch"), "{output_dir}/out.txt"],
            "job_fields": [{"name": "n", "type": "integer"}],
            "output_prefix": "out/{n}",
            "done": {"min_files": 1},
        }
    )
    (work / "spec.json").write_text(spec.model_dump_json())
    bodies = [Job(job_id_of({"n": n}), {"n": n}).message_body() for n in range(jobs)]
    for start in range(0, jobs, 10):
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    settings = WorkerSettings(
        app_name="Bench",
        queue_url=queue_url,
        bucket=BUCKET,
        region=REGION,
        log_group="bench",
        docker_cores=workers,
        idle_exit_seconds=0,  # exits at the first empty receive (the timing leaves it out anyway)
        spec_path=str(work / "spec.json"),
    )
    env = {**os.environ, **settings.to_env(), "TMPDIR": str(work)}
    subprocess.run(
        [sys.executable, "-m", "ds_runtime.worker"], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL
    )
    outcomes = list(latest_outcomes(s3, BUCKET, settings.outcome_prefix).values())
    if len(outcomes) != jobs or {o.state for o in outcomes} != {"done"}:
        raise SystemExit(f"expected {jobs} done jobs, got {len(outcomes)}: {sorted({o.state for o in outcomes})}")
    first = min(datetime.fromisoformat(o.started_at) for o in outcomes)
    last = max(datetime.fromisoformat(o.finished_at) for o in outcomes)
    per_job = (last - first).total_seconds() * workers / jobs
    tool = statistics.mean(o.tool_seconds for o in outcomes)
    return {
        "wall per job": per_job,
        "tool per job": tool,
        "overhead per job": per_job - tool,
        "in-job overhead": statistics.mean(o.duration_seconds - o.tool_seconds for o in outcomes),
        "jobs per second": jobs / (last - first).total_seconds(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    print(f"{args.jobs} trivial jobs, moto {__import__('moto').__version__}, python {sys.version.split()[0]}")
    print(f"{'workers':>8} {'wall/job s':>11} {'tool/job s':>11} {'overhead/job s':>15} {'in-job s':>9} {'jobs/s':>7}")
    try:
        for workers in args.workers:
            with tempfile.TemporaryDirectory() as work:
                r = one_round(os.environ["AWS_ENDPOINT_URL"], args.jobs, workers, Path(work))
            print(
                f"{workers:>8} {r['wall per job']:>11.3f} {r['tool per job']:>11.3f} "
                f"{r['overhead per job']:>15.3f} {r['in-job overhead']:>9.3f} {r['jobs per second']:>7.1f}"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
