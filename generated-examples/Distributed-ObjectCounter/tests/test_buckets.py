"""Buckets other than AWS_BUCKET: references in the spec, the set a run may touch, and who enforces it.

The allowed set (buckets.allowed_buckets) is used by config loading, submitJob, the
worker, the IAM task role and local mode; each is checked here on the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ds_runtime.bucket_names import BucketError, bucket_name_problem, bucket_names
from ds_runtime.buckets import allowed_buckets, job_bucket_problems, require_job_buckets, resolve, writable_buckets
from ds_runtime.config import ConfigError, load_config
from ds_runtime.control.commands.data import download_outputs, upload_inputs
from ds_runtime.control.commands.setup import setup
from ds_runtime.control.commands.submit import submit
from ds_runtime.control.common.context import CommandError
from ds_runtime.control.resources.account import setup_account
from ds_runtime.job_values import check_job
from ds_runtime.jobs import JobFileError
from ds_runtime.local.backend import prepare_account, save_bucket
from ds_runtime.spec import Input, ToolSpec

from ._control_support import APP, SPEC, make_ctx, queue_counts, write_config

SHARED_FIELDS = [
    {"name": "input", "type": "s3_prefix"},
    {"name": "output", "type": "s3_prefix"},
    {"name": "pipeline", "type": "s3_key", "required": False},
    {"name": "in_bucket", "type": "string", "required": False},
    {"name": "acl", "type": "string", "required": False, "default": ""},
]
JOB_FIELDS = [{"name": "sample", "type": "string"}, {"name": "out_bucket", "type": "string", "required": False}]


def bucket_spec(**changes: Any) -> ToolSpec:
    """DCP's pattern (a config key's bucket) and DOZC's (each job names its buckets) in one tool."""
    data = {
        **SPEC,
        "shared_fields": SHARED_FIELDS,
        "job_fields": JOB_FIELDS,
        "input_fields": [
            {"key": "pipeline", "bucket": "config.WORKSPACE_BUCKET"},
            {"key": "input", "bucket": "in_bucket"},
        ],
        "output_bucket": "out_bucket",
        "upload_flags": "{config.UPLOAD_FLAGS} {acl}",
        "config_keys": ["ECHO_MODE", "WORKSPACE_BUCKET", "UPLOAD_FLAGS", "JOB_BUCKETS"],
    }
    return ToolSpec.model_validate({**data, **changes})


# ---------------------------------------------------------------- the spec


def test_string_inputs_keep_working_and_objects_add_a_bucket_and_a_condition() -> None:
    spec = bucket_spec(
        input_fields=[
            "input",
            {"key": "pipeline", "bucket": "config.WORKSPACE_BUCKET", "when": "config.ECHO_MODE", "matches": "^loud$"},
            {"key": "{input}/{sample}.txt", "bucket": "in_bucket", "when": "in_bucket"},
        ]
    )
    values = check_job(spec, {"input": "in/", "output": "o/", "pipeline": "p.cppipe"}, {"sample": "s1"}, "groups[0]")
    assert spec.for_job(values, "id", {"ECHO_MODE": "loud"}).inputs() == [
        Input("in/", True, ""),
        Input("p.cppipe", False, "config.WORKSPACE_BUCKET"),
    ]
    quiet = spec.for_job(values, "id", {"ECHO_MODE": "quiet"})
    assert quiet.inputs() == [Input("in/", True, "")]  # the condition fails
    with_bucket = {**values, "in_bucket": "other-bucket"}
    assert spec.for_job(with_bucket, "id", None).inputs()[-1] == Input("in/s1.txt", False, "in_bucket")
    assert spec.bucket_refs() == [
        ("input_fields[0].bucket", ""),
        ("input_fields[1].bucket", "config.WORKSPACE_BUCKET"),
        ("input_fields[2].bucket", "in_bucket"),
        ("output_bucket", "out_bucket"),
    ]


