"""The bucket policy CloudWatch Logs needs to export a run's logs into AWS_BUCKET (teardown's last step).

CloudWatch Logs writes as the service principal logs.<region>.amazonaws.com: it reads the
bucket's ACL, then puts objects under the export prefix with the bucket-owner-full-control
ACL. Both are allowed only for exports from this account (aws:SourceAccount), so no
other account can use the bucket through the logs service.

The statements carry their own Sids: setupAccount adds or refreshes them and keeps every
other statement of the bucket's policy as the user wrote it. When the policy cannot be
read or written, nothing is changed and the message says what to add by hand.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ..common.context import Context, error_code
from .catalogue import EXPORT_PREFIX

SID_PREFIX = "DSLogExport"


def statements(ctx: Context) -> list[dict[str, Any]]:
    c = ctx.config
    principal = {"Service": f"logs.{c.AWS_REGION}.amazonaws.com"}
    source = {"aws:SourceAccount": ctx.account_id}
    return [
        {
            "Sid": f"{SID_PREFIX}GetBucketAcl{c.APP_NAME}",
            "Effect": "Allow",
            "Principal": principal,
            "Action": "s3:GetBucketAcl",
            "Resource": f"arn:aws:s3:::{c.AWS_BUCKET}",
            "Condition": {"StringEquals": source},
        },
        {
            "Sid": f"{SID_PREFIX}PutObject{c.APP_NAME}",
            "Effect": "Allow",
            "Principal": principal,
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{c.AWS_BUCKET}/{EXPORT_PREFIX}/*",
            "Condition": {"StringEquals": {**source, "s3:x-amz-acl": "bucket-owner-full-control"}},
        },
    ]


def merged(existing: dict[str, Any] | None, ours: list[dict[str, Any]]) -> dict[str, Any]:
    """The bucket's policy with our statements added or replaced (by Sid); every other statement kept."""
    policy = dict(existing or {"Version": "2012-10-17"})
    found = policy.get("Statement", [])
    found = found if isinstance(found, list) else [found]  # a policy may hold one statement as an object
    sids = {s["Sid"] for s in ours}
    policy["Statement"] = [s for s in found if s.get("Sid") not in sids] + ours
    return policy


def _by_hand(ctx: Context, why: str) -> str:
    wanted = json.dumps(statements(ctx), indent=1)
    return (
        f"warning: the log export bucket policy of {ctx.config.AWS_BUCKET} was not set ({why}). Without it, "
        "teardown's 'export logs to S3' step fails (the logs stay in CloudWatch). Fix that and run setupAccount "
        f"again, or add these statements to the bucket's policy yourself:\n{wanted}"
    )


def ensure_log_export_policy(ctx: Context) -> str:
    """Add the export's statements to AWS_BUCKET's policy; the line to print. Never raises for AWS refusals."""
    s3, bucket = ctx.client("s3"), ctx.config.AWS_BUCKET
    try:
        existing: dict[str, Any] | None = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        code = error_code(exc)
        if code == "NoSuchBucket":
            return _by_hand(ctx, f"bucket {bucket} not found: create it (AWS_BUCKET in config.py)")
        if code != "NoSuchBucketPolicy":
            return _by_hand(ctx, f"reading its policy: {code or exc}")
        existing = None
    wanted = merged(existing, statements(ctx))
    if wanted == existing:
        return f"bucket {bucket}: its policy already lets CloudWatch Logs export into {EXPORT_PREFIX}/"
    try:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(wanted))
    except ClientError as exc:
        return _by_hand(ctx, f"writing its policy: {error_code(exc) or exc}")
    kept = len(wanted["Statement"]) - len(statements(ctx))
    return (
        f"bucket {bucket}: policy lets CloudWatch Logs export into {EXPORT_PREFIX}/ "
        f"({kept} statement(s) already there kept)"
    )
