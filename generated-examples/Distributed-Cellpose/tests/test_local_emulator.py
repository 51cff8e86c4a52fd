"""The local emulator, and fast_sqs's promise: the same SQS behaviour as plain moto, only faster.

Each behaviour test runs twice, against an emulator process serving plain moto and one
serving moto with fast_sqs, and asserts the same observable results on both.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.sqs.models import Queue, SQSBackend

from ds_runtime.local import atomic_s3, emulator, fast_sqs

REPO = Path(__file__).resolve().parents[1]
VISIBILITY = 1  # seconds: SQS's shortest timeout and delay; every wait below ends once it has passed
COUNT_NAMES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def start_process(*args: str) -> tuple[subprocess.Popen[str], str]:
    """`python -m ds_runtime.local.emulator ARGS`, once it serves; (process, ready line)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ds_runtime.local.emulator", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()  # moto imports in ~1-2 s
    assert line.startswith(emulator.READY_LINE), line
    return process, line


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module", params=["plain", "fast"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """An emulator process serving plain moto, or moto with fast_sqs."""
    process, line = start_process(*(["--plain"] if request.param == "plain" else []))
    assert line.endswith("fast_sqs=off" if request.param == "plain" else "fast_sqs=on")
    yield line.split()[2]
    process.terminate()
    assert process.wait(timeout=10) == 0


@pytest.fixture
def sqs(endpoint: str) -> Any:
    return boto3.client(
        "sqs", endpoint_url=endpoint, region_name="us-east-1", config=Config(retries={"max_attempts": 1})
    )


def new_queue(sqs: Any, **attributes: Any) -> str:
    """A queue of its own for each test, so the two variants' servers can be reused."""
    name = f"q-{uuid.uuid4().hex[:12]}"
    if attributes.get("FifoQueue") == "true":
        name += ".fifo"
    return sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    """(visible, not visible, delayed)."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNT_NAMES)["Attributes"]
    return tuple(int(attributes[name]) for name in COUNT_NAMES)  # type: ignore[return-value]


def counts_become(sqs: Any, url: str, expected: tuple[int, int, int]) -> None:
    """Wait until the counts are `expected`, as they must once VISIBILITY seconds have passed."""
    deadline = time.monotonic() + VISIBILITY + 5
    while (now := counts(sqs, url)) != expected:
        assert time.monotonic() < deadline, f"counts stayed {now}, not {expected}"
        time.sleep(0.05)


def receive(sqs: Any, url: str, n: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
    answer = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=n, MessageSystemAttributeNames=["ApproximateReceiveCount"], **kwargs
    )
    return answer.get("Messages", [])


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"]


def test_send_receive_delete_in_order_with_counts(sqs: Any) -> None:
    url = new_queue(sqs, VisibilityTimeout=30)
    for start in range(0, 30, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"job {start + i}"} for i in range(10)]
        )
    assert counts(sqs, url) == (30, 0, 0)
    first = receive(sqs, url, 10)
    assert [m["Body"] for m in first] == [f"job {i}" for i in range(10)]
    assert counts(sqs, url) == (20, 10, 0)
    # With the oldest messages in flight, the next receive takes the next ones.
    assert [m["Body"] for m in receive(sqs, url, 3)] == ["job 10", "job 11", "job 12"]
    assert counts(sqs, url) == (17, 13, 0)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])  # a second delete is accepted
    answer = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "ok", "ReceiptHandle": first[1]["ReceiptHandle"]}, {"Id": "bad", "ReceiptHandle": "x" * 185}],
    )
    assert [s["Id"] for s in answer["Successful"]] == ["ok"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in answer["Failed"]] == [
        ("bad", "ReceiptHandleIsInvalid", True)
    ]
    assert error_code(sqs.delete_message, QueueUrl=url, ReceiptHandle="y" * 185) == "ReceiptHandleIsInvalid"
    assert counts(sqs, url) == (17, 11, 0)


def test_visibility_timeout_expiry_makes_a_message_visible_again(sqs: Any) -> None:
    url = new_queue(sqs, VisibilityTimeout=VISIBILITY)
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sqs.send_message(QueueUrl=url, MessageBody="b")
    (first,) = receive(sqs, url)
    assert (first["Body"], first["Attributes"]["ApproximateReceiveCount"]) == ("a", "1")
    assert counts(sqs, url) == (1, 1, 0)
    counts_become(sqs, url, (2, 0, 0))
    again = receive(sqs, url, 10)
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in again] == [("a", "2"), ("b", "1")]
    assert again[0]["MessageId"] == first["MessageId"]
    assert again[0]["ReceiptHandle"] != first["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])  # moto honours an older handle
    assert counts(sqs, url) == (0, 1, 0)


def test_change_message_visibility(sqs: Any) -> None:
    url = new_queue(sqs, VisibilityTimeout=30)
    sqs.send_message(QueueUrl=url, MessageBody="a")
    (message,) = receive(sqs, url)
    assert receive(sqs, url) == []
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    assert counts(sqs, url) == (1, 0, 0)
    (message,) = receive(sqs, url)
    assert message["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=VISIBILITY)
    assert counts(sqs, url) == (0, 1, 0)
    counts_become(sqs, url, (1, 0, 0))
    code = error_code(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle="z" * 185, VisibilityTimeout=5)
    assert code == "ReceiptHandleIsInvalid"


def test_redrive_to_the_dead_letter_queue_after_max_receive_count(sqs: Any) -> None:
    dlq = new_queue(sqs)
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
    url = new_queue(sqs, RedrivePolicy=json.dumps(policy))
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    sqs.send_message(QueueUrl=url, MessageBody="fine")
    # VisibilityTimeout=0: each receive leaves the message visible, as a worker that gave it back would.
    for attempt in ("1", "2"):
        got = receive(sqs, url, 1, VisibilityTimeout=0)
        assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in got] == [("poison", attempt)]
    # The third receive moves "poison" to the DLQ and hands out the next message instead.
    got = receive(sqs, url, 1, VisibilityTimeout=0)
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in got] == [("fine", "1")]
    assert counts(sqs, url) == (1, 0, 0)
    assert counts(sqs, dlq) == (1, 0, 0)
    (dead,) = receive(sqs, dlq)
    assert (dead["Body"], dead["Attributes"]["ApproximateReceiveCount"]) == ("poison", "3")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"]) == policy
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]


def test_delays_count_as_delayed_until_due(sqs: Any) -> None:
    url = new_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="late", DelaySeconds=VISIBILITY)
    sqs.send_message(QueueUrl=url, MessageBody="now")
    assert counts(sqs, url) == (1, 0, 1)
    assert [m["Body"] for m in receive(sqs, url, 10, VisibilityTimeout=30)] == ["now"]
    assert counts(sqs, url) == (0, 1, 1)
    counts_become(sqs, url, (1, 1, 0))
    assert [m["Body"] for m in receive(sqs, url, 10)] == ["late"]
    # A queue-level delay applies when the message names none.
    delayed_queue = new_queue(sqs, DelaySeconds=VISIBILITY)
    sqs.send_message(QueueUrl=delayed_queue, MessageBody="x")
    sqs.send_message(QueueUrl=delayed_queue, MessageBody="y", DelaySeconds=0)
    assert counts(sqs, delayed_queue) == (1, 0, 1)


def test_batch_send_with_a_failing_entry(sqs: Any) -> None:
    url = new_queue(sqs)
    answer = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "MessageBody": "a"},
            {"Id": "too-late", "MessageBody": "b", "DelaySeconds": 901},
            {"Id": "c", "MessageBody": "c", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
        ],
    )
    assert [s["Id"] for s in answer["Successful"]] == ["a", "c"]
    assert "MD5OfMessageAttributes" in answer["Successful"][1]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in answer["Failed"]] == [
        ("too-late", "InvalidParameterValue", True)
    ]
    assert counts(sqs, url) == (2, 0, 0)
    got = receive(sqs, url, 10, MessageAttributeNames=["All"])
    assert [(m["Body"], m.get("MessageAttributes")) for m in got] == [
        ("a", None),
        ("c", {"k": {"StringValue": "v", "DataType": "String"}}),
    ]
    assert counts(sqs, url) == (0, 2, 0)
    # An entry over the queue's size limit refuses the whole batch: nothing is sent.
    small = new_queue(sqs, MaximumMessageSize=1024)
    entries = [{"Id": "ok", "MessageBody": "x"}, {"Id": "big", "MessageBody": "x" * 1025}]
    assert error_code(sqs.send_message_batch, QueueUrl=small, Entries=entries) == "InvalidParameterValue"
    assert counts(sqs, small) == (0, 0, 0)


def test_purge_empties_the_queue_and_voids_receipt_handles(sqs: Any) -> None:
    url = new_queue(sqs, VisibilityTimeout=30)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)])
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=60)
    held = receive(sqs, url, 2)
    assert counts(sqs, url) == (3, 2, 1)
    sqs.purge_queue(QueueUrl=url)
    assert counts(sqs, url) == (0, 0, 0)
    assert receive(sqs, url, 10) == []
    assert error_code(sqs.delete_message, QueueUrl=url, ReceiptHandle=held[0]["ReceiptHandle"]) == (
        "ReceiptHandleIsInvalid"
    )


def test_queue_attributes_by_name_and_all(sqs: Any) -> None:
    url = new_queue(sqs, VisibilityTimeout=7, MessageRetentionPeriod=3600)
    sqs.send_message(QueueUrl=url, MessageBody="a")
    named = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["VisibilityTimeout", "FifoQueue", "ApproximateNumberOfMessages"]
    )["Attributes"]
    assert named == {"VisibilityTimeout": "7", "ApproximateNumberOfMessages": "1"}  # FifoQueue: FIFO queues only
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert sorted(everything) == [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
        "CreatedTimestamp",
        "DelaySeconds",
        "LastModifiedTimestamp",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "QueueArn",
        "ReceiveMessageWaitTimeSeconds",
        "SqsManagedSseEnabled",
        "VisibilityTimeout",
    ]
    assert (everything["MessageRetentionPeriod"], everything["SqsManagedSseEnabled"]) == ("3600", "true")
    assert error_code(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Nope"]) == "InvalidAttributeName"
    # Creating it again with the same attributes is accepted; with others, refused.
    name = url.rsplit("/", 1)[1]
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "7"})["QueueUrl"] == url
    code = error_code(sqs.create_queue, QueueName=name, Attributes={"VisibilityTimeout": "8"})
    assert code in {"QueueAlreadyExists", "QueueNameExists"}


def test_long_poll_wakes_on_a_new_message(sqs: Any) -> None:
    url = new_queue(sqs, VisibilityTimeout=30)
    sqs.send_message(QueueUrl=url, MessageBody="in flight")
    receive(sqs, url)
    threading.Timer(0.3, lambda: sqs.send_message(QueueUrl=url, MessageBody="new")).start()
    started = time.monotonic()
    got = receive(sqs, url, 1, WaitTimeSeconds=5)
    assert [m["Body"] for m in got] == ["new"]
    assert time.monotonic() - started < 4
    started = time.monotonic()
    assert receive(sqs, url, 1, WaitTimeSeconds=1) == []
    assert time.monotonic() - started >= 0.9


def test_fifo_queues_keep_their_semantics(sqs: Any) -> None:
    url = new_queue(sqs, FifoQueue="true", ContentBasedDeduplication="true", VisibilityTimeout=30)
    for body, group in [("a1", "a"), ("a1", "a"), ("a2", "a"), ("b1", "b")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    assert counts(sqs, url) == (3, 0, 0)  # the duplicate "a1" was dropped
    first = receive(sqs, url, 1)
    assert [m["Body"] for m in first] == ["a1"]
    # Group "a" is blocked while a1 is in flight; b1 is not.
    assert [m["Body"] for m in receive(sqs, url, 10)] == ["b1"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in receive(sqs, url, 10)] == ["a2"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["FifoQueue"])["Attributes"] == {"FifoQueue": "true"}


def test_a_deep_queue_drains_in_order(sqs: Any) -> None:
    url = new_queue(sqs, VisibilityTimeout=30)
    for start in range(0, 200, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(start + i)} for i in range(10)])
    seen: list[str] = []
    while batch := receive(sqs, url, 10):
        seen += [m["Body"] for m in batch]
        # Delete all but the first of each batch: in-flight messages accumulate at the front.
        for m in batch[1:]:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert seen == [str(i) for i in range(200)]
    assert counts(sqs, url) == (0, 20, 0)


# The emulator itself, and fast_sqs's guard. These run in this process.


@pytest.fixture
def restore_moto() -> Iterator[None]:
    """Leave moto patched or not, as it was, for the tests that follow."""
    was_installed = fast_sqs.is_installed()
    yield
    if was_installed:
        fast_sqs.install()
    else:
        fast_sqs.uninstall()


def test_start_emulator_serves_and_stop_closes_the_port(restore_moto: None) -> None:
    with emulator.start_emulator() as running:
        assert running.fast and fast_sqs.is_installed()
        sqs = boto3.client("sqs", endpoint_url=running.endpoint_url, region_name="us-east-1")
        url = sqs.create_queue(QueueName="local")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="hi")
        assert [m["Body"] for m in receive(sqs, url)] == ["hi"]
        assert listening(running.port)
    assert not listening(running.port)
    running.stop()  # a second stop is harmless


def test_the_background_process_stops_on_sigterm() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process, line = start_process("--port", str(port))
    assert line.split()[2] == f"http://127.0.0.1:{port}"
    assert listening(port)
    process.terminate()
    assert process.wait(timeout=10) == 0
    assert not listening(port)


def test_install_is_idempotent_and_uninstall_restores_moto(restore_moto: None) -> None:
    fast_sqs.uninstall()
    original = Queue.__dict__["attributes"], SQSBackend.__dict__["receive_message"]
    assert fast_sqs.incompatibility() is None
    assert fast_sqs.install() and fast_sqs.install()
    assert SQSBackend.__dict__["receive_message"] is not original[1]
    fast_sqs.uninstall()
    assert (Queue.__dict__["attributes"], SQSBackend.__dict__["receive_message"]) == original


@pytest.mark.parametrize("change", ["source", "version", "name"])
def test_install_refuses_an_unknown_moto_and_patches_nothing(
    change: str, restore_moto: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_sqs.uninstall()
    before = {key: key[0].__dict__[key[1]] for key in fast_sqs._replacements()}
    if change == "source":
        monkeypatch.setitem(fast_sqs.PINNED_SOURCES, ("SQSBackend", "receive_message"), "0" * 16)
    elif change == "version":
        monkeypatch.setattr(fast_sqs, "version", lambda name: "5.3.0")
    else:
        monkeypatch.setattr(fast_sqs, "USED_NAMES", (*fast_sqs.USED_NAMES, "no_such_name"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fast_sqs.install() is False
    assert "moto left unchanged" in str(caught[0].message)
    assert not fast_sqs.is_installed()
    assert {key: key[0].__dict__[key[1]] for key in fast_sqs._replacements()} == before


# ---------------------------------------------------------------- S3's conditional writes


def _multipart(s3: Any, key: str, body: bytes) -> tuple[str, list[dict[str, Any]]]:
    upload = s3.create_multipart_upload(Bucket="racing", Key=key)["UploadId"]
    etag = s3.upload_part(Bucket="racing", Key=key, UploadId=upload, PartNumber=1, Body=body)["ETag"]
    return upload, [{"PartNumber": 1, "ETag": etag}]


def test_two_uploads_of_one_key_with_if_none_match_never_both_win(monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 lets exactly one of them write; moto's check-then-write let both, given a moment between the two."""
    from moto.s3.models import S3Backend

    complete = S3Backend.complete_multipart_upload

    def slow_complete(self: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)  # the moment a busy machine may take between moto's check and its write
        return complete(self, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "complete_multipart_upload", slow_complete)
    with emulator.start_emulator() as running:
        s3 = boto3.client("s3", endpoint_url=running.endpoint_url, region_name="us-east-1")
        s3.create_bucket(Bucket="racing")
        uploads = [_multipart(s3, "out/a.txt", f"attempt {n}".encode()) for n in (1, 2)]
        answers: list[str] = []

        def finish(upload: str, parts: list[dict[str, Any]]) -> None:
            try:
                s3.complete_multipart_upload(
                    Bucket="racing", Key="out/a.txt", UploadId=upload, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
                )
                answers.append("written")
            except ClientError as exc:
                answers.append(exc.response["Error"]["Code"])

        threads = [threading.Thread(target=finish, args=upload) for upload in uploads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(answers) == ["PreconditionFailed", "written"]


def test_completing_a_multipart_upload_honours_if_match() -> None:
    with emulator.start_emulator() as running:
        s3 = boto3.client("s3", endpoint_url=running.endpoint_url, region_name="us-east-1")
        s3.create_bucket(Bucket="racing")
        current = s3.put_object(Bucket="racing", Key="out/a.txt", Body=b"first")["ETag"]
        s3.put_object(Bucket="racing", Key="out/a.txt", Body=b"changed since")
        upload, parts = _multipart(s3, "out/a.txt", b"replacement")
        with pytest.raises(ClientError, match="PreconditionFailed"):  # the object is no longer the one looked at
            s3.complete_multipart_upload(
                Bucket="racing", Key="out/a.txt", UploadId=upload, MultipartUpload={"Parts": parts}, IfMatch=current
            )
        latest = s3.head_object(Bucket="racing", Key="out/a.txt")["ETag"]
        s3.complete_multipart_upload(
            Bucket="racing", Key="out/a.txt", UploadId=upload, MultipartUpload={"Parts": parts}, IfMatch=latest
        )
        assert s3.get_object(Bucket="racing", Key="out/a.txt")["Body"].read() == b"replacement"


def test_atomic_s3_wraps_nothing_on_an_unknown_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    atomic_s3.uninstall()
    monkeypatch.setitem(atomic_s3.WRAPPED, "_key_response_put", ["self", "renamed"])
    before = atomic_s3.responses.S3Response.__dict__["_key_response_put"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert atomic_s3.install() is False
    assert "conditional writes may both win" in str(caught[0].message)
    assert atomic_s3.responses.S3Response.__dict__["_key_response_put"] is before


def test_the_emulator_resizes_an_ec2_fleet_as_ec2_does() -> None:
    """ModifyFleet, which moto lacks: the on-demand part grows into what spot lacks; nothing is ever terminated."""
    with emulator.start_emulator() as running:
        ec2 = boto3.client("ec2", endpoint_url=running.endpoint_url, region_name="us-east-1")
        ec2.create_launch_template(LaunchTemplateName="tmpl", LaunchTemplateData={"ImageId": "ami-12c6146b"})
        fleet_id = ec2.create_fleet(
            Type="maintain",
            LaunchTemplateConfigs=[
                {
                    "LaunchTemplateSpecification": {"LaunchTemplateName": "tmpl", "Version": "1"},
                    "Overrides": [{"InstanceType": "m5.large"}],
                }
            ],
            TargetCapacitySpecification={
                "TotalTargetCapacity": 2,
                "OnDemandTargetCapacity": 0,
                "SpotTargetCapacity": 2,
                "DefaultTargetCapacityType": "spot",
            },
            ExcessCapacityTerminationPolicy="no-termination",
        )["FleetId"]

        def machines() -> dict[str, str]:
            ids = [i["InstanceId"] for i in ec2.describe_fleet_instances(FleetId=fleet_id)["ActiveInstances"]]
            found = ec2.describe_instances(InstanceIds=ids)["Reservations"] if ids else []
            return {i["InstanceId"]: i.get("InstanceLifecycle", "on-demand") for r in found for i in r["Instances"]}

        lost, kept = sorted(machines())
        ec2.terminate_instances(InstanceIds=[lost])  # a spot machine gone, not replaced (as when spot is short)
        ec2.modify_fleet(
            FleetId=fleet_id, TargetCapacitySpecification={"TotalTargetCapacity": 2, "OnDemandTargetCapacity": 1}
        )
        assert sorted(machines().values()) == ["on-demand", "spot"] and kept in machines()
        [fleet] = ec2.describe_fleets(FleetIds=[fleet_id])["Fleets"]
        spec = fleet["TargetCapacitySpecification"]
        assert (spec["TotalTargetCapacity"], spec["OnDemandTargetCapacity"], spec["SpotTargetCapacity"]) == (2, 1, 1)
        ec2.modify_fleet(
            FleetId=fleet_id, TargetCapacitySpecification={"TotalTargetCapacity": 1, "OnDemandTargetCapacity": 0}
        )
        assert len(machines()) == 2  # no-termination: asking for fewer stops nothing
        for refused, code in (
            ({"FleetId": fleet_id, "ExcessCapacityTerminationPolicy": "termination"}, "InvalidParameterValue"),
            ({"FleetId": "fleet-nothing"}, "InvalidFleetId.NotFound"),
        ):
            with pytest.raises(ClientError) as caught:
                ec2.modify_fleet(**refused, TargetCapacitySpecification={"TotalTargetCapacity": 1})
            assert caught.value.response["Error"]["Code"] == code


def test_deletes_answered_at_once_lose_none_of_each_other(restore_moto: None) -> None:
    """The server answers each request in a thread of its own: clients deleting at once delete every message
    (moto's own delete rebuilds the queue's list unlocked, and one delete could put back another's message)."""
    with emulator.start_emulator() as running:
        sqs = boto3.client("sqs", endpoint_url=running.endpoint_url, region_name="us-east-1")
        url = sqs.create_queue(QueueName="deletes")["QueueUrl"]
        for _ in range(300):  # 3,000 messages
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(10)])

        def take_and_delete() -> None:
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get(
                "Messages", []
            ):
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                sqs.delete_message_batch(QueueUrl=url, Entries=entries)

        threads = [threading.Thread(target=take_and_delete) for _ in range(8)]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # threads take turns often: a race shows within a few thousand deletes
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            sys.setswitchinterval(interval)
        assert counts(sqs, url)[:2] == (0, 0)
