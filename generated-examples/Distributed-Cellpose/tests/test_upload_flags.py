"""Upload flags: aws-cli words become boto3 ExtraArgs, and S3 stores objects as they ask."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import S3Transfer
from moto import mock_aws

from ds_runtime.upload_flags import FLAGS, UploadFlagsError, parse_upload_flags
from ds_runtime.worker.transfer import upload


def test_dcp_documented_flags() -> None:
    parsed = parse_upload_flags("--acl bucket-owner-full-control --metadata-directive REPLACE")
    assert parsed.extra_args == {"ACL": "bucket-owner-full-control"}
    assert parsed.notes == [
        "upload flag --metadata-directive REPLACE ignored: it applies only to copies between S3 objects, not to uploads"
    ]


def test_values_are_split_as_a_shell_would_and_may_follow_an_equals_sign() -> None:
    parsed = parse_upload_flags(
        "--sse aws:kms --sse-kms-key-id=alias/mine --cache-control 'max-age=60, public' --storage-class GLACIER_IR"
    )
    assert parsed.extra_args == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "alias/mine",
        "CacheControl": "max-age=60, public",
        "StorageClass": "GLACIER_IR",
    }
    assert parse_upload_flags("").extra_args == {}


def test_flags_whose_value_aws_cli_makes_optional() -> None:
    assert parse_upload_flags("--sse --request-payer").extra_args == {
        "ServerSideEncryption": "AES256",
        "RequestPayer": "requester",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("--recursive", "'--recursive' is an unknown upload flag; supported: --acl, --sse"),
        ("--acl private --exclude '*.tmp'", "'--exclude' is an unknown upload flag"),
        ("private", "'private' is not a flag"),
        ("--acl", "--acl needs a value, e.g. --acl private"),
        ("--content-type --acl private", "--content-type needs a value"),
        ("--acl everyone", "--acl 'everyone': use one of private, public-read"),
        ("--storage-class COLD", "use one of STANDARD"),
        ("--acl private --acl public-read", "--acl is given twice"),
        ("--content-type 'text/plain", "cannot be split into words"),
    ],
)
def test_unusable_flags_name_the_flag_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(UploadFlagsError) as bad:
        parse_upload_flags(text)
    assert message in str(bad.value)


def test_every_flag_maps_to_an_argument_boto3_uploads_accept() -> None:
    targets = [flag.arg for flag in FLAGS.values() if flag.arg]
    assert set(targets) <= set(S3Transfer.ALLOWED_UPLOAD_ARGS)
    assert len(targets) == len(set(targets))


@pytest.fixture
def s3() -> Iterator[object]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="results-bucket")
        yield client


def test_uploads_carry_the_flags(s3: object, tmp_path: Path) -> None:
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "table.csv").write_text("a,b\n")
    (tmp_path / "done.txt").write_text("Complete")
    flags = parse_upload_flags("--acl public-read --storage-class STANDARD_IA --content-type text/plain")
    keys = [entry["key"] for entry in upload(s3, "results-bucket", tmp_path, "out/job1", flags.extra_args)]
    assert sorted(keys) == ["out/job1/deep/table.csv", "out/job1/done.txt"]
    for key in keys:
        head = s3.get_object(Bucket="results-bucket", Key=key)
        assert (head["StorageClass"], head["ContentType"]) == ("STANDARD_IA", "text/plain")
        grants = s3.get_object_acl(Bucket="results-bucket", Key=key)["Grants"]
        public = [g for g in grants if g["Grantee"].get("URI", "").endswith("/global/AllUsers")]
        assert [g["Permission"] for g in public] == ["READ"]


def test_uploads_without_flags_are_private(s3: object, tmp_path: Path) -> None:
    (tmp_path / "done.txt").write_text("Complete")
    [key] = [entry["key"] for entry in upload(s3, "results-bucket", tmp_path, "out")]
    grants = s3.get_object_acl(Bucket="results-bucket", Key=key)["Grants"]
    assert not any("AllUsers" in g["Grantee"].get("URI", "") for g in grants)
