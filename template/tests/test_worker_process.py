"""The worker as it runs in a container: real `python -m ds_runtime.worker` processes on the emulator."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest

from ds_runtime.job_values import check_job
from ds_runtime.jobs import JOB_ID_KEY, Job, job_id_of
from ds_runtime.outcomes import Outcome, app_attribute, latest_outcomes, outcome_keys, read_outcome, write_outcome
from ds_runtime.spec import ToolSpec
from ds_runtime.worker.runner import REAPER_GRACE_SECONDS
from ds_runtime.worker_settings import WorkerSettings

from ._control_support import put_objects

REPO = Path(__file__).resolve().parents[1]
TOY = str(Path(__file__).with_name("toy_tool.py"))
BUCKET = "test-bucket"


class Rig:
    """A bucket, a queue with its dead-letter queue, a tool spec, and worker processes."""

    def __init__(self, tmp: Path, visibility: int = 3, retries: int = 3):
        self.tmp = tmp
        self.started = tmp / "started"  # the toy tool's run markers
        self.work = tmp / "work"  # TMPDIR of the workers: job folders land here
        self.started.mkdir()
        self.work.mkdir()
        self.s3 = boto3.client("s3", region_name="us-east-1")
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.s3.create_bucket(Bucket=BUCKET)
        self.dlq_url = self.sqs.create_queue(QueueName="TestDeadMessages")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])["Attributes"]
        redrive = {"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": str(retries)}
        self.queue_url = self.sqs.create_queue(
            QueueName="TestQueue",
            Attributes={"VisibilityTimeout": str(visibility), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        boto3.client("logs", region_name="us-east-1").create_log_group(logGroupName="test-logs")
        self.settings = WorkerSettings(
            app_name="Test",
            queue_url=self.queue_url,
            bucket=BUCKET,
            region="us-east-1",
            log_group="test-logs",
            visibility_timeout=visibility,
            idle_exit_seconds=0,  # jobs are sent before a worker starts: it exits once it finds none left
            spec_path=str(tmp / "spec.json"),
        )
        self.spec = self.use_spec()

    def use_spec(
        self, command: list[Any] | dict[str, Any] | None = None, output_prefix: str = "results/{name}", **extra: Any
    ) -> ToolSpec:
        """The toy tool by default: one job field per toy option."""
        fields = [
            {"name": "name", "type": "string"},
            {"name": "files", "type": "integer", "required": False, "default": 1},
            {"name": "sleep", "type": "number", "required": False, "default": 0},
            {"name": "code", "type": "integer", "required": False, "default": 0},
        ]
        default_command = [sys.executable, TOY, "{output_dir}", "--files", "{files}", "--sleep", "{sleep}"]
        default_command += ["--exit", "{code}", "--started", str(self.started)]
        spec = ToolSpec.model_validate(
            {
                "tool_name": "toy",
                "app_name": "Test",
                "docker_image": "toy:latest",
                "command": command or default_command,
                "job_fields": extra.pop("job_fields", fields),
                "output_prefix": output_prefix,
                "done": {"min_files": 1},
                **extra,
            }
        )
        Path(self.settings.spec_path).write_text(spec.model_dump_json())
        self.spec = spec
        return spec

    def use_first_run_sleep(self) -> ToolSpec:
        """The toy tool sleeping `sleep` seconds in the first run only: a retry runs at once."""
        command = [sys.executable, TOY, "{output_dir}", "--files", "{files}", "--first-run-sleep", "{sleep}"]
        return self.use_spec([*command, "--exit", "{code}", "--started", str(self.started)])

    def send(self, *groups: dict[str, Any]) -> list[Job]:
        jobs = []
        for group in groups:
            values = check_job(self.spec, {}, group, "test")
            jobs.append(Job(job_id_of(values), values))
        for job in jobs:  # marked as the app's, as submitJob marks them
            attributes = app_attribute(self.settings.app_name)
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=job.message_body(), MessageAttributes=attributes)
        return jobs

    def start(self, **settings: Any) -> subprocess.Popen[str]:
        return self.start_with_env({}, **settings)

    def start_waiting(self, **settings: Any) -> subprocess.Popen[str]:
        """A worker that waits for work until stopped (see stop_once), and hears a stop within 1 s."""
        return self.start(idle_exit_seconds=60, receive_wait_seconds=1, **settings)

    def start_with_env(self, extra: dict[str, str], **settings: Any) -> subprocess.Popen[str]:
        env = {**os.environ, **replace(self.settings, **settings).to_env(), "TMPDIR": str(self.work), **extra}
        return subprocess.Popen(
            [sys.executable, "-m", "ds_runtime.worker"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def runs(self) -> list[int]:
        """Pids of every toy tool run so far."""
        return [int(p.read_text()) for p in self.started.glob("*.started")]

    def wait_for_runs(self, count: int, timeout: float = 20) -> list[int]:
        return wait_for(lambda: len(self.runs()) >= count, timeout) and self.runs()

    def keys(self, prefix: str = "") -> dict[str, int]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}

    def text(self, key: str) -> str:
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()

    def finished_before(self, job: Job, state: str = "done") -> None:
        """The outcome record an earlier attempt at `job` left when it ended in `state`."""
        now = datetime.now(timezone.utc).isoformat()
        record = Outcome(job.job_id, 1, state, now, now, 1.0, "earlier-host")  # type: ignore[arg-type]
        write_outcome(self.s3, BUCKET, self.settings.outcome_prefix, record)

    def outcomes(self) -> dict[str, Outcome]:
        return latest_outcomes(self.s3, BUCKET, self.settings.outcome_prefix)

    def all_outcomes(self) -> list[Outcome]:
        items = sorted(outcome_keys(self.s3, BUCKET, self.settings.outcome_prefix))
        return [read_outcome(self.s3, BUCKET, item.key) for item in items]

    def queue_counts(self, url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attrs = self.sqs.get_queue_attributes(QueueUrl=url or self.queue_url, AttributeNames=names)["Attributes"]
        return int(attrs[names[0]]), int(attrs[names[1]])


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.1)
    return True


def finish(proc: subprocess.Popen[str], timeout: float = 40) -> str:
    """Wait for a worker to exit by itself; its output, shown on failure."""
    out, _ = proc.communicate(timeout=timeout)
    print(out)
    return out


def stop_once(proc: subprocess.Popen[str], condition: Callable[[], bool], timeout: float = 30) -> str:
    """Wait until `condition()` holds, then stop the worker as ECS would (SIGTERM); its output."""
    try:
        wait_for(condition, timeout)
    except AssertionError:
        proc.kill()
        print(proc.communicate()[0])
        raise
    proc.send_signal(signal.SIGTERM)
    return finish(proc, timeout=15)


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def rig(moto_server: str, tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_jobs_run_by_two_worker_processes(rig: Rig) -> None:
    jobs = rig.send(*({"name": f"job{i}", "files": 3} for i in range(6)))
    worker = rig.start(docker_cores=2)
    out = finish(worker)
    assert worker.returncode == 0, out
    for i in range(6):
        keys = rig.keys(f"results/job{i}/")
        assert keys.keys() == {f"results/job{i}/{d}/out_{n}.txt" for n, d in ((0, "a"), (1, "b"), (2, "a"))}
        assert rig.text(f"results/job{i}/b/out_1.txt") == "file 1\n"
    assert rig.queue_counts() == (0, 0)
    outcomes = rig.outcomes()
    assert {o.state for o in outcomes.values()} == {"done"} and set(outcomes) == {j.job_id for j in jobs}
    record = outcomes[jobs[0].job_id]
    assert record.exit_code == 0 and record.output_prefix == "results/job0" and "toy done, exit 0" in record.tail
    events = boto3.client("logs", region_name="us-east-1").get_log_events(
        logGroupName=record.log_group, logStreamName=record.log_stream
    )["events"]
    assert "toy line 0" in [e["message"] for e in events]
    assert list(rig.work.iterdir()) == []  # every job folder removed


def test_a_worker_told_to_exit_once_idle_takes_every_waiting_job_first(rig: Rig) -> None:
    """WORKER_IDLE_EXIT_SECONDS = 0: the first receive that finds no message ends the worker."""
    jobs = rig.send(*({"name": f"job{i}"} for i in range(3)))
    worker = rig.start(idle_exit_seconds=0)
    out = finish(worker)
    assert worker.returncode == 0 and "queue empty for 0 s: exiting" in out, out
    assert {o.state for o in rig.outcomes().values()} == {"done"} and len(rig.outcomes()) == len(jobs)
    assert rig.queue_counts() == (0, 0)


def test_killed_worker_job_is_redone_after_visibility_timeout(moto_server: str, tmp_path: Path) -> None:
    rig = Rig(tmp_path, visibility=2)
    rig.use_first_run_sleep()
    (job,) = rig.send({"name": "crash", "files": 2, "sleep": 1.5})
    first = rig.start(idle_exit_seconds=30)
    pids = rig.wait_for_runs(1)
    first.kill()  # SIGKILL: no cleanup, no release, no heartbeat any more
    first.communicate()
    kill_pids(pids)  # in a container the tool dies with it
    second = rig.start_waiting()
    out = stop_once(second, lambda: job.job_id in rig.outcomes())  # back after the visibility timeout
    assert len(rig.runs()) == 2, out
    assert rig.keys("results/crash/").keys() == {"results/crash/a/out_0.txt", "results/crash/b/out_1.txt"}
    assert rig.outcomes()[job.job_id].state == "done" and rig.outcomes()[job.job_id].attempt == 2
    assert rig.queue_counts() == (0, 0)


@pytest.mark.slow
def test_always_failing_job_ends_in_dead_letter_queue(moto_server: str, tmp_path: Path) -> None:
    rig = Rig(tmp_path, visibility=2, retries=2)
    (job,) = rig.send({"name": "bad", "code": 3})
    # Retried after each failure; the receive after the second moves it to the dead-letter queue.
    out = stop_once(rig.start_waiting(), lambda: rig.queue_counts(rig.dlq_url) == (1, 0))
    records = rig.all_outcomes()
    assert [(o.attempt, o.state, o.exit_code) for o in records] == [(1, "failed", 3), (2, "failed", 3)], out
    assert "exited with code 3, expected 0" in records[-1].error
    assert "toy done, exit 3" in records[-1].tail
    dead = rig.sqs.receive_message(QueueUrl=rig.dlq_url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(dead[0]["Body"])[JOB_ID_KEY] == job.job_id
    assert rig.queue_counts() == (0, 0) and rig.keys("results/") == {}


def test_sigterm_releases_messages_at_once(moto_server: str, tmp_path: Path) -> None:
    rig = Rig(tmp_path, visibility=60)
    rig.send({"name": "long1", "sleep": 30}, {"name": "long2", "sleep": 30})
    supervisor = rig.start(docker_cores=2, seconds_to_start=1)
    pids = rig.wait_for_runs(2)
    start = time.monotonic()
    supervisor.send_signal(signal.SIGTERM)
    out = finish(supervisor, timeout=15)
    assert supervisor.returncode == 0 and time.monotonic() - start < 5, out
    assert rig.queue_counts() == (2, 0)  # visible again now, not in 60 s
    assert {(o.state, o.attempt, o.interruptions) for o in rig.outcomes().values()} == {("interrupted", 1, 1)}
    # Sent again as new messages: neither has been received yet, so no retry is spent.
    again = rig.sqs.receive_message(
        QueueUrl=rig.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in again] == ["1", "1"]
    for pid in pids:  # the tools were stopped too
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert list(rig.work.iterdir()) == []


def test_an_idle_worker_notices_a_stop_within_its_receive_wait(rig: Rig) -> None:
    """WORKER_RECEIVE_WAIT_SECONDS: a worker on an empty queue hears SIGTERM once its receive ends,
    not after SQS's 20 s long poll, and exits by itself (its temp root removed)."""
    worker = rig.start_with_env({"WORKER_RECEIVE_WAIT_SECONDS": "1"}, idle_exit_seconds=60)
    wait_for(lambda: any(rig.work.glob("ds-worker-*")), 10)  # started: in its loop, or about to be
    worker.send_signal(signal.SIGTERM)
    out = finish(worker, timeout=5)
    assert worker.returncode == 0 and "INFO stopped" in out, out
    assert list(rig.work.iterdir()) == []


