"""Permanent failures fail once and go to the dead-letter queue with their reason; transient ones retry;
no upload replaces another job's output.

Real worker processes on the emulator (the Rig of test_worker_process), then the control
plane's own `status` and `retryFailed` read what the workers left.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from rich.console import Console

from ds_runtime.control.commands.retry import retry_failed
from ds_runtime.control.common.context import Context
from ds_runtime.control.views.status import collect
from ds_runtime.jobs import JOB_ID_KEY
from ds_runtime.outcomes import REASON_ATTRIBUTE, app_attribute
from ds_runtime.s3_files import is_missing_object
from ds_runtime.spec import JobError
from ds_runtime.worker.failures import is_permanent
from ds_runtime.worker.noclobber import OWNER, OutputClash, put_new
from ds_runtime.worker.transfer import InputError, TransferError

from ._control_support import make_ctx
from .test_worker_process import BUCKET, TOY, Rig, finish, stop_once

ROOT = "/home/ubuntu/bucket"


def _rig(tmp_path: Path) -> Rig:
    """Two tries per job; jobs read a LoadData CSV (`data_file`) and keep the rows of their `Metadata`."""
    rig = Rig(tmp_path, visibility=2, retries=2)
    rig.use_spec(
        [sys.executable, TOY, "{output_dir}", "--files", "1", "--exit", "{code}", "--started", str(rig.started)],
        job_fields=[
            {"name": "name"},
            {"name": "code", "type": "integer", "required": False, "default": 0},
            {"name": "data_file", "type": "s3_key"},
            {"name": "Metadata", "type": "mapping"},
        ],
        input_fields=[{"key": "data_file", "lists_files": {"path_root": ROOT, "rows_matching": "Metadata"}}],
    )
    rows = ["Metadata_Site,FileName_DNA,PathName_DNA", f"001,s1.tif,{ROOT}/images", f"002,s2.tif,{ROOT}/images"]
    rig.s3.put_object(Bucket=BUCKET, Key="ws/load_data.csv", Body="\n".join(rows).encode())
    for site in (1, 2):
        rig.s3.put_object(Bucket=BUCKET, Key=f"images/s{site}.tif", Body=b"pixels")
    return rig


def _dead_letters(rig: Rig) -> dict[str, str]:
    """Job id -> the reason attribute of its dead-letter message ('' if none); messages stay there."""
    found: dict[str, str] = {}
    for _ in range(5):
        for m in rig.sqs.receive_message(
            QueueUrl=rig.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
        ).get("Messages", []):
            reason = m.get("MessageAttributes", {}).get(REASON_ATTRIBUTE, {}).get("StringValue", "")
            found[json.loads(m["Body"])[JOB_ID_KEY]] = reason
    return found


def _control(rig: Rig, tmp_path: Path) -> Context:
    """The control plane of this rig's app (config.py names its bucket and queues)."""
    folder = tmp_path / "control"
    folder.mkdir(exist_ok=True)
    names = {"APP_NAME": "'Test'", "AWS_BUCKET": f"'{BUCKET}'", "SQS_QUEUE_NAME": "'TestQueue'"}
    ctx = make_ctx(folder, rig.spec, SQS_DEAD_LETTER_QUEUE="'TestDeadMessages'", **names)
    return Context(ctx.config, ctx.spec, ctx.session, Console(file=io.StringIO(), width=200))


