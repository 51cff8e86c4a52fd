"""Provenance in every outcome record, and resume (CHECK_IF_DONE_BOOL) that runs a job again when what made
its outputs changed: real `python -m ds_runtime.worker` processes on the emulator (test_worker_process's Rig)."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ds_runtime.control.views.resume_preview import preview
from ds_runtime.job_values import check_job
from ds_runtime.jobs import Job, job_id_of
from ds_runtime.outcomes import Outcome
from ds_runtime.provenance import (
    Provenance,
    files_rule,
    fingerprint,
    recorded_settings,
    runtime_commit,
    what_changed,
)
from ds_runtime.worker.failures import is_permanent
from ds_runtime.worker.transfer import InputChanged, download_recorded

from .test_worker_process import BUCKET, TOY, Rig, finish


@pytest.fixture
def rig(moto_server: str, tmp_path: Path) -> Rig:
    return Rig(tmp_path)


# A CellProfiler-like tool: a pipeline file (a shared input), a folder of images (a job's input), a threshold
# (a shared parameter on the command line), one plate per job.
FIELDS = {
    "shared_fields": [
        {"name": "pipeline", "type": "s3_key"},
        {"name": "threshold", "type": "string", "required": False, "default": "0.5"},
    ],
    "job_fields": [{"name": "plate"}, {"name": "images", "type": "s3_prefix"}],
    "input_fields": ["pipeline", "images"],
}


def pipeline_rig(rig: Rig) -> None:
    command = [sys.executable, TOY, "{output_dir}", "--files", "2", "--started", str(rig.started), "--echo"]
    rig.use_spec([*command, "--", "{pipeline}", "{threshold}"], output_prefix="results/{plate}", **FIELDS)
    for key, text in {"pipes/a.cppipe": "A1", "pipes/b.cppipe": "B1", "img/P1/1.tif": "1", "img/P2/2.tif": "2"}.items():
        rig.s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode())
    rig.s3.put_object(Bucket=BUCKET, Key="img/P3/3.tif", Body=b"3")


def jobs_of(rig: Rig, shared: dict[str, Any], *plates: str) -> list[Job]:
    """One job per plate, as a Job file gives them."""
    jobs = []
    for plate in plates:
        values = check_job(rig.spec, shared, {"plate": plate, "images": f"img/{plate}"}, "test")
        jobs.append(Job(job_id_of(values), values))
    return jobs


def send(rig: Rig, shared: dict[str, Any], *plates: str) -> list[Job]:
    """One job per plate, as submitJob sends them."""
    jobs = jobs_of(rig, shared, *plates)
    for job in jobs:
        rig.sqs.send_message(QueueUrl=rig.queue_url, MessageBody=job.message_body())
    return jobs


def run(rig: Rig, **settings: Any) -> dict[str, Outcome]:
    """One worker until the queue is empty; each job's latest record, by plate."""
    out = finish(rig.start(**{"check_if_done": True, **settings}))
    latest = sorted(rig.outcomes().values(), key=lambda o: o.finished_at)  # a plate's latest job last
    plates = {o.output_prefix.rsplit("/", 1)[1]: o for o in latest}
    assert plates, out
    return plates


A, B = {"pipeline": "pipes/a.cppipe"}, {"pipeline": "pipes/b.cppipe"}


@pytest.mark.slow
def test_a_changed_pipeline_file_runs_again_every_job_that_reads_it_and_no_other(rig: Rig) -> None:
    pipeline_rig(rig)
    send(rig, A, "P1", "P2")
    send(rig, B, "P3")
    first = run(rig)
    assert {p: o.state for p, o in first.items()} == {"P1": "done", "P2": "done", "P3": "done"}
    rig.s3.put_object(Bucket=BUCKET, Key="pipes/a.cppipe", Body=b"A2, fixed")
    send(rig, A, "P1", "P2")
    send(rig, B, "P3")
    runs_before = len(rig.runs())
    again = run(rig)
    assert {p: o.state for p, o in again.items()} == {"P1": "done", "P2": "done", "P3": "skipped"}
    assert len(rig.runs()) == runs_before + 2
    assert again["P1"].resume_reason.startswith("changed since attempt 1 (done ")
    assert "input s3://test-bucket/pipes/a.cppipe changed (ETag " in again["P1"].resume_reason
    assert again["P3"].resume_reason.startswith("done in attempt 1 (done ")
    assert again["P3"].outputs == first["P3"].outputs  # the skip names the outputs it kept
    assert again["P1"].fingerprint != first["P1"].fingerprint and again["P3"].fingerprint == first["P3"].fingerprint


