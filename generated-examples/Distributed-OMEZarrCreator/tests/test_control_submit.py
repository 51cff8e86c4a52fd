"""submitJob: everything checked before anything is sent; batches of 10; failed entries retried."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ds_runtime import jobs
from ds_runtime.control.commands.submit import submit
from ds_runtime.control.common.context import CommandError
from ds_runtime.control.common.sqs_send import Batch, Unsent, batches, send_batch
from ds_runtime.entry import main
from ds_runtime.jobs import Job, JobFileError, read_job_file
from ds_runtime.outcomes import Outcome, default_prefix, write_outcome

from ._control_support import APP, make_ctx, output, queue_counts, spec, write_config, write_job_file, write_spec

QUEUE = f"{APP}Queue"


def count_calls(ctx: Any, operation: str) -> list[int]:
    calls: list[int] = []
    ctx.client("sqs").meta.events.register(f"before-call.sqs.{operation}", lambda **kw: calls.append(1))
    return calls


def test_ds_job_file_sent_in_batches_of_ten(ready: Path) -> None:
    ctx = make_ctx(ready)
    calls = count_calls(ctx, "SendMessageBatch")
    assert submit(ctx, write_job_file(ready, 25)) == 0
    assert len(calls) == 3
    assert queue_counts(QUEUE) == (25, 0)
    assert "sent 25 of 25" in output(ctx)
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    body = json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])
    assert body["input"] == "projects/echo/inputs/" and body["sample"].startswith("sample-") and body["_job_id"]


def test_bad_job_file_sends_nothing(ready: Path) -> None:
    path = write_job_file(ready, 30)
    data = json.loads(path.read_text())
    data["groups"][7] = {"sampel": "typo"}
    data["groups"][29]["extra"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(JobFileError) as caught:
        submit(make_ctx(ready), path)
    message = str(caught.value)
    assert str(path) in message and "groups[7]" in message and "groups[29]" in message and "nothing was sent" in message
    assert queue_counts(QUEUE) == (0, 0)


def test_cli_bad_job_file(ready: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = ready / "bad.json"
    bad.write_text('{"groups": [ {"sample": "a"}, ]}')
    args = ["--config", str(write_config(ready)), "--spec", str(write_spec(ready)), "submitJob", str(bad)]
    assert main(args) == 2
    assert "bad.json: not valid JSON (line 1" in capsys.readouterr().err
    assert queue_counts(QUEUE) == (0, 0)


def test_submit_job_reads_and_checks_the_job_file_once(ready: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []

    def counted(path: Any, spec: Any) -> list[Job]:
        reads.append(str(path))
        return read_job_file(path, spec)

    monkeypatch.setattr(jobs, "read_job_file", counted)  # read_run_jobs's: every reader of a Job file's
    path = write_job_file(ready, 25)
    assert main(["--config", str(write_config(ready)), "--spec", str(write_spec(ready)), "submitJob", str(path)]) == 0
    assert reads == [str(path)]  # by the checks before the command; the command sends what they read
    assert queue_counts(QUEUE) == (25, 0)


@pytest.mark.parametrize(
    "command",
    [
        ["sh", "-c", "echo {sample}"],
        ["bash", "-c", "cat {sample}"],
        ["python3", "-c", "print('{sample}')"],
        {"steps": [{"run": ["true"]}, {"run": ["sh", "-c", "echo {sample}"]}]},
    ],
)
def test_a_spec_pasting_values_into_a_script_sends_nothing(
    ready: Path, capsys: pytest.CaptureFixture[str], command: list[Any] | dict[str, Any]
) -> None:
    """A spec edited by hand after generation: submitJob reads it as `run.py check` does."""
    spec_file = write_spec(ready, command=command)
    args = ["--config", str(write_config(ready)), "--spec", str(spec_file), "submitJob", str(write_job_file(ready, 3))]
    assert main(args) != 0
    assert "runs holds {sample}, where a value holding ; or $(...) would run as code" in capsys.readouterr().err
    assert queue_counts(QUEUE) == (0, 0)


def test_a_script_reading_its_values_as_arguments_is_submitted(ready: Path) -> None:
    positional = spec(command=["sh", "-c", 'echo "$1" > "$2/out.txt"', "sh", "{sample}", "{output_dir}"])
    assert submit(make_ctx(ready, positional), write_job_file(ready, 3)) == 0
    assert queue_counts(QUEUE) == (3, 0)


def test_submit_without_setup_is_a_clear_error(tmp_path: Path) -> None:
    with mock_aws(), pytest.raises(CommandError, match=r"run `python run\.py setup` first"):
        submit(make_ctx(tmp_path), write_job_file(tmp_path, 3))


def test_batches_respect_count_and_size_limits() -> None:
    small = [Job(str(i), {"v": "x"}).message_body() for i in range(23)]
    assert [len(b.bodies) for b in batches(small)] == [10, 10, 3]
    assert [b.start for b in batches(small)] == [0, 10, 20]
    big = [Job(str(i), {"v": "x" * 100_000}).message_body() for i in range(5)]
    sizes = [len(b.bodies) for b in batches(big)]
    assert sizes == [2, 2, 1]  # 3 x 100 kB would exceed the 256 KiB batch limit


class FlakySQS:
    """Fails entry 1 on SQS's side once, and refuses entry 2 as the sender's fault."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        ids = [e["Id"] for e in Entries]
        self.calls.append(ids)
        failed = []
        if "1" in ids and len(self.calls) == 1:
            failed.append({"Id": "1", "SenderFault": False, "Code": "InternalError"})
        if "2" in ids:
            failed.append({"Id": "2", "SenderFault": True, "Code": "InvalidMessageContents", "Message": "bad"})
        return {"Successful": [], "Failed": failed}


