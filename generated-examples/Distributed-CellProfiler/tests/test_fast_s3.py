"""fast_s3's promise: moto's S3 listing answers, page for page, only without rescanning the bucket.

Each case lists one small bucket (nested folders, overwrites, deleted keys and delete markers)
with plain moto and with fast_s3 installed, and asserts the same pages: keys, common prefixes,
truncation and where the next page starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ds_runtime.local import fast_s3

REGION = "us-east-1"
KEYS = [
    "a.txt",
    "p/0/x.json",
    "p/0/y.json",
    "p/0/z/deep.json",
    "p/1!odd",
    "p/10/x.json",
    "p/1/x.json",
    "p/a",
    "p/b/",
    "p/b/c",
    "p0",
    "q/é/ü.json",
    "z",
]


@pytest.fixture
def restore() -> Iterator[None]:
    was_installed = fast_s3.is_installed()
    yield
    fast_s3.uninstall()
    if was_installed:
        fast_s3.install()


def bucket(s3: Any, name: str, versioned: bool) -> None:
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for key in KEYS:
        s3.put_object(Bucket=name, Key=key, Body=b"1")
    s3.put_object(Bucket=name, Key="p/0/x.json", Body=b"overwritten")
    s3.delete_object(Bucket=name, Key="p/1/x.json")  # versioned: a delete marker; else gone
    s3.delete_object(Bucket=name, Key="p/b/c")


def pages(s3: Any, name: str, **kwargs: Any) -> list[tuple[list[tuple[str, int]], list[str], bool]]:
    found, token = [], None
    for _ in range(50):  # a token that never ends the listing fails the test, not hangs it
        more = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=name, **kwargs, **more)
        keys = [(o["Key"], o["Size"], o["LastModified"], o["ETag"]) for o in page.get("Contents", [])]
        found.append((keys, [p["Prefix"] for p in page.get("CommonPrefixes", [])], page["IsTruncated"]))
        token = page.get("NextContinuationToken")
        if not token:
            return found
    raise AssertionError(f"listing {kwargs} did not end: {found[-3:]}")


CASES = [
    {},
    {"MaxKeys": 1},
    {"MaxKeys": 2, "Prefix": "p/"},
    {"Prefix": "p/", "Delimiter": "/"},
    {"Prefix": "p/", "Delimiter": "/", "MaxKeys": 1},
    {"Delimiter": "/", "MaxKeys": 2},
    {"Prefix": "p/0", "StartAfter": "p/0/x.json"},
    {"Prefix": "p/", "Delimiter": "/", "StartAfter": "p/0/"},
    {"Prefix": "p/", "Delimiter": "/", "StartAfter": "p/0/y"},
    {"StartAfter": "p/1"},
    {"Prefix": "none/"},
    {"MaxKeys": 0},
    {"Prefix": "q/", "Delimiter": "/"},
]


@pytest.mark.parametrize("versioned", [False, True])
def test_fast_listing_gives_moto_s_pages(restore: None, versioned: bool) -> None:
    fast_s3.uninstall()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        bucket(s3, "listing", versioned)
        plain = [pages(s3, "listing", **case) for case in CASES]
        assert fast_s3.install()
        fast = [pages(s3, "listing", **case) for case in CASES]
        s3.put_object(Bucket="listing", Key="p/0/new", Body=b"2")  # a write after a listing is listed next time
        s3.delete_object(Bucket="listing", Key="a.txt")
        fast_after = pages(s3, "listing")
        fast_s3.uninstall()
        assert pages(s3, "listing") == fast_after
    assert fast == plain
    assert "p/0/new" in [key[0] for key in fast_after[0][0]]


def test_a_thousand_keys_list_in_pages_of_a_thousand(restore: None) -> None:
    assert fast_s3.install()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="many")
        names = [f"k/{i:04d}" for i in range(1001)]
        for key in names:
            s3.put_object(Bucket="many", Key=key, Body=b"")
        listed = pages(s3, "many", Prefix="k/")
    assert [len(keys) for keys, _, _ in listed] == [1000, 1]
    assert [key[0] for keys, _, _ in listed for key in keys] == names


@pytest.mark.parametrize("module", ["fast_s3", "fast_s3_get", "fast_s3_listing"])
def test_install_refuses_an_unknown_moto_and_patches_nothing(
    restore: None, monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    import importlib

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from moto.s3 import models, responses

    fast_s3.uninstall()
    pins = importlib.import_module(f"ds_runtime.local.{module}").PINNED_SOURCES
    (owner, name) = next(iter(pins))
    before = (models.S3Backend.list_objects_v2, MotoRequestHandler.run_wsgi, responses.S3Response.serialized)
    monkeypatch.setitem(pins, (owner, name), "0" * 16)
    with pytest.warns(RuntimeWarning, match=f"{name} has changed"):
        assert fast_s3.install() is False
    after = (models.S3Backend.list_objects_v2, MotoRequestHandler.run_wsgi, responses.S3Response.serialized)
    assert after == before and not fast_s3.is_installed()


def test_uninstall_restores_moto(restore: None) -> None:
    from moto import backends
    from moto.core import serialize
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from moto.s3 import models, responses, utils

    fast_s3.uninstall()
    before = (
        MotoRequestHandler.run_wsgi,
        responses.S3Response.serialized,
        models.S3Backend.list_objects_v2,
        backends.list_of_moto_modules,
        dict(vars(utils._VersionedKeyStore)),
        serialize.parse_to_aware_datetime,
    )
    assert fast_s3.install() and fast_s3.install()
    assert backends.list_of_moto_modules() == tuple(before[3]())
    fast_s3.uninstall()
    after = (
        MotoRequestHandler.run_wsgi,
        responses.S3Response.serialized,
        models.S3Backend.list_objects_v2,
        backends.list_of_moto_modules,
        dict(vars(utils._VersionedKeyStore)),
        serialize.parse_to_aware_datetime,
    )
    assert after == before


# ---------------------------------------------------------------- the server's fast answers


@pytest.fixture
def server(restore: None) -> Iterator[str]:
    from ds_runtime.local.emulator import start_emulator

    with start_emulator() as emulator:
        yield emulator.endpoint_url


def client(endpoint: str, checksums: bool = True) -> Any:
    from botocore.config import Config

    when = "when_supported" if checksums else "when_required"  # botocore's default writes a CRC32 checksum
    config = Config(request_checksum_calculation=when)
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="k", aws_secret_access_key="s", config=config
    )


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """How often module.name answered (returned something), as a list to count."""
    answered: list[int] = []
    real = getattr(module, name)

    def spy(*args: Any) -> Any:
        found = real(*args)
        answered.extend([1] if found is not None else [])
        return found

    monkeypatch.setattr(module, name, spy)
    return answered


UNSTABLE = {"date", "x-amzn-requestid"}  # differ between any two answers
# werkzeug closes each connection after its answer; fast_s3_get keeps it (test_plain_reads_keep_...)
CONNECTION = "connection"


def get_answer(s3: Any, bucket: str, key: str, **kwargs: Any) -> tuple[Any, ...]:
    from botocore.exceptions import ClientError

    try:
        got = s3.get_object(Bucket=bucket, Key=key, **kwargs)
    except ClientError as exc:
        return ("error", exc.response["Error"], exc.response["ResponseMetadata"]["HTTPStatusCode"])
    headers = {k: v for k, v in got["ResponseMetadata"]["HTTPHeaders"].items() if k not in UNSTABLE | {CONNECTION}}
    return (got["ResponseMetadata"]["HTTPStatusCode"], headers, got["Body"].read())


def test_plain_reads_are_answered_as_moto_answers_them(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ds_runtime.local import fast_s3_get

    s3, plain_s3 = client(server), client(server, checksums=False)  # plain_s3 neither writes nor asks checksums
    s3.create_bucket(Bucket="reads")
    s3.create_bucket(Bucket="versions")
    s3.put_bucket_versioning(Bucket="versions", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="reads", Key="app/outcomes/ab/1-001-done.json", Body=b'{"a": 1}')
    plain_s3.put_object(Bucket="reads", Key="no-checksum", Body=b"x" * 3000)
    s3.put_object(
        Bucket="reads",
        Key="dressed.txt",
        Body=b"hello",
        ContentType="text/csv",
        ContentEncoding="identity",
        ContentDisposition="attachment",
        CacheControl="no-cache",
        Metadata={"who": "me", "under_score": "1"},
        Tagging="a=1",
        ServerSideEncryption="AES256",
        StorageClass="STANDARD_IA",
    )
    s3.put_object(Bucket="reads", Key="cold", Body=b"c", StorageClass="GLACIER")
    s3.put_object(Bucket="reads", Key="empty", Body=b"")
    s3.put_object(Bucket="reads", Key="odd name+é&", Body=b"odd")
    s3.create_bucket(Bucket="guarded")
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::guarded/secret/*"}
    allow = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::guarded/*"}
    s3.put_bucket_policy(Bucket="guarded", Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny, allow]}))
    s3.put_object(Bucket="guarded", Key="open.json", Body=b"{}")
    s3.put_object(Bucket="guarded", Key="secret/x", Body=b"no")
    s3.put_object(Bucket="versions", Key="v", Body=b"1")
    s3.put_object(Bucket="versions", Key="v", Body=b"2")
    etag = s3.head_object(Bucket="reads", Key="dressed.txt")["ETag"]
    fast_ones = [("reads", "app/outcomes/ab/1-001-done.json", {}), ("reads", "no-checksum", {}),
                 ("reads", "dressed.txt", {}), ("versions", "v", {}), ("guarded", "open.json", {})]  # fmt: skip
    moto_ones = [
        ("reads", "cold", {}),
        ("guarded", "secret/x", {}),
        ("reads", "empty", {}),
        ("reads", "odd name+é&", {}),
        ("reads", "missing", {}),
        ("nobucket", "k", {}),
        ("reads", "dressed.txt", {"Range": "bytes=1-2"}),
        ("reads", "dressed.txt", {"IfNoneMatch": etag}),
        ("reads", "dressed.txt", {"IfMatch": '"other"'}),
        ("reads", "app/outcomes/ab/1-001-done.json", {"ResponseContentType": "text/plain"}),
    ]
    answered = counting(monkeypatch, fast_s3_get, "answer")
    reads = [(s3, *case) for case in fast_ones + moto_ones] + [(plain_s3, *case) for case in fast_ones]
    fast = [get_answer(s, b, k, **kw) for s, b, k, kw in reads]
    assert len(answered) == 2 * len(fast_ones)  # the plain ones, and only those, were answered without moto
    fast_s3.uninstall()
    plain = [get_answer(s, b, k, **kw) for s, b, k, kw in reads]
    assert fast == plain
    assert fast[2][1]["x-amz-meta-who"] == "me" and fast[3][1]["x-amz-version-id"]  # the cases hold what they test
    assert fast[len(fast_ones) + 1][2] == 403  # the policy's denial


def test_plain_reads_keep_the_connection_open_and_others_close_it(server: str) -> None:
    from http.client import HTTPConnection
    from urllib.parse import urlsplit

    client(server).create_bucket(Bucket="conn")
    client(server).put_object(Bucket="conn", Key="k/1.json", Body=b"{}")
    credential = "Credential=k/20250101/us-east-1/s3/aws4_request"
    signed = {"Authorization": f"AWS4-HMAC-SHA256 {credential}, SignedHeaders=host, Signature=0"}
    where = urlsplit(server)
    http = HTTPConnection(where.hostname or "", where.port)
    answers = []
    for path in ("/conn/k/1.json", "/conn/k/1.json", "/conn/k/missing"):
        http.request("GET", path, headers=signed)
        answer = http.getresponse()
        answers.append((answer.status, answer.read(), answer.getheader("Connection"), http.sock is not None))
    assert answers == [(200, b"{}", None, True), (200, b"{}", None, True), (404, answers[2][1], "close", False)]


def raw_listings(s3: Any, bucket: str, case: dict[str, Any]) -> list[bytes]:
    """The answers' bytes, every page of the listing."""
    found: list[bytes] = []

    def keep(response_dict: dict[str, Any], **_: Any) -> None:
        found.append(response_dict["body"])

    s3.meta.events.register("before-parse.s3.ListObjectsV2", keep)
    for _ in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **case):
        pass
    s3.meta.events.unregister("before-parse.s3.ListObjectsV2", keep)
    return found


LISTINGS = [
    *CASES,
    {"EncodingType": "url"},
    {"EncodingType": "url", "Prefix": "p/", "Delimiter": "/"},
    {"Prefix": "x/", "MaxKeys": 3},
    {"Prefix": "x/", "StartAfter": "x/<&>", "MaxKeys": 2},
    {"Prefix": "x/", "Delimiter": "&", "EncodingType": "url"},
]


def test_listing_answers_are_moto_s_bytes(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ds_runtime.local import fast_s3_listing

    s3, plain_s3 = client(server), client(server, checksums=False)
    bucket(s3, "listing", versioned=False)
    for key in ["x/<&>", "x/a&b/c", 'x/"quoted"', "x/é ü", "x/tab\there", "x/%41"]:
        s3.put_object(Bucket="listing", Key=key, Body=b"2")
        plain_s3.put_object(Bucket="listing", Key=key + "-plain", Body=b"")
    listed = counting(monkeypatch, fast_s3_listing, "entries_xml")
    fast = [raw_listings(s3, "listing", case) for case in LISTINGS]
    assert listed  # the entries were written by fast_s3_listing
    fast_s3.uninstall()
    assert fast == [raw_listings(s3, "listing", case) for case in LISTINGS]