@pytest.mark.slow
def test_before_submitting_the_jobs_the_workers_will_skip_are_counted_and_the_others_say_why(rig: Rig) -> None:
    pipeline_rig(rig)
    send(rig, A, "P1", "P2")
    send(rig, B, "P3")
    run(rig)
    rig.s3.put_object(Bucket=BUCKET, Key="pipes/a.cppipe", Body=b"A2, fixed")
    jobs = [*jobs_of(rig, A, "P1", "P2"), *jobs_of(rig, B, "P3", "P4")]  # P4 never ran
    spec_sha256 = hashlib.sha256(Path(rig.settings.spec_path).read_bytes()).hexdigest()
    found = preview(rig.s3, rig.spec, jobs, BUCKET, "Test", files_rule(1, 1, ""), {}, spec_sha256)
    assert (found.jobs, found.skipped, found.by_files) == (4, 1, 0)
    assert [job_id for job_id, _ in found.again] == [jobs[0].job_id, jobs[1].job_id]
    assert "input s3://test-bucket/pipes/a.cppipe changed" in found.again[0][1]
    assert found.lines()[0].startswith("CHECK_IF_DONE_BOOL: 1 of 4 job(s) finished before with nothing changed")
    for job in jobs[:3]:  # the workers then do as it said
        rig.sqs.send_message(QueueUrl=rig.queue_url, MessageBody=job.message_body())
    assert {p: o.state for p, o in run(rig).items()} == {"P1": "done", "P2": "done", "P3": "skipped"}


@pytest.mark.slow
def test_a_changed_parameter_runs_again_the_jobs_given_it_and_replaces_their_own_outputs(rig: Rig) -> None:
    pipeline_rig(rig)
    send(rig, A, "P1", "P2")
    run(rig)
    # The threshold fixed for P1 only: a job of other values (a new id) writing P1's folder, as P1 did.
    (p1,) = send(rig, {**A, "threshold": "0.7"}, "P1")
    send(rig, A, "P2")
    runs_before = len(rig.runs())
    again = run(rig)
    assert {p: o.state for p, o in again.items()} == {"P1": "done", "P2": "skipped"}, again["P1"].error
    assert len(rig.runs()) == runs_before + 1
    assert again["P1"].job_id == p1.job_id and again["P1"].argv[0][-1] == "0.7"
    assert json.loads(rig.text("results/P1/argv.json"))[-1] == "0.7"  # the earlier P1's outputs replaced


@pytest.mark.slow
def test_another_image_runs_every_job_again_and_the_same_image_none(rig: Rig) -> None:
    pipeline_rig(rig)
    image = "registry.example/cp@sha256:" + "a" * 64
    send(rig, A, "P1", "P2")
    run(rig, image=image)
    send(rig, A, "P1", "P2")
    assert {o.state for o in run(rig, image=image).values()} == {"skipped"}
    send(rig, A, "P1", "P2")
    runs_before = len(rig.runs())
    again = run(rig, image=image.replace("a" * 64, "b" * 64))
    assert {o.state for o in again.values()} == {"done"} and len(rig.runs()) == runs_before + 2
    assert f"image {image} -> registry.example/cp@sha256:bbbb" in again["P1"].resume_reason


