"""One boto3 session for every AWS client, built from config's AWS_PROFILE and AWS_REGION.

The standard AWS_ENDPOINT_URL environment variable (honoured by boto3 itself)
points every client at an emulator for local runs and tests.
"""

from __future__ import annotations

import boto3
from botocore.config import Config as BotoConfig

# Adaptive retries absorb throttling and transient errors without hand-written loops.
RETRIES = BotoConfig(retries={"max_attempts": 8, "mode": "adaptive"})


def make_session(profile: str | None, region: str) -> boto3.Session:
    """A session for the configured profile (None or '' = the default chain) and region."""
    return boto3.Session(profile_name=profile or None, region_name=region)
