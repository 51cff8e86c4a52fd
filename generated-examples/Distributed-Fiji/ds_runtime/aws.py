"""One boto3 session for every AWS client, built from config's AWS_PROFILE and AWS_REGION.

The standard AWS_ENDPOINT_URL environment variable (honoured by boto3 itself)
points every client at an emulator for local runs and tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import boto3
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.utils import parse_timestamp

# Adaptive retries absorb throttling and transient errors without hand-written loops.
RETRIES = BotoConfig(retries={"max_attempts": 8, "mode": "adaptive"})


DEFAULT_PROFILE = "default"  # DS's own AWS_PROFILE value


class ProfileError(ValueError):
    """AWS_PROFILE names a profile this computer does not have."""


def resolve_profile(profile: str | None, note: Callable[[str], None] = lambda text: None) -> str | None:
    """The profile to use: None (the default credential chain) when none is named.

    DS configs say AWS_PROFILE = 'default'; without a ~/.aws profile of that name (keys in
    the environment, an instance role, SSO env vars) that means the default chain, with a
    note. Any other missing profile is an error: it would silently use other credentials.
    """
    if not profile:
        return None
    available = boto3.Session().available_profiles
    if profile in available:
        return profile
    if profile == DEFAULT_PROFILE:
        note(
            "AWS_PROFILE = 'default' is not a profile in ~/.aws; using the default credentials "
            "(environment variables, instance role)"
        )
        return None
    known = ", ".join(sorted(available)) or "none"
    raise ProfileError(
        f"AWS_PROFILE = {profile!r} is not a profile on this computer (found: {known}); "
        "list them with `aws configure list-profiles`, or set AWS_PROFILE = None for the default credentials"
    )


def make_session(profile: str | None, region: str) -> boto3.Session:
    """A session for the configured profile (None or '' = the default chain) and region, whose
    clients read timestamps with the standard library (`read_timestamp`)."""
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=read_timestamp)
    return boto3.Session(botocore_session=core, profile_name=profile or None, region_name=region)


def read_timestamp(value: str) -> datetime:
    """A timestamp of an AWS answer, as botocore's own parser reads it, only faster for the two common
    forms: ISO 8601 with a zone (S3 listings' LastModified) and RFC 7231 (headers). botocore's uses
    dateutil's general parser: three quarters of the time a listing of 100,000 keys took to read."""
    try:
        if value[4:5] == "-" and value[10:11] == "T":
            found = datetime.fromisoformat(value)
        elif value[3:5] == ", ":
            found = parsedate_to_datetime(value)
        else:
            return parse_timestamp(value)
    except (ValueError, TypeError):
        return parse_timestamp(value)  # its error, for what it cannot read either
    return found if found.tzinfo is not None else parse_timestamp(value)


@dataclass(frozen=True)
class QueueLoad:
    """A queue's messages: waiting (visible) and being worked on (in flight)."""

    visible: int
    in_flight: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight

    @property
    def empty(self) -> bool:
        return self.total == 0


def queue_load(sqs: Any, url: str) -> QueueLoad:
    """One read of a queue's approximate counts (SQS's attributes, which every status view shares)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return QueueLoad(int(attrs.get(names[0], 0)), int(attrs.get(names[1], 0)))
