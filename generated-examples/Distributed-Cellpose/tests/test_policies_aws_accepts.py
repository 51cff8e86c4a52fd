"""Every policy the runtime writes is one AWS accepts and applies as meant (AWS's authorisation reference).

The roles' policies, the operator's (`setupAccount --print-policy`), the task role's output grant and
the log export's bucket policy, for a run pulling from Docker Hub and one pulling from ECR with upload
flags. tests/_policy_lint.py says what is checked; test_this_repo.py runs the same check on this
repository's own tool spec and config.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from moto import mock_aws

from ._control_support import make_ctx, spec
from ._policy_lint import assert_aws_accepts, every_policy, findings, unmatched_required

ECR_IMAGE = "'123456789012.dkr.ecr.us-east-1.amazonaws.com/distributed-echo:1'"


@pytest.mark.parametrize(
    ("image", "upload_flags"),
    [("'example/distributed-echo:1'", ""), (ECR_IMAGE, "--acl bucket-owner-full-control")],
    ids=["docker-hub", "ecr-with-upload-flags"],
)
def test_every_policy_names_real_actions_resources_and_condition_keys(
    tmp_path: Path, image: str, upload_flags: str
) -> None:
    with mock_aws():
        ctx = make_ctx(tmp_path, spec(upload_flags=upload_flags), DOCKERHUB_TAG=image)
        policies = every_policy(ctx, [f"{ctx.config.AWS_BUCKET}/projects/echo/outputs/"])
    assert_aws_accepts(policies)


def test_a_grant_aws_would_ignore_is_found() -> None:
    """The checks can fail: each statement below is one moto accepts and AWS does not apply."""
    cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/c"
    wrong = {
        "Version": "2012-10-17",
        "Statement": [
            # ListServices has no resource-level permissions: a cluster ARN grants nothing on AWS.
            {"Effect": "Allow", "Action": ["ecs:ListServices"], "Resource": [cluster]},
            # ListTasks is authorised on container instances, not the cluster.
            {"Effect": "Allow", "Action": ["ecs:ListTasks"], "Resource": [cluster]},
            # No such action.
            {"Effect": "Allow", "Action": ["sqs:ReceiveMessages"], "Resource": ["*"]},
            # No such condition key for the action.
            {
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": ["arn:aws:sqs:us-east-1:123456789012:q"],
                "Condition": {"StringEquals": {"ec2:CreateAction": "RunInstances"}},
            },
        ],
    }
    lines = findings(wrong)
    assert {a for a, _ in unmatched_required(wrong)} == {"ecs:ListServices", "ecs:ListTasks"}
    assert any("UNKNOWN_ACTION" in line and "ReceiveMessages" in line for line in lines), lines
    assert any("UNKNOWN_CONDITION_FOR_ACTION" in line for line in lines), lines


def test_required_resources_may_be_granted_by_different_statements() -> None:
    """As AWS evaluates them: RunInstances' machine in a tagged statement, what it launches from in another."""
    split = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ec2:RunInstances"],
                "Resource": ["arn:aws:ec2:*:*:instance/*"],
                "Condition": {"StringEquals": {"aws:RequestTag/ds:app": "A"}},
            },
            {
                "Effect": "Allow",
                "Action": ["ec2:RunInstances"],
                "Resource": [
                    f"arn:aws:ec2:*:*:{kind}/*"
                    for kind in ("image", "subnet", "network-interface", "security-group", "volume", "key-pair")
                ],
            },
        ],
    }
    assert findings(split) == []
    split["Statement"].pop()
    assert {fmt for _, fmt in unmatched_required(split)} >= {"arn:*:ec2:*::image/*", "arn:*:ec2:*:*:subnet/*"}