# The runtime's half of the pairs in tests/test_answer_validation.py (copier.yml's validators).
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"output_bucket": "config.NOPE"}, "NOPE is not a config key of this tool"),
        ({"output_bucket": "config.JOB_BUCKETS"}, "JOB_BUCKETS lists several buckets"),
        ({"output_bucket": "nope"}, "neither '' \\(AWS_BUCKET\\), config.NAME nor a declared field"),
        ({"output_bucket": "input"}, "a field of type s3_prefix; a bucket field must be of type string"),
        ({"input_fields": [{"key": "input", "bucket": "config.NOPE"}]}, "input_fields\\[0\\].bucket 'config.NOPE'"),
        ({"input_fields": [{"key": "input", "bucket": "output"}]}, "must be of type string"),
        ({"config_keys": ["WORKSPACE_BUCKET", "UPLOAD_FLAGS"]}, "add JOB_BUCKETS to config_keys"),
        ({"input_fields": [{"key": "input", "when": "nope"}]}, "names no declared field"),
        ({"input_fields": [{"key": "input", "when": "config.NOPE"}]}, "NOPE is not a config key"),
        ({"input_fields": [{"key": "input", "matches": "x"}]}, "matches needs when"),
        ({"input_fields": [{"key": "input", "when": "acl", "matches": "("}]}, "not a valid regular expression"),
        ({"input_fields": [{"key": "input", "colour": "red"}]}, "Extra inputs are not permitted"),
        ({"input_fields": [{"key": "sample"}]}, "must be a declared field of type s3_key or s3_prefix"),
        ({"upload_flags": "--acl private --recursive"}, "upload_flags: --recursive unknown; supported: --acl"),
        ({"upload_flags": "--acl {nope}"}, "neither a declared field nor a built-in"),
        ({"upload_flags": "{config.NOPE}"}, "NOPE is not a config key"),
        ({"upload_flags": "--content-type {job_id}"}, "upload flags are built from fields and config keys"),
        ({"upload_flags": "{acl|upper}"}, "unknown filter"),
    ],
)
def test_bad_bucket_references_and_flags_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bucket_spec(**change)


def test_a_spec_naming_no_field_as_bucket_needs_no_job_buckets() -> None:
    spec = bucket_spec(
        input_fields=[{"key": "pipeline", "bucket": "config.WORKSPACE_BUCKET"}],
        output_bucket="config.WORKSPACE_BUCKET",
        config_keys=["WORKSPACE_BUCKET", "UPLOAD_FLAGS"],
    )
    assert spec.output_bucket == "config.WORKSPACE_BUCKET"


# ---------------------------------------------------------------- names and sets


@pytest.mark.parametrize("good", ["abc", "my-bucket.data", "a" * 63, "1bucket"])
def test_good_bucket_names(good: str) -> None:
    assert bucket_name_problem(good) == ""


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("ab", "3-63"),
        ("a" * 64, "3-63"),
        ("My_Bucket", "lower-case"),
        ("-bucket", "starting and ending"),
        ("s3://bucket", "lower-case"),
        ("a..b", "two '.'"),
        ("192.168.5.4", "IP address"),
        ("xn--bucket", "reserves"),
        ("bucket-s3alias", "reserves"),
    ],
)
def test_bad_bucket_names(bad: str, why: str) -> None:
    assert why in bucket_name_problem(bad)


def test_job_buckets_may_be_separated_by_commas_and_spaces() -> None:
    assert bucket_names(" a-bucket, b-bucket  c-bucket,,\n") == ["a-bucket", "b-bucket", "c-bucket"]
    assert bucket_names("") == []


CONFIG = {"WORKSPACE_BUCKET": "workspace-bucket", "JOB_BUCKETS": "plates-bucket, zarr-bucket", "UPLOAD_FLAGS": ""}