def test_failed_entries_are_retried_and_refusals_reported() -> None:
    sqs = FlakySQS()
    unsent = send_batch(sqs, "url", Batch(20, ["a", "b", "c", "d"]), {}, sleep=lambda s: None)
    assert sqs.calls == [["0", "1", "2", "3"], ["1"]]  # only the server-side failure is sent again
    assert unsent == [Unsent(22, "refused by SQS: InvalidMessageContents: bad")]


# ---------------------------------------------------------------- the task role's write grant


def _granted() -> list[str]:
    iam = boto3.client("iam", region_name="us-east-1")
    policy = iam.get_role_policy(RoleName=f"{APP}-task", PolicyName="ds-outputs")["PolicyDocument"]
    return [r.removeprefix("arn:aws:s3:::") for r in policy["Statement"][0]["Resource"]]


def _job_file(folder: Path, output: str, samples: list[str]) -> Path:
    path = folder / "job.json"
    groups = [{"sample": sample} for sample in samples]
    path.write_text(json.dumps({"input": "projects/inputs/", "output": output, "groups": groups}))
    return path


def test_the_write_grant_never_widens_past_the_job_files_output_folders(ready: Path) -> None:
    ctx = make_ctx(ready)
    assert submit(ctx, _job_file(ready, "projects/run0/", ["sample-0"])) == 0
    assert _granted() == ["echo-bucket/projects/run0/sample-0/*"]  # few folders: each exactly
    plates = [f"plate{p}/well{w}" for p in range(41) for w in range(2)]  # 82 folders, 41 plates
    assert submit(ctx, _job_file(ready, "projects/run1/", plates)) == 0
    # Too many to name: the folders the Job files share, never a parent of them (projects/ holds the inputs).
    assert _granted() == ["echo-bucket/projects/run0/sample-0/*", "echo-bucket/projects/run1/*"]


def test_outputs_that_share_no_folder_are_refused_rather_than_granted_the_whole_bucket(ready: Path) -> None:
    ctx = make_ctx(ready, spec(output_prefix="{sample}/results"))
    with pytest.raises(CommandError) as refused:
        submit(ctx, _job_file(ready, "unused/", [f"sample-{i}" for i in range(41)]))
    message = str(refused.value)
    assert "write under 41 output folders, more than the 40" in message
    assert "begins with a job field" in message and "overwrite the run's inputs" in message
    assert "Nothing was sent" in message and "shared first folder" in message
    assert queue_counts(QUEUE) == (0, 0)
    assert submit(ctx, _job_file(ready, "unused/", [f"sample-{i}" for i in range(40)])) == 0  # 40 fit, exactly
    assert len(_granted()) == 40 and "echo-bucket/sample-7/results/*" in _granted()


def test_with_check_if_done_submit_first_says_how_many_jobs_the_workers_will_skip(ready: Path) -> None:
    """Jobs that finished under a version before provenance: DS's file rule judges them, and submit says so."""
    ctx = make_ctx(ready, CHECK_IF_DONE_BOOL="'True'")
    jobs = read_job_file(write_job_file(ready, 3), ctx.spec)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="echo-bucket")
    for job in jobs[:2]:
        record = Outcome(job.job_id, 1, "done", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:09+00:00", 9.0, "h")
        write_outcome(s3, "echo-bucket", default_prefix(APP), record)
    s3.put_object(Bucket="echo-bucket", Key=f"projects/echo/outputs/{jobs[0].values['sample']}/out.txt", Body=b"1")
    assert submit(ctx, ready / "job.json", jobs, spec_path=write_spec(ready)) == 0
    said = output(ctx)
    assert "CHECK_IF_DONE_BOOL: 1 of 3 job(s) finished before with nothing changed and will be skipped" in said
    assert "1 of them by DS's file rule: their outcome records predate provenance" in said
    assert f"{jobs[1].job_id}: attempt 1 (done 2026-01-01T00:00:09) predates provenance and its outputs fail" in said