@pytest.mark.slow
def test_permanent_failures_are_dead_lettered_after_one_try_and_transient_ones_retry(
    moto_server: str, tmp_path: Path
) -> None:
    rig = _rig(tmp_path)
    # crash first: its retry waits out its delay while the others run.
    crash, ok, missing, no_rows = rig.send(
        {"name": "crash", "data_file": "ws/load_data.csv", "Metadata": "Metadata_Site=1", "code": 3},
        {"name": "ok", "data_file": "ws/load_data.csv", "Metadata": "Metadata_Site=2"},  # 002: CellProfiler's rule
        {"name": "missing", "data_file": "ws/nowhere.csv", "Metadata": "Metadata_Site=1"},
        {"name": "norows", "data_file": "ws/load_data.csv", "Metadata": "Metadata_Site=9"},
    )
    # Sent by hand, as anyone with queue access could: no data_file, refused by the spec.
    refused = {"name": "refused", "Metadata": "Metadata_Site=1", JOB_ID_KEY: "refused0000000001"}
    rig.sqs.send_message(QueueUrl=rig.queue_url, MessageBody=json.dumps(refused))

    # Each permanent failure is dead-lettered at once; crash after its second try, by the next receive.
    out = stop_once(rig.start_waiting(), lambda: rig.queue_counts(rig.dlq_url) == (4, 0))

    tries: dict[str, list[str]] = {}
    for record in rig.all_outcomes():
        tries.setdefault(record.job_id, []).append(record.state)
    assert tries == {
        ok.job_id: ["done"],
        missing.job_id: ["failed"],  # one try each for the permanent ones
        no_rows.job_id: ["failed"],
        "refused0000000001": ["failed"],
        crash.job_id: ["failed", "failed"],  # a nonzero exit may pass next time: JOB_RETRIES tries
    }, out
    latest = rig.outcomes()
    assert [latest[j.job_id].permanent for j in (missing, no_rows, crash)] == [True, True, False]
    assert latest["refused0000000001"].permanent
    assert latest[crash.job_id].exit_code == 3 and len(rig.runs()) == 3  # ok once, crash twice

    dead = _dead_letters(rig)
    assert set(dead) == {missing.job_id, no_rows.job_id, "refused0000000001", crash.job_id}
    assert "input s3://test-bucket/ws/nowhere.csv does not exist" in dead[missing.job_id]
    assert "no row matches Metadata_Site=9" in dead[no_rows.job_id]
    assert "data_file" in dead["refused0000000001"] and "not a valid job" in dead["refused0000000001"]
    assert dead[crash.job_id] == ""  # moved by the queue's redrive policy, not by the worker
    assert rig.queue_counts() == (0, 0)

    # status shows each reason; retryFailed puts a permanent one back like any other.
    ctx = _control(rig, tmp_path)
    problems = {p.job_id: p for p in collect(ctx).problems}
    assert problems[no_rows.job_id].permanent and "no row matches" in problems[no_rows.job_id].error
    assert not problems[crash.job_id].permanent and "exited with code 3" in problems[crash.job_id].error
    assert retry_failed(ctx, [no_rows.job_id]) == 0
    assert rig.queue_counts() == (1, 0) and no_rows.job_id not in _dead_letters(rig)
    body = rig.sqs.receive_message(QueueUrl=rig.queue_url)["Messages"][0]["Body"]
    assert json.loads(body)[JOB_ID_KEY] == no_rows.job_id


def test_a_message_naming_another_jobs_id_is_refused_and_takes_nothing_of_that_job(
    moto_server: str, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, retries=2)
    (victim,) = rig.send({"name": "victim", "files": 1})
    finish(rig.start())
    outputs = {key: rig.text(key) for key in rig.keys("results/victim/")}
    assert [r.state for r in rig.all_outcomes()] == ["done"]
    # Other values (3 files, same output folder) under the victim's id, as anyone with queue access could send.
    forged = {"name": "victim", "files": 3, JOB_ID_KEY: victim.job_id}
    attributes = app_attribute("Test")
    rig.sqs.send_message(QueueUrl=rig.queue_url, MessageBody=json.dumps(forged), MessageAttributes=attributes)
    out = finish(rig.start())

    assert {key: rig.text(key) for key in rig.keys("results/victim/")} == outputs, out  # nothing replaced or added
    records = rig.all_outcomes()
    assert [r.state for r in records if r.job_id == victim.job_id] == ["done"]  # no record in the victim's name
    (refused,) = [r for r in records if r.job_id != victim.job_id]
    assert refused.job_id.startswith("msg-") and refused.state == "failed" and refused.permanent
    assert f"{victim.job_id!r} is not the id of the message's values" in refused.error
    assert len(rig.runs()) == 1  # the tool never ran for it
    assert rig.queue_counts() == (0, 0) and rig.queue_counts(rig.dlq_url) == (1, 0)  # dead-lettered at once


def test_status_shows_a_workers_reason_even_without_its_outcome_record(moto_server: str, tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    (job,) = rig.send({"name": "gone", "data_file": "ws/nowhere.csv", "Metadata": "Metadata_Site=1"})
    finish(rig.start())  # a permanent failure: dead-lettered at once
    for key in rig.keys(rig.settings.outcome_prefix):  # the record lost (e.g. a lifecycle rule)
        rig.s3.delete_object(Bucket=BUCKET, Key=key)
    (problem,) = collect(_control(rig, tmp_path)).problems
    assert (problem.job_id, problem.state, problem.permanent) == (job.job_id, "dead-lettered", True)
    assert "ws/nowhere.csv does not exist" in problem.error


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "x"}}, "GetObject")


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (InputError("input: nothing in s3://b/p/"), True),
        (JobError([("message", "name", "required")]), True),
        (TransferError("upload of s3://b/k failed: timeout"), False),  # network: retried
        (ConnectionError("reset by peer"), False),
        (_client_error("SlowDown"), False),  # throttling: retried
    ],
)
def test_which_errors_are_permanent(error: Exception, permanent: bool) -> None:
    assert is_permanent(error) is permanent


