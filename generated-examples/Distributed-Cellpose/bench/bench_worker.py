"""Per-job overhead of the worker on the emulator: wall time per job minus the tool's own time.

    python bench/bench_worker.py                         # 200 trivial jobs, with 1 and with 4 workers
    python bench/bench_worker.py --jobs 500 --workers 1 2 4
    python bench/bench_worker.py --against main          # the same rounds with main's worker too
    python bench/bench_worker.py --against main --repeats 3   # the median of 3 rounds each (a busy machine)

Each round: a fresh emulator state (moto's server), one queue, N jobs whose tool is
`touch <output_dir>/out.txt`, and one `python -m ds_runtime.worker` container-like process
with DOCKER_CORES workers. Timing comes from the outcome records: from the first job's start
to the last job's end, so worker start-up and idle exit are left out.
Overhead per job = span x workers / jobs - the tool's time, measured here by running the
tool itself (not from the records' tool_seconds, which the worker measures): everything
the worker adds (receive, job folder, running the tool, logs, upload and its check, outcome
record, delete). `recorded tool s` is the records' mean tool_seconds, to compare.
First, the part of that overhead that is running the tool: run_tool's wall time per run
beyond the tool's own (the target: well under 20 ms; no interpreter start, no polling).
--against REF runs the worker of an older commit (its files from `git archive` in a temporary
folder) in the same rounds, alternating with this tree's, and prints both side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import datetime
from io import BytesIO
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
TOUCH = shutil.which("touch") or "touch"
TOOL_SAMPLES = 100


# The tool's own time per run, started from a small Python process as a reaper starts it (from
# this one, holding the emulator, each fork would cost more than the tool).
TOOL_ALONE = """
import subprocess, sys, tempfile, time
runs, touch = int(sys.argv[1]), sys.argv[2]
with tempfile.TemporaryDirectory() as folder:
    subprocess.run([touch, folder + "/out.txt"], check=True)
    start = time.perf_counter()
    for _ in range(runs):
        subprocess.run([touch, folder + "/out.txt"], check=True)
print((time.perf_counter() - start) / runs)
"""


def tool_seconds() -> float:
    """The tool's own time per run: mean wall time of TOOL_SAMPLES runs."""
    command = [sys.executable, "-I", "-c", TOOL_ALONE, str(TOOL_SAMPLES), TOUCH]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


# Run in the tree being measured: the wall time of run_tool (the worker's way of running the tool) per run.
RUN_TOOL = """
import sys, tempfile, threading, time
from ds_runtime.worker.runner import run_tool
runs, touch = int(sys.argv[1]), sys.argv[2]
with tempfile.TemporaryDirectory() as folder:
    tool = [touch, folder + "/out.txt"]
    run_tool(tool, folder, lambda _: None, threading.Event())  # a reaper started once per worker is not per job
    start = time.perf_counter()
    for _ in range(runs):
        run_tool(tool, folder, lambda _: None, threading.Event())
print((time.perf_counter() - start) / runs)
"""


def run_tool_seconds(code: Path, runs: int) -> float:
    """run_tool's wall time per run of the tool, with the worker in `code`."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_TOOL, str(runs), TOUCH], cwd=code, check=True, capture_output=True, text=True
    )
    return float(done.stdout)


def one_round(endpoint: str, jobs: int, workers: int, work: Path, code: Path) -> dict[str, float]:
    """Run `jobs` jobs with the worker in `code` (a ds_runtime's parent folder)."""
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
            "command": [TOUCH, "{output_dir}/out.txt"],
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
        seconds_to_start=0,
        idle_exit_seconds=0,  # exits at the first empty receive (the timing leaves it out anyway)
        spec_path=str(work / "spec.json"),
    )
    env = {**os.environ, **settings.to_env(), "TMPDIR": str(work)}
    subprocess.run(
        [sys.executable, "-m", "ds_runtime.worker"], cwd=code, env=env, check=True, stdout=subprocess.DEVNULL
    )
    outcomes = list(latest_outcomes(s3, BUCKET, settings.outcome_prefix).values())
    if len(outcomes) != jobs or {o.state for o in outcomes} != {"done"}:
        raise SystemExit(f"expected {jobs} done jobs, got {len(outcomes)}: {sorted({o.state for o in outcomes})}")
    first = min(datetime.fromisoformat(o.started_at) for o in outcomes)
    last = max(datetime.fromisoformat(o.finished_at) for o in outcomes)
    span = (last - first).total_seconds()
    return {
        "wall per job": span * workers / jobs,
        "recorded tool": statistics.mean(o.tool_seconds for o in outcomes),
        "jobs per second": jobs / span,
    }


@contextlib.contextmanager
def older_code(ref: str) -> Iterator[Path]:
    """This folder as commit `ref` has it, in a temporary folder (git archive: no checkout touched)."""
    where = subprocess.run(
        ["git", "rev-parse", "--show-toplevel", "--show-prefix"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    top, prefix = where[0], where[1] if len(where) > 1 else ""
    tree = f"{ref}:{prefix}" if prefix else ref  # this folder's tree in that commit (dsgen: template/)
    archive = subprocess.run(["git", "archive", tree], cwd=top, capture_output=True)
    if archive.returncode:
        raise SystemExit(f"--against {ref}: git archive failed: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryDirectory(prefix="bench-against-") as folder:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--against", metavar="REF", help="also run the worker of this git commit, branch or tag")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of each; the median is printed")
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    tool = tool_seconds()
    print(f"{args.jobs} trivial jobs, moto {__import__('moto').__version__}, python {sys.version.split()[0]}")
    print(f"the tool alone (touch, {TOOL_SAMPLES} runs): {tool * 1000:.2f} ms a run")
    try:
        with older_code(args.against) if args.against else contextlib.nullcontext() as old:
            codes = ([(args.against, old)] if old else []) + [("this tree", REPO)]
            print("running the tool the worker's way (run_tool), beyond the tool alone (median of the repeats):")
            for name, code in codes:
                cost = statistics.median(run_tool_seconds(code, min(args.jobs, 100)) for _ in range(args.repeats))
                print(f"{name[:12]:>12} {(cost - tool) * 1000:>8.2f} ms a run")
            print(
                f"{'code':>12} {'workers':>8} {'wall/job s':>11} {'overhead/job s':>15} "
                f"{'recorded tool s':>16} {'jobs/s':>7}"
            )
            for workers in args.workers:
                rounds: dict[str, list[dict[str, float]]] = {name: [] for name, _ in codes}
                for _ in range(args.repeats):  # alternating, so a busy moment weighs on both alike
                    for name, code in codes:
                        with tempfile.TemporaryDirectory() as work:
                            rounds[name].append(
                                one_round(os.environ["AWS_ENDPOINT_URL"], args.jobs, workers, Path(work), code)
                            )
                for name, _ in codes:
                    r = {key: statistics.median(one[key] for one in rounds[name]) for key in rounds[name][0]}
                    print(
                        f"{name[:12]:>12} {workers:>8} {r['wall per job']:>11.4f} {r['wall per job'] - tool:>15.4f} "
                        f"{r['recorded tool']:>16.4f} {r['jobs per second']:>7.1f}",
                        flush=True,
                    )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