def test_a_record_names_the_image_command_spec_inputs_and_checksummed_outputs(rig: Rig) -> None:
    pipeline_rig(rig)
    send(rig, A, "P1")
    image = "registry.example/cp@sha256:" + "c" * 64
    record = run(rig, image=image, check_if_done=False)["P1"]
    assert record.state == "done" and record.image == image
    # The attempt's folders by name, not its temp folder: every attempt at the job records the same argv.
    tool = [sys.executable, TOY, "$OUTPUT", "--files", "2", "--started", str(rig.started), "--echo"]
    assert record.argv == [[*tool, "--", "$INPUT/pipes/a.cppipe", "0.5"]]
    spec_bytes = Path(rig.settings.spec_path).read_bytes()
    assert record.spec_sha256 == hashlib.sha256(spec_bytes).hexdigest()
    heads = {k: rig.s3.head_object(Bucket=BUCKET, Key=k) for k in ("pipes/a.cppipe", "img/P1/1.tif")}
    assert sorted(record.inputs, key=lambda i: str(i["key"])) == [
        {"bucket": BUCKET, "key": key, "size": head["ContentLength"], "etag": head["ETag"].strip('"'), "version_id": ""}
        for key, head in sorted(heads.items())
    ]
    outputs = ["results/P1/a/out_0.txt", "results/P1/argv.json", "results/P1/b/out_1.txt"]
    assert sorted(str(o["key"]) for o in record.outputs) == outputs
    for output in record.outputs:
        body = rig.s3.get_object(Bucket=BUCKET, Key=str(output["key"]))["Body"].read()
        stored = rig.s3.head_object(Bucket=BUCKET, Key=str(output["key"]), ChecksumMode="ENABLED")["ChecksumSHA256"]
        assert output["sha256"] == hashlib.sha256(body).hexdigest() == base64.b64decode(stored).hex()
        assert output["size"] == len(body)
    assert record.settings["APP_NAME"] == "Test" and record.settings["DS_IMAGE"] == image
    assert record.fingerprint == Provenance(image, record.argv, record.spec_sha256, record.inputs).fingerprint
    assert record.resume_reason == ""  # CHECK_IF_DONE_BOOL off: nothing compared


@pytest.mark.slow
def test_a_job_whose_recorded_output_is_gone_runs_again(rig: Rig) -> None:
    pipeline_rig(rig)
    send(rig, A, "P1")
    run(rig)
    rig.s3.delete_object(Bucket=BUCKET, Key="results/P1/a/out_0.txt")
    send(rig, A, "P1")
    again = run(rig)["P1"]
    assert again.state == "done"
    assert "output s3://test-bucket/results/P1/a/out_0.txt of attempt 1" in again.resume_reason


@pytest.mark.slow
def test_a_finished_job_whose_input_is_gone_is_skipped_with_its_outputs_kept(rig: Rig) -> None:
    """Raw images removed after a plate was processed: nothing could run the job again, so it is no failure."""
    pipeline_rig(rig)
    send(rig, A, "P1", "P2")
    first = run(rig)
    rig.s3.delete_object(Bucket=BUCKET, Key="img/P1/1.tif")
    send(rig, A, "P1")
    again = run(rig)["P1"]
    assert again.state == "skipped" and again.outputs == first["P1"].outputs
    assert again.resume_reason.startswith("input: nothing in s3://test-bucket/img/P1/; attempt 1 (done ")
    assert again.resume_reason.endswith("finished and its outputs are there")


def test_a_record_before_provenance_is_judged_by_the_file_rule_and_says_so(rig: Rig) -> None:
    pipeline_rig(rig)
    (job,) = send(rig, A, "P1")
    rig.s3.put_object(Bucket=BUCKET, Key="results/P1/old.txt", Body=b"made by an older version")
    rig.finished_before(job)  # a record with no fingerprint
    skipped = run(rig, expected_number_files=1, min_file_size_bytes=1)["P1"]
    assert skipped.state == "skipped" and not rig.runs()
    assert "predates provenance; its outputs pass the file rule" in skipped.resume_reason


