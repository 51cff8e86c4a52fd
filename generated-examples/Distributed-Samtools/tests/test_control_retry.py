"""retryFailed: every dead-lettered job of this app put back once, however large the dead-letter queue.

The queue is gone through with a message timeout (retry.TAKE_SECONDS) of 1 s, far shorter than
going through thousands of messages takes: nothing may depend on one timeout lasting the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ds_runtime.control.commands import retry
from ds_runtime.control.commands.setup import setup
from ds_runtime.control.common.lease import Lease
from ds_runtime.control.resources.account import setup_account
from ds_runtime.control.resources.catalogue import delete_own_messages
from ds_runtime.control.views.status import collect
from ds_runtime.local import fast_sqs

from ._control_support import APP, REGION, make_ctx, output, put_messages, queue_counts

QUEUE, DLQ, OTHER = f"{APP}Queue", f"{APP}DeadMessages", "DistributedOther"


@pytest.fixture
def emulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The emulator after setupAccount and setup, with local mode's fast SQS (moto's own scans the whole
    queue on every call), and a message timeout of 1 s."""
    installed = fast_sqs.is_installed()
    fast_sqs.install()
    monkeypatch.setattr(retry, "TAKE_SECONDS", 1)
    try:
        with mock_aws():
            ctx = make_ctx(tmp_path)
            setup_account(ctx)
            setup(ctx)
            yield tmp_path
    finally:
        if not installed:
            fast_sqs.uninstall()


def body(n: int) -> str:
    return json.dumps({"input": "in/", "output": "out", "sample": f"sample-{n}", "_job_id": f"job{n:05d}"})


def job_ids_in(queue: str) -> list[str]:
    """The job id of every message of the queue (each received once, then hidden)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get(
        "Messages", []
    ):
        found += [json.loads(m["Body"])["_job_id"] for m in messages]
    return found


def test_every_job_of_a_queue_too_large_for_one_timeout_is_put_back_once(emulated: Path) -> None:
    jobs = 2500
    put_messages(DLQ, [body(n) for n in range(jobs)])
    put_messages(DLQ, [body(n) for n in range(0, jobs, 25)])  # 100 jobs dead-lettered twice, far apart
    put_messages(DLQ, [body(n) for n in range(200)], app=OTHER)  # another app's, in the shared queue
    ctx = make_ctx(emulated)
    assert retry.retry_failed(ctx) == 0, output(ctx)
    assert f"{jobs} job(s) put back on {QUEUE} (from {jobs + 100} dead-letter messages)" in output(ctx)
    assert sorted(job_ids_in(QUEUE)) == [f"job{n:05d}" for n in range(jobs)]  # each once
    assert queue_counts(DLQ) == (200, 0)  # the other app's, untouched and visible again
    assert collect(make_ctx(emulated)).problems == []  # status lists none of them as dead-lettered


@pytest.mark.slow
def test_thirty_thousand_dead_letters_are_all_put_back(emulated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The largest queue this test goes through in under a minute on a shared 2-core machine (100,000:
    bench/bench_retry.py, on the emulator's own process)."""
    monkeypatch.setattr(retry, "TAKE_SECONDS", 10)  # going through the queue takes several times longer
    jobs = 30_000
    put_messages(DLQ, [body(n) for n in range(jobs)])
    put_messages(DLQ, [body(n) for n in range(0, jobs, 30)])  # 1,000 jobs dead-lettered twice
    put_messages(DLQ, [body(n) for n in range(1000)], app=OTHER)
    ctx = make_ctx(emulated)
    assert retry.retry_failed(ctx) == 0, output(ctx)
    assert f"{jobs} job(s) put back on {QUEUE} (from {jobs + 1000} dead-letter messages)" in output(ctx)
    assert queue_counts(QUEUE) == (jobs, 0) and queue_counts(DLQ) == (1000, 0)


def test_named_jobs_are_put_back_and_the_rest_stay_dead_lettered(emulated: Path) -> None:
    put_messages(DLQ, [body(n) for n in range(300)] + [body(7)])
    put_messages(DLQ, [body(n) for n in range(20)], app=OTHER)
    ctx = make_ctx(emulated)
    assert retry.retry_failed(ctx, ["job00007", "job00150"]) == 0, output(ctx)
    assert sorted(job_ids_in(QUEUE)) == ["job00007", "job00150"]
    assert queue_counts(DLQ) == (298 + 20, 0)


def test_a_job_sqs_refuses_stays_dead_lettered_and_the_exit_status_says_how_many(emulated: Path) -> None:
    put_messages(DLQ, [body(n) for n in range(30)] + [body(4)])
    ctx = make_ctx(emulated)

    def refuse_job_4(params: dict[str, Any], **_: Any) -> None:
        for entry in params["Entries"]:
            if '"job00004"' in entry["MessageBody"]:
                entry["DelaySeconds"] = 901  # SQS's limit is 900: it refuses this entry, the sender's fault

    ctx.client("sqs").meta.events.register("before-parameter-build.sqs.SendMessageBatch", refuse_job_4)
    assert retry.retry_failed(ctx) == 1
    text = output(ctx)
    assert "29 job(s) put back" in text and "job job00004: not sent (refused by SQS: " in text
    assert f"1 job(s) of {APP} left in {DLQ}" in text
    assert sorted(job_ids_in(DLQ)) == ["job00004", "job00004"]  # both copies, visible again
    assert len(job_ids_in(QUEUE)) == 29


def test_a_lease_keeps_its_messages_hidden_past_their_timeout_then_gives_them_back(emulated: Path) -> None:
    put_messages(DLQ, [body(n) for n in range(25)])
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    lease = Lease(sqs, url, seconds=1)
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1).get(
        "Messages", []
    ):
        for m in messages:
            lease.keep(m["MessageId"], m["ReceiptHandle"])
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        lease.renew()
        time.sleep(0.05)
    assert queue_counts(DLQ) == (0, 25) and len(lease) == 25
    lease.give_back()
    assert queue_counts(DLQ) == (25, 0) and len(lease) == 0


@pytest.mark.slow
def test_cleanup_deletes_every_own_dead_letter_of_a_shared_queue_too_large_for_one_timeout(emulated: Path) -> None:
    """Teardown and cleanup delete this app's failed jobs from a dead-letter queue it may share: going through
    1,500 messages takes longer than their 1 s timeout, and another app's, seen and reappearing, must not end
    the pass early (nor be deleted)."""
    for start in range(0, 250, 50):  # another app's among the first: they are the first to reappear
        put_messages(DLQ, [body(n) for n in range(start, start + 50)], app=OTHER)
        put_messages(DLQ, [body(n) for n in range(start, start + 50)])
    put_messages(DLQ, [body(n) for n in range(250, 1250)])
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    assert delete_own_messages(sqs, url, APP, hold_seconds=1) == 1250
    assert queue_counts(DLQ) == (250, 0)  # the other app's, all there and visible again
