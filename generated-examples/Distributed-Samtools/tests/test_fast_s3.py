"""fast_s3's promise: moto's S3 listing answers, page for page, only without rescanning the bucket.

Each case lists one small bucket (nested folders, overwrites, deleted keys and delete markers)
with plain moto and with fast_s3 installed, and asserts the same pages: keys, common prefixes,
truncation and where the next page starts.
"""

from __future__ import annotations

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


def test_install_refuses_an_unknown_moto_and_patches_nothing(restore: None, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_s3.uninstall()
    from moto.s3 import models

    before = models.S3Backend.list_objects_v2
    monkeypatch.setitem(fast_s3.PINNED_SOURCES, (models.S3Backend, "list_objects_v2"), "0" * 16)
    with pytest.warns(RuntimeWarning, match="list_objects_v2 has changed"):
        assert fast_s3.install() is False
    assert models.S3Backend.list_objects_v2 is before and not fast_s3.is_installed()


def test_uninstall_restores_moto(restore: None) -> None:
    from moto import backends
    from moto.s3 import models, utils

    fast_s3.uninstall()
    from moto.core import serialize

    before = (
        models.S3Backend.list_objects_v2,
        backends.list_of_moto_modules,
        dict(vars(utils._VersionedKeyStore)),
        serialize.parse_to_aware_datetime,
    )
    assert fast_s3.install() and fast_s3.install()
    assert backends.list_of_moto_modules() == tuple(before[1]())
    fast_s3.uninstall()
    after = (
        models.S3Backend.list_objects_v2,
        backends.list_of_moto_modules,
        dict(vars(utils._VersionedKeyStore)),
        serialize.parse_to_aware_datetime,
    )
    assert after == before