def test_allowed_set_is_aws_bucket_config_buckets_and_job_buckets() -> None:
    spec = bucket_spec()
    assert allowed_buckets(spec, "main-bucket", CONFIG) == {
        "main-bucket",
        "workspace-bucket",
        "plates-bucket",
        "zarr-bucket",
    }
    # A field chooses the output bucket: jobs may write to JOB_BUCKETS's, never to a config key's.
    assert writable_buckets(spec, "main-bucket", CONFIG) == {"main-bucket", "plates-bucket", "zarr-bucket"}
    empty = {"WORKSPACE_BUCKET": "", "JOB_BUCKETS": "", "UPLOAD_FLAGS": ""}
    assert allowed_buckets(spec, "main-bucket", empty) == {"main-bucket"}  # '' means AWS_BUCKET


def test_a_config_output_bucket_is_writable_and_only_read_buckets_are_not() -> None:
    spec = bucket_spec(
        shared_fields=[*SHARED_FIELDS, {"name": "images", "type": "s3_prefix"}],
        input_fields=[{"key": "images", "bucket": "config.SOURCE_BUCKET"}],
        output_bucket="config.DESTINATION_BUCKET",
        upload_flags="",
        config_keys=["SOURCE_BUCKET", "DESTINATION_BUCKET"],
    )
    config = {"SOURCE_BUCKET": "source-bucket", "DESTINATION_BUCKET": "destination-bucket"}
    assert allowed_buckets(spec, "main-bucket", config) == {"main-bucket", "source-bucket", "destination-bucket"}
    assert writable_buckets(spec, "main-bucket", config) == {"main-bucket", "destination-bucket"}
    assert resolve("config.DESTINATION_BUCKET", {}, config, "main-bucket") == "destination-bucket"
    assert resolve("config.DESTINATION_BUCKET", {}, {"DESTINATION_BUCKET": " "}, "main-bucket") == "main-bucket"


def test_bad_names_in_config_are_refused_naming_the_key() -> None:
    with pytest.raises(BucketError, match="config JOB_BUCKETS: 'Plates_Bucket' is not an S3 bucket name"):
        allowed_buckets(bucket_spec(), "main-bucket", {**CONFIG, "JOB_BUCKETS": "zarr-bucket Plates_Bucket"})
    with pytest.raises(BucketError, match="config WORKSPACE_BUCKET: 's3://x' is not"):
        allowed_buckets(bucket_spec(), "main-bucket", {**CONFIG, "WORKSPACE_BUCKET": "s3://x"})


def test_job_buckets_outside_the_allowed_set_are_problems() -> None:
    spec = bucket_spec()
    ok = {"in_bucket": "plates-bucket", "out_bucket": "zarr-bucket", "sample": "s"}
    assert job_bucket_problems(spec, ok, "main-bucket", CONFIG) == []
    assert job_bucket_problems(spec, {"sample": "s"}, "main-bucket", CONFIG) == []  # empty: AWS_BUCKET
    bad = {"in_bucket": "someone-elses", "out_bucket": "workspace-bucket", "sample": "s"}
    problems = job_bucket_problems(spec, bad, "main-bucket", CONFIG)
    assert [field for field, _ in problems] == ["in_bucket", "out_bucket"]
    assert "bucket 'someone-elses' is not one this run may read inputs from" in problems[0][1]
    assert "may write outputs to; add it to JOB_BUCKETS in config.py" in problems[1][1]
    with pytest.raises(BucketError, match="in_bucket: 'Bad_Name' is not an S3 bucket name"):
        require_job_buckets(spec, {**ok, "in_bucket": "Bad_Name"}, "main-bucket", CONFIG)


# ---------------------------------------------------------------- config.py