def test_missing_objects_are_told_apart_from_other_s3_errors() -> None:
    assert is_missing_object(_client_error("NoSuchKey")) and is_missing_object(_client_error("404"))
    assert not is_missing_object(_client_error("AccessDenied")) and not is_missing_object(OSError("404"))


# ---------------------------------------------------------------- nothing overwritten


def test_a_job_never_replaces_another_jobs_output(moto_server: str, tmp_path: Path) -> None:
    """Two images of the same stem write the same output key: the second job fails once, naming both."""
    rig = Rig(tmp_path, retries=3)
    rig.use_spec(
        [sys.executable, TOY, "{output_dir}", "--echo", "--", "{name}"],
        output_prefix="results/{stem}",
        job_fields=[{"name": "name"}, {"name": "stem"}],
    )
    first, second = rig.send({"name": "plate1/img.tif", "stem": "img"}, {"name": "plate2/img.tif", "stem": "img"})
    out = finish(rig.start())  # one worker: the first job finishes before the second starts
    records = rig.all_outcomes()
    assert [(o.job_id, o.state, o.permanent) for o in records] == [
        (first.job_id, "done", False),
        (second.job_id, "failed", True),  # once: no retry can make the key free
    ], out
    assert "s3://test-bucket/results/img/argv.json was written by job " + first.job_id in records[1].error
    assert f"job {second.job_id} would overwrite it" in records[1].error
    assert json.loads(rig.text("results/img/argv.json")) == ["--echo", "--", "plate1/img.tif"]  # unchanged
    assert second.job_id in _dead_letters(rig) and rig.queue_counts() == (0, 0)


def test_a_retry_of_the_same_job_replaces_its_own_outputs(moto_server: str, tmp_path: Path) -> None:
    rig = Rig(tmp_path, retries=3)
    rig.use_spec([sys.executable, TOY, "{output_dir}", "--echo", "--", "{name}"], job_fields=[{"name": "name"}])
    (job,) = rig.send({"name": "again"})
    # The same job once more (a retry after its outcome was lost, or a duplicate delivery): one
    # worker runs the two in turn, the second after the first has uploaded.
    rig.sqs.send_message(QueueUrl=rig.queue_url, MessageBody=job.message_body())
    out = finish(rig.start())
    assert [o.state for o in rig.all_outcomes()] == ["done", "done"], out
    assert json.loads(rig.text("results/again/argv.json")) == ["--echo", "--", "again"]


@pytest.mark.parametrize("size", [10, 6 * 1024 * 1024], ids=["put", "multipart"])
def test_conditional_writes_refuse_another_jobs_key(moto_server: str, tmp_path: Path, size: int) -> None:
    """S3's If-None-Match (PutObject, CompleteMultipartUpload) as the emulator answers it."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.write_bytes(b"a" * size)
    theirs.write_bytes(b"b" * size)
    part = 5 * 1024 * 1024  # S3's smallest part: a 6 MiB file goes up in two
    put_new(s3, BUCKET, "out/x", mine, "job-a", part_bytes=part)
    with pytest.raises(OutputClash, match="s3://test-bucket/out/x was written by job job-a; job job-b would"):
        put_new(s3, BUCKET, "out/x", theirs, "job-b", part_bytes=part)
    assert s3.get_object(Bucket=BUCKET, Key="out/x")["Body"].read() == mine.read_bytes()
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []  # no parts left behind
    put_new(s3, BUCKET, "out/x", theirs, "job-a", part_bytes=part)  # job-a's own object: replaced
    assert s3.get_object(Bucket=BUCKET, Key="out/x")["Body"].read() == theirs.read_bytes()
    notes: list[str] = []
    s3.put_object(Bucket=BUCKET, Key="out/by-hand", Body=b"a person's file")
    put_new(s3, BUCKET, "out/by-hand", mine, "job-a", note=notes.append, part_bytes=part)
    assert notes == ["replacing s3://test-bucket/out/by-hand, which no job of this app wrote"]
    assert s3.head_object(Bucket=BUCKET, Key="out/by-hand")["Metadata"] == {OWNER: "job-a"}
