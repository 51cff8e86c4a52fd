"""setupAccount lets CloudWatch Logs export a run's logs into AWS_BUCKET, keeping the bucket's own policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ds_runtime.control.common.context import Context
from ds_runtime.control.resources.account import setup_account
from ds_runtime.control.resources.log_export import ensure_log_export_policy, merged, statements

from ._control_support import REGION, make_ctx, output

BUCKET = "echo-bucket"
USER_STATEMENTS = [
    {
        "Sid": "OnlyTLS",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    },
    {  # no Sid: must be kept as well
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/shared/*",
    },
]


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    with mock_aws():
        yield make_ctx(tmp_path)


def _policy() -> dict[str, Any]:
    return json.loads(boto3.client("s3", region_name=REGION).get_bucket_policy(Bucket=BUCKET)["Policy"])


def test_setup_account_writes_the_export_policy(ctx: Context) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    assert setup_account(ctx) == 0
    get_acl, put = _policy()["Statement"]
    service = {"Service": f"logs.{REGION}.amazonaws.com"}
    assert (get_acl["Principal"], get_acl["Action"], get_acl["Resource"]) == (
        service,
        "s3:GetBucketAcl",
        f"arn:aws:s3:::{BUCKET}",
    )
    assert (put["Principal"], put["Action"], put["Resource"]) == (
        service,
        "s3:PutObject",
        f"arn:aws:s3:::{BUCKET}/exportedlogs/*",
    )
    assert get_acl["Condition"] == {"StringEquals": {"aws:SourceAccount": ctx.account_id}}
    assert put["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ctx.account_id, "s3:x-amz-acl": "bucket-owner-full-control"}
    }
    assert "policy lets CloudWatch Logs export into exportedlogs/" in output(ctx)


def test_the_users_statements_are_kept_and_a_second_run_changes_nothing(ctx: Context) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": USER_STATEMENTS}))
    assert "(2 statement(s) already there kept)" in ensure_log_export_policy(ctx)
    first = _policy()
    assert first["Statement"] == USER_STATEMENTS + statements(ctx)
    assert "already lets CloudWatch Logs export" in ensure_log_export_policy(ctx)
    assert _policy() == first


def test_a_policy_of_one_statement_object_is_kept_too() -> None:
    ours = [{"Sid": "DSLogExportX", "Effect": "Allow"}]
    old = {"Version": "2012-10-17", "Statement": USER_STATEMENTS[0]}
    assert merged(old, ours)["Statement"] == [USER_STATEMENTS[0], *ours]
    # our own statement, changed since (e.g. another region), is replaced, not doubled
    assert merged({"Statement": [{"Sid": "DSLogExportX", "Effect": "Deny"}]}, ours)["Statement"] == ours


def test_a_missing_bucket_is_explained_and_nothing_is_created(ctx: Context) -> None:
    assert setup_account(ctx) == 0  # the roles are still made
    text = output(ctx)
    assert f"bucket {BUCKET} not found: create it (AWS_BUCKET in config.py)" in text
    assert "teardown's 'export logs to S3' step fails" in text and '"s3:GetBucketAcl"' in text
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []


def test_a_refused_policy_write_changes_nothing_and_says_what_to_add(ctx: Context) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    with Stubber(ctx.client("s3")) as stub:
        stub.add_client_error("get_bucket_policy", "NoSuchBucketPolicy", http_status_code=404)
        stub.add_client_error("put_bucket_policy", "AccessDenied", http_status_code=403)
        text = ensure_log_export_policy(ctx)
    assert "was not set (writing its policy: AccessDenied)" in text
    assert json.loads(text[text.index("[") :]) == statements(ctx)  # the statements to add by hand, as JSON
    with pytest.raises(boto3.client("s3", region_name=REGION).exceptions.ClientError):
        boto3.client("s3", region_name=REGION).get_bucket_policy(Bucket=BUCKET)