def test_config_with_bad_bucket_names_or_flags_names_the_file_and_key(tmp_path: Path) -> None:
    spec = bucket_spec()
    path = write_config(tmp_path, WORKSPACE_BUCKET="'workspace-bucket'", JOB_BUCKETS="'a-bucket,B'", UPLOAD_FLAGS="''")
    with pytest.raises(ConfigError) as bad:
        load_config(path, spec, warn=lambda text: None)
    assert f"{path}: config JOB_BUCKETS: 'B' is not an S3 bucket name" in str(bad.value)
    path = write_config(tmp_path, WORKSPACE_BUCKET="None", JOB_BUCKETS="''", UPLOAD_FLAGS="''")
    with pytest.raises(ConfigError, match="config WORKSPACE_BUCKET = None: write the bucket name as text"):
        load_config(path, spec, warn=lambda text: None)
    # Flags from config alone are checked here; with a job field ({acl}) they wait for submitJob.
    config_only = bucket_spec(upload_flags="{config.UPLOAD_FLAGS}")
    path = write_config(tmp_path, WORKSPACE_BUCKET="''", JOB_BUCKETS="''", UPLOAD_FLAGS="'--acl private --quiet'")
    with pytest.raises(
        ConfigError, match=r"UPLOAD_FLAGS: upload flags '--acl private --quiet': '--quiet' is an unknown"
    ):
        load_config(path, config_only, warn=lambda text: None)
    assert load_config(path, spec, warn=lambda text: None).extra["UPLOAD_FLAGS"] == "--acl private --quiet"


# ---------------------------------------------------------------- IAM, submitJob, local mode


BUCKET_CONFIG = {
    "WORKSPACE_BUCKET": "'workspace-bucket'",
    "JOB_BUCKETS": "'plates-bucket zarr-bucket'",
    "UPLOAD_FLAGS": "'--acl bucket-owner-full-control'",
}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_task_role_reads_allowed_buckets_and_writes_only_where_outputs_go(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, bucket_spec(), **BUCKET_CONFIG)
    setup_account(ctx)
    iam = boto3.client("iam")
    policy = iam.get_role_policy(RoleName=f"{APP}-task", PolicyName="ds-least-privilege")["PolicyDocument"]
    s3 = {tuple(s["Action"]): s["Resource"] for s in policy["Statement"] if s["Action"][0].startswith("s3:")}
    read = ["echo-bucket", "plates-bucket", "workspace-bucket", "zarr-bucket"]
    assert s3 == {
        ("s3:ListBucket",): [f"arn:aws:s3:::{b}" for b in read],
        ("s3:GetObject",): [f"arn:aws:s3:::{b}/*" for b in read],
        ("s3:PutObject",): [f"arn:aws:s3:::echo-bucket/_ds_status/{APP}/*"],  # outcome records only
    }
    # submitJob grants writes under its jobs' output prefixes, and keeps those granted before.
    setup(ctx)
    submit(ctx, write_jobs(tmp_path, [{"sample": "s1", "out_bucket": "zarr-bucket"}, {"sample": "s2"}]))
    submit(ctx, write_jobs(tmp_path, [{"sample": "s3", "out_bucket": "plates-bucket"}], output="other/"))
    outputs = iam.get_role_policy(RoleName=f"{APP}-task", PolicyName="ds-outputs")["PolicyDocument"]
    (statement,) = outputs["Statement"]
    assert statement["Action"] == ["s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectAcl"]
    assert statement["Resource"] == [
        "arn:aws:s3:::echo-bucket/out/s2/*",
        "arn:aws:s3:::plates-bucket/other/s3/*",
        "arn:aws:s3:::zarr-bucket/out/s1/*",
    ]


def write_jobs(folder: Path, groups: list[dict[str, Any]], **shared: Any) -> Path:
    path = folder / "job.json"
    path.write_text(json.dumps({"input": "in/", "output": "out/", **shared, "groups": groups}))
    return path


@pytest.fixture
def ready(aws: None, tmp_path: Path) -> Path:
    ctx = make_ctx(tmp_path, bucket_spec(), **BUCKET_CONFIG)
    setup_account(ctx)
    setup(ctx)
    return tmp_path


