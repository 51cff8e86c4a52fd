"""Bucket names and bucket references: what the tool spec and config.py may name as a bucket.

A bucket reference in the tool spec (an input's `bucket`, `output_bucket`) is one of:
    ""            AWS_BUCKET
    "config.NAME" the value of the tool's config key NAME ("" there: AWS_BUCKET)
    "field"       the job's value of that declared string field ("" there: AWS_BUCKET)
The spec's rules check references here; which buckets a run may then touch is buckets.py's.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping

from .placeholders import config_name

# The reserved config key listing the buckets job files may name, besides the others.
JOB_BUCKETS = "JOB_BUCKETS"
JOB_BUCKETS_FIX = (
    f"add it to {JOB_BUCKETS} in config.py (bucket names, separated by commas or spaces), "
    "then run `python run.py setupAccount` and `python run.py setup` again"
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


class BucketError(ValueError):
    """A bucket name or reference cannot be used; the message says which and the fix."""


def bucket_name_problem(name: str) -> str:
    """Why `name` breaks S3's naming rules for general purpose buckets; '' when it is fine."""
    if not _NAME.match(name):
        return "use 3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit"
    if ".." in name:
        return "two '.' in a row are not allowed"
    try:
        ipaddress.IPv4Address(name)
        return "a bucket name cannot look like an IP address"
    except ValueError:
        pass
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return "S3 reserves that prefix or suffix"
    return ""


def bucket_names(text: str) -> list[str]:
    """JOB_BUCKETS's names: separated by commas and/or white space; s3:// is not part of a name."""
    return [name for name in re.split(r"[\s,]+", text.strip()) if name]


def ref_problem(ref: str, field_types: Mapping[str, str], config_keys: Collection[str]) -> str:
    """Why a bucket reference names nothing usable; '' when it is fine."""
    if ref == "":
        return ""
    key = config_name(ref)
    if key is not None:
        if key == JOB_BUCKETS:
            return f"{ref!r}: {JOB_BUCKETS} lists several buckets; name a field instead, whose value jobs choose"
        if key not in config_keys:
            return f"{ref!r}: {key} is not a config key of this tool (config_keys: {', '.join(config_keys) or 'none'})"
        return ""
    if ref not in field_types:
        return f"{ref!r} is neither '' (AWS_BUCKET), config.NAME nor a declared field"
    if field_types[ref] != "string":
        return f"{ref!r} is a field of type {field_types[ref]}; a bucket field must be of type string"
    return ""