class FakeAgent:
    """The ECS agent's task-protection endpoint: records what the worker asks for."""

    def __init__(self) -> None:
        self.asked: list[bool] = []
        asked = self.asked

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/task-protection/v1/state":
                    asked.append(body["ProtectionEnabled"])
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def test_task_is_protected_from_scale_in_exactly_while_its_jobs_run(moto_server: str, tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.send({"name": "p1", "sleep": 1}, {"name": "p2", "sleep": 1})
    agent = FakeAgent()
    env = {"ECS_AGENT_URI": agent.url, "DS_PROTECTION_DIR": str(tmp_path / "marks")}
    out = finish(rig.start_with_env(env, docker_cores=2))
    agent.server.shutdown()
    assert {o.state for o in rig.outcomes().values()} == {"done"}, out
    # Two workers of one task: on with the first job, off only once neither holds a job.
    assert agent.asked[0] is True and agent.asked[-1] is False and agent.asked.count(False) >= 1
    assert list((tmp_path / "marks").iterdir()) == [tmp_path / "marks" / ".lock"]


class SpotMetadata:
    """EC2's instance metadata as the worker polls it: 404 until an interruption is scheduled."""

    def __init__(self) -> None:
        self.scheduled = threading.Event()
        scheduled = self.scheduled

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # IMDSv2 token
                self._answer(200, b"token")

            def do_GET(self) -> None:
                found = self.path == "/latest/meta-data/spot/instance-action" and scheduled.is_set()
                self._answer(200 if found else 404, b'{"action": "terminate", "time": "2030-01-01T00:00:00Z"}')

            def _answer(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def test_interruption_gives_the_job_back_without_spending_a_retry(moto_server: str, tmp_path: Path) -> None:
    """JOB_RETRIES = 1: were the interrupted attempt counted, the next receive would dead-letter the job."""
    rig = Rig(tmp_path, visibility=30, retries=1)
    rig.use_first_run_sleep()
    (job,) = rig.send({"name": "spot", "sleep": 5})  # far longer than the 0.2 s between notice checks
    metadata = SpotMetadata()
    watched = {"DS_INSTANCE_METADATA_URL": metadata.url, "DS_SPOT_NOTICE_POLL_SECONDS": "0.2"}
    worker = rig.start_with_env(watched, idle_exit_seconds=30)
    [pid] = rig.wait_for_runs(1)
    metadata.scheduled.set()  # EC2 schedules the interruption: two minutes' notice
    out = finish(worker, timeout=20)  # the worker stops the tool, gives the job back and exits
    metadata.server.shutdown()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    [interrupted] = rig.all_outcomes()
    assert (interrupted.state, interrupted.attempt, interrupted.interruptions) == ("interrupted", 1, 1), out
    assert rig.queue_counts() == (1, 0)  # back on the queue at once
    out = finish(rig.start(), timeout=60)  # another machine takes it
    done = rig.outcomes()[job.job_id]
    assert (done.state, done.attempt, done.interruptions) == ("done", 2, 1), out
    assert rig.queue_counts() == (0, 0) and rig.queue_counts(rig.dlq_url) == (0, 0)
    assert f"results/{job.values['name']}/a/out_0.txt" in rig.keys("results/")


def test_job_past_job_timeout_is_stopped_and_recorded_as_failed(moto_server: str, tmp_path: Path) -> None:
    rig = Rig(tmp_path, visibility=2, retries=1)
    (job,) = rig.send({"name": "hung", "sleep": 60})
    worker = rig.start_waiting(job_timeout_seconds=1)
    [pid] = rig.wait_for_runs(1)
    # A failure like any other: with JOB_RETRIES = 1 the receive of its retry dead-letters it.
    out = stop_once(worker, lambda: rig.queue_counts(rig.dlq_url) == (1, 0))
    [record] = rig.all_outcomes()
    assert (record.job_id, record.state, record.attempt) == (job.job_id, "failed", 1), out
    assert record.error == "timed out after 1 s (JOB_TIMEOUT): the tool was stopped"
    assert record.duration_seconds < 30 and record.exit_code == -signal.SIGTERM
    assert "toy line 2" in record.tail  # what the tool printed before it hung
    with pytest.raises(ProcessLookupError):  # the tool's process is gone
        os.kill(pid, 0)
    assert rig.sqs.receive_message(QueueUrl=rig.dlq_url, WaitTimeSeconds=1)["Messages"]
    assert rig.queue_counts() == (0, 0)


@pytest.mark.slow
def test_job_longer_than_visibility_timeout_runs_once(moto_server: str, tmp_path: Path) -> None:
    rig = Rig(tmp_path, visibility=2)
    (job,) = rig.send({"name": "slow", "sleep": 5})
    worker = rig.start_waiting(docker_cores=2, seconds_to_start=1)  # the second would take it again
    rig.wait_for_runs(1)
    seen = []
    while worker.poll() is None and not rig.outcomes():
        seen.append(rig.queue_counts()[0])  # a visible message here would be picked up twice
        time.sleep(0.3)
    out = stop_once(worker, lambda: True)
    assert max(seen) == 0 and len(seen) > 10, out
    assert len(rig.runs()) == 1
    assert rig.outcomes()[job.job_id].state == "done" and rig.outcomes()[job.job_id].attempt == 1
    assert rig.queue_counts() == (0, 0)


def test_hostile_values_stay_literal_arguments(moto_server: str, tmp_path: Path) -> None:
    rig = Rig(tmp_path, retries=1)
    pwned = tmp_path / "pwned"
    hostile = {"a": "; rm -rf ~", "b": f"$(touch {pwned})", "c": "two words 'single' \"double\"", "d": "../../x"}
    command = [sys.executable, TOY, "{output_dir}", "--echo", "--", "{a}", "{b}", "--c={c}", "{d}", "{where}"]
    names = ["a", "b", "c", "d", "where"]
    rig.use_spec(command, output_prefix="results/{where}", job_fields=[{"name": n} for n in names])
    (good,) = rig.send({**hostile, "where": "ok"})
    # Sent by hand, as anyone with queue access could: the control plane would refuse it.
    body = {**hostile, "where": "../../escape", JOB_ID_KEY: "0123456789abcdef"}
    rig.sqs.send_message(QueueUrl=rig.queue_url, MessageBody=json.dumps(body))
    out = finish(rig.start())
    recorded = json.loads(rig.text("results/ok/argv.json"))
    assert recorded == ["--echo", "--", "; rm -rf ~", f"$(touch {pwned})", "--c=" + hostile["c"], "../../x", "ok"], out
    assert not pwned.exists()
    status = rig.settings.outcome_prefix + "/"
    assert all(key == "results/ok/argv.json" or key.startswith(status) for key in rig.keys())  # noqa: SIM118 - a method, not a dict
    outcomes = rig.outcomes()
    assert outcomes[good.job_id].state == "done"
    refused = outcomes["0123456789abcdef"]
    assert refused.state == "failed" and refused.exit_code is None
    assert "output prefix 'results/../../escape' contains a '.' or '..' segment" in refused.error


def gone(pid: int) -> bool:
    """No such process, not even a zombie waiting to be reaped."""
    return not Path(f"/proc/{pid}").exists()


def test_a_process_the_tool_detaches_ends_with_its_job(rig: Rig) -> None:
    rig.use_spec([sys.executable, TOY, "{output_dir}", "--files", "1", "--detach", "--started", str(rig.started)])
    (job,) = rig.send({"name": "daemon"})
    out = finish(rig.start())
    (detached,) = [int(p.read_text()) for p in rig.started.glob("*.detached")]
    assert rig.outcomes()[job.job_id].state == "done", out
    assert gone(detached), "the setsid process outlived its job"
    assert list(rig.work.iterdir()) == []


def test_a_tool_killed_by_sigkill_is_recorded_as_such_with_its_last_lines_and_peak_memory(rig: Rig) -> None:
    dies = "import os, sys; data = b'x' * 80_000_000; print('working'); sys.stdout.write('last words'); "
    rig.use_spec([sys.executable, "-c", dies + "sys.stdout.flush(); os.kill(os.getpid(), 9)"])
    (job,) = rig.send({"name": "killed"})
    out = finish(rig.start())
    record = rig.outcomes()[job.job_id]
    assert (record.state, record.exit_code) == ("failed", -9), out
    assert record.error.startswith("the tool was killed by signal 9 (SIGKILL)")
    tool = record.tail[record.tail.index("working") :]
    assert tool[1] == "last words" and tool[2].startswith("the tool was killed by signal 9 (SIGKILL) after")
    assert record.peak_memory_mb is not None and record.peak_memory_mb >= 76  # MiB: 80 MB is 76 MiB
    assert "failed: the tool was killed by signal 9 (SIGKILL)" in out
    assert list(rig.work.iterdir()) == []


def test_kill_9_of_the_worker_ends_every_process_of_its_tool_and_its_folders(moto_server: str, tmp_path: Path) -> None:
    rig = Rig(tmp_path, visibility=2)
    command = [sys.executable, TOY, "{output_dir}", "--files", "1", "--first-run-sleep", "{sleep}", "--detach"]
    rig.use_spec([*command, "--started", str(rig.started)])
    (job,) = rig.send({"name": "killed", "sleep": 3})
    worker = rig.start(idle_exit_seconds=30)
    (tool,) = rig.wait_for_runs(1)
    wait_for(lambda: len(list(rig.started.glob("*.detached"))) == 1, 10)
    (detached,) = [int(p.read_text()) for p in rig.started.glob("*.detached")]
    (job_folder,) = rig.work.glob(f"ds-worker-*/ds-{job.job_id}-*")
    worker.kill()  # SIGKILL: the worker itself cleans up nothing
    worker.communicate()
    wait_for(lambda: gone(tool) and gone(detached), 10)
    # The reaper removes it once every process of the tool has ended: after a SIGTERM grace of its own
    # (REAPER_GRACE_SECONDS) at most, so the wait allows that much on a busy machine.
    wait_for(lambda: not job_folder.exists(), REAPER_GRACE_SECONDS + 5)
    # The next worker to start here removes the dead worker's temp root, and redoes the job
    # once it is back, after the visibility timeout.
    out = stop_once(rig.start_waiting(), lambda: job.job_id in rig.outcomes())
    assert "left by a worker that died" in out
    assert rig.outcomes()[job.job_id].state == "done"
    assert list(rig.work.iterdir()) == []
    kill_pids([int(p.read_text()) for p in rig.started.glob("*.detached")])  # in case the check above failed


@pytest.mark.slow
def test_a_killed_worker_under_docker_cores_is_restarted_and_logged(moto_server: str, tmp_path: Path) -> None:
    rig = Rig(tmp_path, visibility=2)
    jobs = rig.send(*({"name": f"job{i}", "sleep": 1} for i in range(3)))
    supervisor = rig.start_waiting(docker_cores=2, seconds_to_start=0)
    rig.wait_for_runs(1)
    workers = [int(pid) for pid in Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text().split()]
    os.kill(workers[0], signal.SIGKILL)
    # A job the killed worker held is back after the visibility timeout.
    out = stop_once(supervisor, lambda: len(rig.outcomes()) == len(jobs))
    assert f"worker 1 (pid {workers[0]}) was killed (code -9): restarted as pid" in out
    assert supervisor.returncode == 0, out
    assert {o.state for o in rig.outcomes().values()} == {"done"} and len(rig.outcomes()) == len(jobs)
    assert rig.queue_counts() == (0, 0)
    assert list(rig.work.iterdir()) == []


def test_mapping_values_reach_the_tool_as_one_parameter_each(moto_server: str, tmp_path: Path) -> None:
    """|pairs quotes (Fiji's --run reads quotes), |kv refuses what it cannot quote (CellProfiler's -g)."""
    rig = Rig(tmp_path, retries=1)
    command = [sys.executable, TOY, "{output_dir}", "--echo", "--", "{m|pairs}", "{g|kv}"]
    fields = [{"name": "name"}, {"name": "m", "type": "mapping"}, {"name": "g", "type": "mapping"}]
    rig.use_spec(command, output_prefix="results/{name}", job_fields=fields)
    (good,) = rig.send({"name": "ok", "m": {"a": "x', b='y", "c": 'q"\\'}, "g": {"Plate": "P1"}})
    # Sent by hand (the control plane refuses it): a ',' would add a grouping key.
    body = {"name": "bad", "m": {"a": "1"}, "g": {"Plate": "P1,Well=A01"}, JOB_ID_KEY: "0123456789abcdef"}
    rig.sqs.send_message(QueueUrl=rig.queue_url, MessageBody=json.dumps(body))
    out = finish(rig.start())
    recorded = json.loads(rig.text("results/ok/argv.json"))
    assert recorded == ["--echo", "--", "a=\"x', b='y\", c='q\"\\'", "Plate=P1"], out
    outcomes = rig.outcomes()
    assert outcomes[good.job_id].state == "done"
    refused = outcomes["0123456789abcdef"]
    assert refused.state == "failed" and refused.exit_code is None, "refused before the tool ran"
    assert "g: value of 'Plate' 'P1,Well=A01' holds ','" in refused.error
    assert not rig.keys("results/bad")


def test_inputs_downloaded_under_their_keys(rig: Rig) -> None:
    command = [sys.executable, TOY, "{output_dir}", "--ls", "{input_dir}", "--echo", "--", "{data}", "{single}"]
    fields = [{"name": "data", "type": "s3_prefix"}, {"name": "single", "type": "s3_key"}, {"name": "name"}]
    rig.use_spec(command, job_fields=fields, input_fields=["data", "single"])
    inputs = {"in/plate/a.txt": "A", "in/plate/sub/b.txt": "B", "in/plate2/no.txt": "-", "other/c.txt": "C"}
    for key, text in inputs.items():
        rig.s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode())
    rig.send({"data": "in/plate", "single": "other/c.txt", "name": "x"})
    out = finish(rig.start())
    assert json.loads(rig.text("results/x/ls.json")) == {k: v for k, v in inputs.items() if "plate2" not in k}, out
    argv = json.loads(rig.text("results/x/argv.json"))
    assert [arg.rsplit("/input/", 1)[1] for arg in argv[-2:]] == ["in/plate", "other/c.txt"]


def test_skip_if_done_counts_past_1000_objects(rig: Rig) -> None:
    done, todo = rig.send({"name": "done"}, {"name": "todo"})
    keys = [f"results/done/{i:04d}.txt" for i in range(1000)] + ["results/done/zz-final.txt"]
    put_objects(BUCKET, keys, b"0123456789")
    rig.finished_before(done)
    settings = {"check_if_done": True, "expected_number_files": 1001, "min_file_size_bytes": 5}
    out = finish(rig.start(necessary_string="zz-final", **settings))
    outcomes = rig.outcomes()
    assert outcomes[done.job_id].state == "skipped", out
    assert outcomes[todo.job_id].state == "done"
    assert len(rig.runs()) == 1 and rig.queue_counts() == (0, 0)


def test_a_partial_upload_is_not_done_and_skip_if_done_runs_the_job_again(rig: Rig) -> None:
    """An attempt uploaded 3 of its 4 outputs, then S3 throttled it: its record says failed. The retry, with
    CHECK_IF_DONE_BOOL, must run the job (files alone are not a finished attempt), and a later one skip it."""
    (job,) = rig.send({"name": "partial", "files": 4})
    for index in range(3):
        key = f"results/partial/{'ab'[index % 2]}/out_{index}.txt"
        rig.s3.put_object(Bucket=BUCKET, Key=key, Body=b"file\n", Metadata={"ds-job-id": job.job_id})
    rig.finished_before(job, "failed")
    settings = {"check_if_done": True, "expected_number_files": 3, "min_file_size_bytes": 1}
    out = finish(rig.start(**settings))
    assert rig.outcomes()[job.job_id].state == "done", out
    assert len(rig.runs()) == 1 and len(rig.keys("results/partial/")) == 4
    rig.send({"name": "partial", "files": 4})  # submitted again: now it finished, so it is skipped
    out = finish(rig.start(**settings))
    assert rig.outcomes()[job.job_id].state == "skipped", out
    assert len(rig.runs()) == 1


def test_skip_if_done_looks_only_in_the_jobs_own_folder_of_a_shared_prefix(rig: Rig) -> None:
    """DOZC's layout: every plate's store under one prefix; one plate done must not skip the others."""
    rig.use_spec(output_prefix="results", own_output_folder="{name}.out")
    done, todo = rig.send({"name": "done"}, {"name": "todo"})
    rig.s3.put_object(Bucket=BUCKET, Key="results/done.out/0.txt", Body=b"0123456789")
    rig.finished_before(done)
    out = finish(rig.start(check_if_done=True, expected_number_files=1, min_file_size_bytes=1))
    outcomes = rig.outcomes()
    assert outcomes[done.job_id].state == "skipped", out
    assert outcomes[todo.job_id].state == "done"  # results/ held a file, but none in todo.out/
    assert len(rig.runs()) == 1


def test_input_templates_config_keys_and_split_in_a_real_worker(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plate folder built from fields comes down; config keys and split words reach the tool; the
    done rule's count comes from config (EXPECTED_NUMBER_FILES)."""
    monkeypatch.setenv("TOY_FLAGS", "--echo --files 2")
    command = [sys.executable, TOY, "{output_dir}", "--ls", "{input_dir}", {"split": "{config.TOY_FLAGS}"}]
    command += ["--", "{input_dir}/{where}/{name}/meta.xml", {"split": "{extra}"}]
    fields = [
        {"name": "where", "type": "s3_prefix"},
        {"name": "name", "type": "string"},
        {"name": "extra", "type": "string", "required": False, "default": ""},
    ]
    rig.use_spec(
        command,
        job_fields=fields,
        input_fields=["{where}/{name}/"],
        config_keys=["TOY_FLAGS"],
        done={"min_files": "config.EXPECTED_NUMBER_FILES"},
    )
    for key in ["in/P1/meta.xml", "in/P1/img/a.tif", "in/P2/no.xml"]:
        rig.s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    (ok,) = rig.send({"where": "in/", "name": "P1", "extra": "-x 'two words'"})
    out = finish(rig.start(expected_number_files=4))  # argv.json, ls.json and 2 files: 4, enough
    assert json.loads(rig.text("results/P1/ls.json")) == {
        "in/P1/meta.xml": "in/P1/meta.xml",
        "in/P1/img/a.tif": "in/P1/img/a.tif",
    }, out
    argv = json.loads(rig.text("results/P1/argv.json"))
    assert argv[-4:] == ["--", argv[-3], "-x", "two words"] and argv[-3].endswith("/input/in/P1/meta.xml")
    assert "--echo" in argv and argv[argv.index("--files") + 1] == "2"
    assert rig.outcomes()[ok.job_id].state == "done"


def test_inputs_from_one_bucket_outputs_to_another_with_upload_flags(
    moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOZC's job files name their buckets: the worker reads and writes there, with the upload
    flags applied, skips by what the output bucket holds, and refuses a bucket not in JOB_BUCKETS."""
    rig = Rig(tmp_path, retries=1)
    for bucket in ("plates-bucket", "zarr-bucket"):
        rig.s3.create_bucket(Bucket=bucket)
    monkeypatch.setenv("JOB_BUCKETS", "plates-bucket, zarr-bucket")
    monkeypatch.setenv("UPLOAD_FLAGS", "--acl public-read --metadata-directive REPLACE")
    fields = [
        {"name": "name"},
        {"name": "data", "type": "s3_prefix"},
        {"name": "src", "required": False},
        {"name": "dst", "required": False},
        {"name": "storage", "required": False, "default": ""},
    ]
    rig.use_spec(
        [sys.executable, TOY, "{output_dir}", "--ls", "{input_dir}"],
        job_fields=fields,
        input_fields=[{"key": "data", "bucket": "src"}],
        output_bucket="dst",
        upload_flags="{config.UPLOAD_FLAGS} {storage}",
        config_keys=["JOB_BUCKETS", "UPLOAD_FLAGS"],
    )
    rig.s3.put_object(Bucket="plates-bucket", Key="in/P1/a.txt", Body=b"A")
    rig.s3.put_object(Bucket=BUCKET, Key="in/P1/a.txt", Body=b"the wrong bucket")
    rig.s3.put_object(Bucket=BUCKET, Key="results/P1/old.txt", Body=b"not where P1's outputs go")
    rig.s3.put_object(Bucket="zarr-bucket", Key="results/P2/done.txt", Body=b"done before")
    job = {"data": "in/P1", "src": "plates-bucket", "dst": "zarr-bucket", "storage": "--storage-class STANDARD_IA"}
    p1, p2 = rig.send({**job, "name": "P1"}, {**job, "name": "P2"})
    rig.finished_before(p2)
    # Sent by hand, as anyone with queue access could: submitJob would refuse it.
    evil = {**job, "name": "P3", "dst": "attacker-bucket"}
    evil_id = job_id_of(check_job(rig.spec, {}, evil, "test"))
    rig.sqs.send_message(QueueUrl=rig.queue_url, MessageBody=json.dumps(evil))
    out = finish(rig.start(check_if_done=True, expected_number_files=1, min_file_size_bytes=1))
    outcomes = rig.outcomes()
    assert (outcomes[p1.job_id].state, outcomes[p1.job_id].output_bucket) == ("done", "zarr-bucket"), out
    assert json.loads(rig.s3.get_object(Bucket="zarr-bucket", Key="results/P1/ls.json")["Body"].read()) == {
        "in/P1/a.txt": "A"
    }
    stored = rig.s3.get_object(Bucket="zarr-bucket", Key="results/P1/ls.json")
    assert stored["StorageClass"] == "STANDARD_IA"
    grants = rig.s3.get_object_acl(Bucket="zarr-bucket", Key="results/P1/ls.json")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") and g["Permission"] == "READ" for g in grants)
    assert "upload flag --metadata-directive REPLACE ignored" in out
    assert outcomes[p2.job_id].state == "skipped"  # its outputs are in the output bucket
    refused = outcomes[evil_id]
    assert refused.state == "failed" and refused.exit_code is None
    assert "dst: bucket 'attacker-bucket' is not one this run may write outputs to" in refused.error
    assert "add it to JOB_BUCKETS in config.py" in refused.error
    assert rig.keys("results/") == {"results/P1/old.txt": 25}  # nothing new in AWS_BUCKET but records


@pytest.mark.parametrize("download_files", ["True", "False"])
def test_a_load_data_csv_brings_its_images_and_names_the_local_copies(
    moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, download_files: str
) -> None:
    """DCP's layout: the CSV in the workspace bucket names images under the bucket mount
    (/home/ubuntu/bucket/...) in the source bucket. Whatever DOWNLOAD_FILES says, only this
    group's images come down, never the whole input folder (that is for .h5 batch files);
    the CSV the tool reads names the local copies, and only this group's rows."""
    rig = Rig(tmp_path, retries=1)
    rig.s3.create_bucket(Bucket="images-bucket")
    monkeypatch.setenv("SOURCE_BUCKET", "images-bucket")
    monkeypatch.setenv("DOWNLOAD_FILES", download_files)
    rig.use_spec(
        [sys.executable, TOY, "{output_dir}", "--ls", "{input_dir}"],
        output_prefix="results/{Metadata|values}",
        job_fields=[
            {"name": "Metadata", "type": "mapping"},
            {"name": "data_file", "type": "s3_key"},
            {"name": "input", "type": "s3_prefix"},
        ],
        input_fields=[
            {"key": "{input}/", "bucket": "config.SOURCE_BUCKET", "when": "data_file", "matches": r"\.h5$"},
            {
                "key": "data_file",
                "lists_files": {
                    "path_root": "/home/ubuntu/bucket",
                    "bucket": "config.SOURCE_BUCKET",
                    "rows_matching": "Metadata",
                },
            },
        ],
        config_keys=["SOURCE_BUCKET", "DOWNLOAD_FILES"],
    )
    root = "/home/ubuntu/bucket/images"
    rows = ["Metadata_Well,FileName_DNA,PathName_DNA"] + [f"{w},{w}.tif,{root}/P1" for w in ("A01", "A02")]
    rig.s3.put_object(Bucket=BUCKET, Key="ws/load_data.csv", Body="\n".join(rows).encode())
    for well in ("A01", "A02"):
        rig.s3.put_object(Bucket="images-bucket", Key=f"images/P1/{well}.tif", Body=well.encode())
    (job,) = rig.send({"data_file": "ws/load_data.csv", "input": "images/", "Metadata": "Metadata_Well=A02"})
    out = finish(rig.start())
    assert rig.outcomes()[job.job_id].state == "done", out
    seen = json.loads(rig.text("results/A02/ls.json"))
    csv_text = seen.pop("ws/load_data.csv")
    assert seen == {"images/P1/A02.tif": "A02"}
    header, row = csv_text.strip().split("\n")
    assert header == "Metadata_Well,FileName_DNA,PathName_DNA"
    well, name, path = row.split(",")
    assert (well, name) == ("A02", "A02.tif") and path.endswith("/input/images/P1") and not path.startswith(root)


# The startup step appends its pid to the file config MARKS names (no braces: they are placeholders).
MARK = "import os, sys, time; time.sleep(0.5); open(sys.argv[1], 'a').write(str(os.getpid()) + chr(10))"


def test_startup_runs_once_per_container_before_any_job(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    marks = rig.tmp / "startup-marks"
    monkeypatch.setenv("MARKS", str(marks))
    rig.use_spec(config_keys=["MARKS"], startup=[{"run": [sys.executable, "-c", MARK, "{config.MARKS}"]}])
    jobs = rig.send(*({"name": f"job{i}"} for i in range(4)))
    worker = rig.start(docker_cores=2)
    out = finish(worker)
    assert worker.returncode == 0, out
    assert len(marks.read_text().splitlines()) == 1, "one startup for the container, not one per worker"
    assert {o.state for o in rig.outcomes().values()} == {"done"} and len(rig.outcomes()) == len(jobs)
    first_job = min(p.stat().st_mtime for p in rig.started.glob("*.started"))
    assert marks.stat().st_mtime <= first_job, "startup finished before the first job started"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed on this computer")
def test_failed_startup_exits_3_and_takes_no_message(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGINS_COMMIT", "no-such-commit")
    rig.use_spec(
        config_keys=["PLUGINS_COMMIT"],
        startup=[{"run": ["git", "checkout", "{config.PLUGINS_COMMIT}"], "cwd": str(rig.tmp)}],
    )
    rig.send({"name": "waits"})
    worker = rig.start(docker_cores=2)
    out = finish(worker)
    assert worker.returncode == 3, out
    assert "startup[0] failed: git exited with code" in out and "check config.py's PLUGINS_COMMIT" in out
    assert rig.queue_counts() == (1, 0), "the message was never received"
    assert rig.runs() == [] and rig.outcomes() == {}


# ---------------------------------------------------------------- commands of several steps

# Three programs, no shell: the first writes a file, the second's standard output goes to a file
# named by the job's value (uploaded), the third reads both.
STEPS = {
    "steps": [
        {"run": [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write('raw')", "{work_dir}/raw.txt"]},
        {
            "run": [sys.executable, "-c", "import sys; print(open(sys.argv[1]).read().upper())", "{work_dir}/raw.txt"],
            "stdout": "{output_dir}/{name}.txt",
        },
        {"run": [sys.executable, "-c", "import sys; sys.exit(int(sys.argv[1]))", "{code}"]},
    ]
}


def test_a_job_of_steps_runs_them_in_order_and_uploads_a_steps_stdout_file(rig: Rig) -> None:
    rig.use_spec(STEPS)
    (job,) = rig.send({"name": "x;touch INJECTED;echo"})
    out = finish(rig.start())
    record = rig.outcomes()[job.job_id]
    assert record.state == "done", out
    assert rig.keys("results/").keys() == {"results/x;touch INJECTED;echo/x;touch INJECTED;echo.txt"}
    assert rig.text("results/x;touch INJECTED;echo/x;touch INJECTED;echo.txt") == "RAW\n"
    assert [line.split(" after ")[0] for line in record.tail if " exited with code " in line] == [
        f"step {n} of 3 ({Path(sys.executable).name}) exited with code 0" for n in (1, 2, 3)
    ]
    assert not list(REPO.glob("INJECTED")) and not list(rig.work.glob("**/INJECTED"))


def test_the_first_failing_step_fails_the_job_named_in_its_outcome_record(moto_server: str, tmp_path: Path) -> None:
    rig = Rig(tmp_path, retries=1)
    steps = [*STEPS["steps"][:1], STEPS["steps"][2], STEPS["steps"][1]]  # the exit first, the upload last
    rig.use_spec({"steps": steps})
    rig.send({"name": "fails", "code": 4})
    out = finish(rig.start())
    [record] = rig.all_outcomes()
    python = Path(sys.executable).name
    assert (record.state, record.exit_code) == ("failed", 4), out
    assert record.error == f"step 2 of 3 ({python}) exited with code 4; the 1 step(s) after it did not run"
    assert any(line.startswith(f"step 2 of 3 ({python}) exited with code 4 after") for line in record.tail)
    assert rig.keys("results/") == {}


def test_a_stdout_file_a_hand_sent_value_takes_out_of_the_job_folder_fails_the_job(rig: Rig) -> None:
    rig.use_spec(STEPS, output_prefix="results/{code}")
    escape = rig.tmp / "escaped"
    # Sent by hand, as anyone with queue access could: submitJob would refuse it.
    body = {"name": f"../../../../../../../../..{escape}", JOB_ID_KEY: "0123456789abcdef"}
    rig.sqs.send_message(QueueUrl=rig.queue_url, MessageBody=json.dumps(body))
    out = finish(rig.start())
    record = rig.outcomes()["0123456789abcdef"]
    assert record.state == "failed" and record.exit_code is None, out
    assert "command.steps[1].stdout" in record.error and "is outside the job's folder" in record.error
    assert not escape.with_suffix(".txt").exists()
