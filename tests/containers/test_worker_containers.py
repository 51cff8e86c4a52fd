"""The generated worker image, run as real containers against the emulator on the host."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import TIMINGS, Stack, wait_for

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.real_tool]

TEXTS = {f"in/doc{i}.txt": "one two three\n" * (i + 1) + "four\n" for i in range(6)}


def job_file(stack: Stack, keys: list[str], pause: float = 0) -> dict[str, Any]:
    """A DS-format Job file: shared keys plus one group per job."""
    return {
        "_comment": "written by the container tests",
        "output": "results/",
        "groups": [{"text_key": key, "pause": pause} for key in keys],
    }


def logs_of(container: Any) -> str:
    return container.logs().decode(errors="replace")


def test_image_is_the_worker_and_carries_no_credentials(docker_client: Any, worker_image: str) -> None:
    attrs = docker_client.images.get(worker_image).attrs["Config"]
    env = dict(item.split("=", 1) for item in attrs.get("Env") or [])
    assert not {k for k in env if k.startswith("AWS_")} - {"AWS_REGION", "AWS_DEFAULT_REGION"}, env
    # With no settings the worker says what is missing and exits 2, not a traceback.
    container = docker_client.containers.run(worker_image, detach=True, network_mode="none")
    try:
        assert container.wait(timeout=60)["StatusCode"] == 2
        assert "SQS_QUEUE_URL" in logs_of(container)
    finally:
        container.remove(force=True)


def test_two_containers_run_every_job(
    docker_client: Any, worker_image: str, wordcount_repo: Path, stack: Stack, tmp_path: Path
) -> None:
    for key, text in TEXTS.items():
        stack.put_text(key, text)
    jobs = stack.submit(wordcount_repo, job_file(stack, sorted(TEXTS), pause=1.5), tmp_path)
    settings = stack.settings(visibility_timeout=60, idle_exit_seconds=6)

    started = time.monotonic()
    workers = [stack.start_worker(docker_client, worker_image, settings, f"w{i}") for i in range(2)]
    wait_for(lambda: any(o.state == "done" for o in stack.outcomes(settings).values()), 120, "a first job done")
    TIMINGS["container start to first job done"] = f"{time.monotonic() - started:.1f} s (tool pause 1.5 s)"

    # Both workers exit by themselves once the queue stays empty.
    for worker in workers:
        assert worker.wait(timeout=180)["StatusCode"] == 0, logs_of(worker)
    TIMINGS["2 containers, 6 jobs of 1.5 s, start to both exited"] = f"{time.monotonic() - started:.1f} s"

    for key, text in TEXTS.items():
        stem = Path(key).stem
        assert json.loads(stack.text(f"results/{stem}/counts.json")) == {
            "lines": len(text.splitlines()),
            "words": len(text.split()),
        }
    assert stack.queue_counts() == (0, 0)
    assert stack.queue_counts(stack.dlq_url) == (0, 0)
    outcomes = stack.outcomes(settings)
    assert set(outcomes) == {job.job_id for job in jobs}
    for job in jobs:
        record = outcomes[job.job_id]
        assert (record.state, record.exit_code) == ("done", 0), record
        assert record.output_prefix == f"results/{Path(job.values['text_key']).stem}"
        assert any("counted" in line for line in record.tail), record.tail
    # Both containers took work (each job takes 1.5 s, so one cannot drain six alone first).
    for worker in workers:
        assert ": done" in logs_of(worker), logs_of(worker)
    # The job's log reached CloudWatch Logs.
    record = outcomes[jobs[0].job_id]
    events = stack.logs.get_log_events(logGroupName=record.log_group, logStreamName=record.log_stream)["events"]
    assert any("counted" in e["message"] for e in events)


def test_startup_fetches_once_as_the_worker_user_before_any_job(
    docker_client: Any, worker_image: str, wordcount_repo: Path, stack: Stack, tmp_path: Path
) -> None:
    """The non-root worker writes /opt/wordcount because the docker_steps answer made it its own."""
    stack.put_text("setup/stop words.txt", "the\na\n")
    stack.put_text("in/doc.txt", "one two\n")
    (job,) = stack.submit(wordcount_repo, job_file(stack, ["in/doc.txt"]), tmp_path)
    settings = stack.settings(docker_cores=2, idle_exit_seconds=4)
    url = {"STOPWORDS_URL": f"s3://{stack.bucket}/setup/stop words.txt"}
    worker = stack.start_worker(docker_client, worker_image, settings, "startup", config=url)
    assert worker.wait(timeout=120)["StatusCode"] == 0, logs_of(worker)
    logs = logs_of(worker)
    assert logs.count("startup[0]: wrote /opt/wordcount/stop words.txt (6 bytes)") == 1, "once, not per worker"
    assert logs.index("startup: done") < logs.index("started worker 1 of 2")
    assert stack.outcomes(settings)[job.job_id].state == "done"

    # A URL that names nothing: the container says which key to check, exits 3 and takes no message.
    stack.submit(wordcount_repo, job_file(stack, ["in/doc.txt"]), tmp_path)
    missing = {"STOPWORDS_URL": f"s3://{stack.bucket}/setup/missing.txt"}
    failed = stack.start_worker(docker_client, worker_image, settings, "startup-fails", config=missing)
    assert failed.wait(timeout=120)["StatusCode"] == 3, logs_of(failed)
    assert "startup[0] failed: S3 refused" in logs_of(failed) and "STOPWORDS_URL" in logs_of(failed)
    assert stack.queue_counts() == (1, 0)


def test_docker_stop_mid_job_releases_the_job_at_once(
    docker_client: Any, worker_image: str, wordcount_repo: Path, stack: Stack, tmp_path: Path
) -> None:
    stack.put_text("in/long.txt", "a long job\n")
    (job,) = stack.submit(wordcount_repo, job_file(stack, ["in/long.txt"], pause=600), tmp_path)
    settings = stack.settings(visibility_timeout=120, idle_exit_seconds=60)
    worker = stack.start_worker(docker_client, worker_image, settings, "stopped")
    wait_for(lambda: "counting" in logs_of(worker), 120, "the tool started in the container")
    assert stack.queue_counts() == (0, 1)  # in flight, hidden for 120 s

    stopped = time.monotonic()
    worker.stop(timeout=30)  # SIGTERM to PID 1, SIGKILL after 30 s (ECS's default stop timeout)
    stop_seconds = time.monotonic() - stopped
    status = worker.wait(timeout=30)["StatusCode"]
    TIMINGS["docker stop mid-job, stop returned"] = f"{stop_seconds:.1f} s"
    assert stop_seconds < 25, f"the worker did not exit on SIGTERM (killed after the timeout):\n{logs_of(worker)}"
    assert status == 0, logs_of(worker)

    # Visible again at once, not after the 120 s visibility timeout.
    message = wait_for(
        lambda: stack.sqs.receive_message(
            QueueUrl=stack.queue_url,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
        ).get("Messages"),
        10,
        "the stopped job visible again",
        interval=0,
    )[0]
    assert json.loads(message["Body"])["_job_id"] == job.job_id
    # Sent again as a new message carrying its interruption, so it spends none of JOB_RETRIES.
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert message["MessageAttributes"]["ds-interruptions"]["StringValue"] == "1"
    record = stack.outcomes(settings)[job.job_id]
    assert record.state == "interrupted", record
    assert stack.keys("results/") == {}