def _record(**provenance: Any) -> Outcome:
    return Outcome("j", 1, "done", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:01+00:00", 1.0, "h", **provenance)


def _input(key: str, etag: str) -> dict[str, str | int]:
    return {"bucket": "b", "key": key, "size": 1, "etag": etag, "version_id": ""}


def test_what_changed_names_the_first_difference_image_then_command_then_spec_then_inputs() -> None:
    argv, inputs = [["cp", "-t", "0.5"]], [_input("pipe", "e1"), _input("img", "e2")]
    before = _record(image="i1", argv=argv, spec_sha256="s1", inputs=inputs)
    assert what_changed(before, Provenance("i1", argv, "s1", inputs)) == ""
    assert what_changed(before, Provenance("i2", [["x"]], "s2", [])) == "image i1 -> i2"
    assert what_changed(before, Provenance("i2", argv, "s1", inputs), compare_image=False) == ""
    assert what_changed(before, Provenance("i1", [["cp", "-t", "0.7"]], "s1", inputs)) == (
        "command: argument 2 '0.5' -> '0.7'"
    )
    assert what_changed(before, Provenance("i1", argv, "s2", inputs)) == "tool spec (tool/spec.json) changed"
    changed = [_input("pipe", "e1"), _input("img", "e3")]
    assert what_changed(before, Provenance("i1", argv, "s1", changed)) == "input s3://b/img changed (ETag e2 -> e3)"
    assert what_changed(before, Provenance("i1", argv, "s1", inputs[:1])) == "input s3://b/img is no longer read"


def test_the_fingerprint_ignores_input_order_and_files_a_list_named() -> None:
    listed = {"bucket": "b", "key": "listed.tif", "size": 3, "etag": "", "version_id": ""}
    one = fingerprint("i", [["a"]], "s", [_input("x", "1"), _input("y", "2")])
    assert one == fingerprint("i", [["a"]], "s", [_input("y", "2"), _input("x", "1"), listed])
    assert one != fingerprint("i", [["a"]], "s", [_input("y", "2"), _input("x", "3")])


def test_runtime_is_the_template_commit_copier_recorded(tmp_path: Path) -> None:
    answers = tmp_path / ".copier-answers.yml"
    answers.write_text("# Changes here will be overwritten by Copier\n_commit: v1.4.0-12-gabc1234\n_src_path: gh:x/y\n")
    assert runtime_commit(answers) == "v1.4.0-12-gabc1234"
    assert runtime_commit(tmp_path / "none.yml") == ""


def test_recorded_settings_leave_out_keys_named_like_secrets() -> None:
    kept = recorded_settings({"APP_NAME": "x", "OMERO_PASSWORD": "p", "API_TOKEN": "t", "THRESHOLD": "1"})
    assert kept == {"APP_NAME": "x", "THRESHOLD": "1"}


def _s3_with(moto_server: str, versioned: bool) -> Any:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server)
    s3.create_bucket(Bucket="pinned")
    if versioned:
        s3.put_bucket_versioning(Bucket="pinned", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="pinned", Key="in/pipeline.cppipe", Body=b"threshold 0.5")
    return s3


def _recorded(s3: Any) -> list[dict[str, Any]]:
    head = s3.head_object(Bucket="pinned", Key="in/pipeline.cppipe")
    return [
        {
            "bucket": "pinned",
            "key": "in/pipeline.cppipe",
            "size": head["ContentLength"],
            "etag": head["ETag"].strip('"'),
            "version_id": head.get("VersionId") or "",
        }
    ]


def test_an_input_of_a_versioned_bucket_is_read_as_the_version_recorded(moto_server: str, tmp_path: Path) -> None:
    """Replaced after the attempt listed it, the input the tool reads is still the one its record names."""
    s3 = _s3_with(moto_server, versioned=True)
    recorded = _recorded(s3)
    s3.put_object(Bucket="pinned", Key="in/pipeline.cppipe", Body=b"threshold 0.9, and a longer pipeline")
    download_recorded(s3, recorded, tmp_path)
    assert (tmp_path / "in" / "pipeline.cppipe").read_bytes() == b"threshold 0.5"


def test_an_input_replaced_after_it_was_listed_fails_the_attempt_for_a_retry(moto_server: str, tmp_path: Path) -> None:
    """Unversioned, it cannot be read as listed: the attempt fails (not for good), and the next one records it."""
    s3 = _s3_with(moto_server, versioned=False)
    recorded = _recorded(s3)
    s3.put_object(Bucket="pinned", Key="in/pipeline.cppipe", Body=b"threshold 0.9, and a longer pipeline")
    with pytest.raises(InputChanged, match=r"in/pipeline.cppipe changed while this attempt read it \(13 bytes when"):
        download_recorded(s3, recorded, tmp_path)
    assert not is_permanent(InputChanged("x"))