def test_submit_refuses_a_bucket_the_run_may_not_touch_and_sends_nothing(ready: Path) -> None:
    groups = [{"sample": f"s{i}", "out_bucket": "zarr-bucket"} for i in range(12)]
    groups[7]["out_bucket"] = "someone-elses-bucket"
    path = write_jobs(ready, groups, in_bucket="not-listed")
    with pytest.raises(JobFileError) as refused:
        submit(make_ctx(ready, bucket_spec(), **BUCKET_CONFIG), path)
    message = str(refused.value)
    assert f"{path}: 2 problem(s), nothing was sent" in message
    assert "shared: in_bucket: bucket 'not-listed' is not one this run may read inputs from" in message
    assert "groups[7]: out_bucket: bucket 'someone-elses-bucket' is not one this run may write outputs to" in message
    assert "add it to JOB_BUCKETS in config.py" in message
    assert queue_counts(f"{APP}Queue") == (0, 0)


def test_submit_refuses_unusable_upload_flags_per_job(ready: Path) -> None:
    path = write_jobs(ready, [{"sample": "s1"}], acl="--storage-class COLD")
    with pytest.raises(JobFileError, match=r"shared: upload_flags: .*--storage-class 'COLD': use one of STANDARD"):
        submit(make_ctx(ready, bucket_spec(), **BUCKET_CONFIG), path)
    assert queue_counts(f"{APP}Queue") == (0, 0)
    good = write_jobs(ready, [{"sample": "s1", "out_bucket": "zarr-bucket"}], in_bucket="plates-bucket")
    assert submit(make_ctx(ready, bucket_spec(), **BUCKET_CONFIG), good) == 0
    assert queue_counts(f"{APP}Queue") == (1, 0)


def test_local_mode_makes_every_allowed_bucket_and_saves_each_apart(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, bucket_spec(), **BUCKET_CONFIG)
    prepare_account(ctx)
    s3 = boto3.client("s3", region_name="us-east-1")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert names == {"echo-bucket", "workspace-bucket", "plates-bucket", "zarr-bucket"}
    s3.put_object(Bucket="echo-bucket", Key="out/a.txt", Body=b"a")
    s3.put_object(Bucket="zarr-bucket", Key="out/b.txt", Body=b"b")
    assert save_bucket(ctx, tmp_path / "saved") == 2
    assert (tmp_path / "saved" / "out" / "a.txt").read_text() == "a"  # AWS_BUCKET's layout as before
    assert (tmp_path / "saved" / "_buckets" / "zarr-bucket" / "out" / "b.txt").read_text() == "b"


def test_inputs_go_up_and_outputs_come_down_from_any_bucket_of_the_run(aws: None, tmp_path: Path) -> None:
    """uploadInputs/downloadOutputs --bucket: e.g. a DCP user's images into SOURCE_BUCKET; only run buckets."""
    ctx = make_ctx(tmp_path, bucket_spec(), **BUCKET_CONFIG)
    prepare_account(ctx)
    (tmp_path / "plates" / "P1").mkdir(parents=True)
    (tmp_path / "plates" / "P1" / "a.tif").write_text("A")
    assert upload_inputs(ctx, tmp_path / "plates", "images", "plates-bucket") == 0
    s3 = boto3.client("s3", region_name="us-east-1")
    assert s3.get_object(Bucket="plates-bucket", Key="images/P1/a.tif")["Body"].read() == b"A"
    assert download_outputs(ctx, "images", tmp_path / "back", "plates-bucket") == 0
    assert (tmp_path / "back" / "images" / "P1" / "a.tif").read_text() == "A"
    with pytest.raises(CommandError, match="--bucket someone-elses-bucket: not a bucket of this run"):
        upload_inputs(ctx, tmp_path / "plates", "images", "someone-elses-bucket")
    assert "Contents" not in s3.list_objects_v2(Bucket="echo-bucket")  # the default stayed untouched
