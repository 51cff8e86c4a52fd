"""One-time account setup (DS's setup_AWS.py): the IAM roles a run needs, least privilege.

`setupAccount` creates four roles named after the app, each with one inline policy
scoped to this app's buckets, queues, log groups and cluster (no *FullAccess):
the machines' ECS instance role, the spot fleet role, the containers' task role and
the auto-monitor's role; and it lets CloudWatch Logs export into AWS_BUCKET (log_export.py).
`undoAccount` removes the roles (the bucket policy stays: the bucket may serve other runs).
Both can be run again safely.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from ..buckets import allowed_buckets, writable_buckets
from .context import Context, error_code
from .log_export import ensure_log_export_policy


@dataclass(frozen=True)
class Role:
    name: str
    service: str  # the AWS service that assumes it
    policy: dict[str, Any]


def role_name(ctx: Context, kind: str) -> str:
    """kind: instance, fleet, task or monitor."""
    return f"{ctx.config.APP_NAME}-{kind}"


def _statement(actions: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def roles(ctx: Context) -> list[Role]:
    c, region, account = ctx.config, ctx.config.AWS_REGION, ctx.account_id
    queues = [ctx.queue_arn(c.SQS_QUEUE_NAME), ctx.queue_arn(c.SQS_DEAD_LETTER_QUEUE)]
    log_groups = [f"arn:aws:logs:{region}:{account}:log-group:{g}:*" for g in ctx.log_groups]
    cluster = f"arn:aws:ecs:{region}:{account}:cluster/{c.ECS_CLUSTER}"
    container_instances = f"arn:aws:ecs:{region}:{account}:container-instance/{c.ECS_CLUSTER}/*"
    logs_write = _statement(["logs:CreateLogStream", "logs:PutLogEvents"], log_groups)
    function = f"{c.APP_NAME}-teardown"
    instance_role = role_name(ctx, "instance")
    return [
        Role(
            instance_role,
            "ec2.amazonaws.com",
            # What the ECS agent on each machine does, for this cluster only.
            _policy(
                _statement(
                    ["ecs:RegisterContainerInstance", "ecs:DeregisterContainerInstance", "ecs:Submit*"],
                    [cluster, container_instances],
                ),
                _statement(["ecs:Poll", "ecs:StartTelemetrySession"], [container_instances]),
                # These actions have no resource-level permissions in IAM.
                _statement(
                    [
                        "ecs:DiscoverPollEndpoint",
                        "ec2:DescribeTags",
                        "ecr:GetAuthorizationToken",
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                    ],
                    ["*"],
                ),
                logs_write,
            ),
        ),
        Role(
            role_name(ctx, "fleet"),
            "spotfleet.amazonaws.com",
            _policy(
                _statement(
                    [
                        "ec2:RequestSpotInstances",
                        "ec2:RunInstances",
                        "ec2:CreateTags",
                        "ec2:DescribeImages",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeInstanceStatus",
                    ],
                    ["*"],
                ),
                # It may only terminate this app's machines.
                _statement(
                    ["ec2:TerminateInstances"],
                    ["*"],
                    Condition={"StringEquals": {"ec2:ResourceTag/ds:app": c.APP_NAME}},
                ),
                _statement(["iam:PassRole"], [ctx.role_arn(instance_role)]),
            ),
        ),
        Role(
            role_name(ctx, "task"),
            "ecs-tasks.amazonaws.com",
            _policy(
                *_bucket_statements(ctx),
                _statement(
                    [
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:ChangeMessageVisibility",
                        "sqs:GetQueueUrl",
                        "sqs:GetQueueAttributes",
                    ],
                    queues,
                ),
                logs_write,
                _statement(["cloudwatch:PutMetricData"], ["*"]),
            ),
        ),
        Role(
            role_name(ctx, "monitor"),
            "lambda.amazonaws.com",
            _policy(
                # DescribeInstances: the machine-hours of a run, for MAX_COST.
                _statement(
                    ["ec2:CancelSpotFleetRequests", "ec2:DescribeSpotFleetRequests", "ec2:DescribeInstances"], ["*"]
                ),
                _statement(
                    ["events:ListTargetsByRule", "events:RemoveTargets", "events:DeleteRule"],
                    [f"arn:aws:events:{region}:{account}:rule/{c.APP_NAME}-caps"],
                ),
                _statement(
                    [
                        "ecs:UpdateService",
                        "ecs:DeleteService",
                        "ecs:DescribeClusters",
                        "ecs:ListServices",
                        "ecs:ListTasks",
                        "ecs:ListContainerInstances",
                        "ecs:DeleteCluster",
                    ],
                    [cluster, f"arn:aws:ecs:{region}:{account}:service/{c.ECS_CLUSTER}/*"],
                ),
                _statement(["ecs:ListTaskDefinitions", "ecs:DeregisterTaskDefinition"], ["*"]),
                _statement(["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:DeleteQueue"], queues),
                _statement(["cloudwatch:DescribeAlarms"], ["*"]),
                _statement(
                    ["cloudwatch:DeleteAlarms", "cloudwatch:DeleteDashboards"],
                    [
                        f"arn:aws:cloudwatch:{region}:{account}:alarm:{c.APP_NAME}-*",
                        f"arn:aws:cloudwatch::{account}:dashboard/{ctx.dashboard_name}",
                    ],
                ),
                _statement(["logs:DescribeLogGroups", "logs:CreateExportTask", "logs:DescribeExportTasks"], ["*"]),
                _statement(["lambda:DeleteFunction"], [f"arn:aws:lambda:{region}:{account}:function:{function}"]),
                _statement(
                    ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    [f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}:*"],
                ),
            ),
        ),
    ]


def _bucket_statements(ctx: Context) -> list[dict[str, Any]]:
    """The containers' S3 access: read every bucket the run may touch, write where outputs may go.

    Split by direction so that a bucket only read (e.g. DCP's SOURCE_BUCKET) cannot be
    written by a worker; JOB_BUCKETS's may be either, as jobs choose. Deleting stays
    with AWS_BUCKET, the run's own. Changing config.py's buckets needs setupAccount again.
    """
    c = ctx.config
    read = sorted(allowed_buckets(ctx.spec, c.AWS_BUCKET, c.worker_config()))
    write = sorted(writable_buckets(ctx.spec, c.AWS_BUCKET, c.worker_config()))
    # `--acl` in the upload flags sets each object's ACL as it is written: IAM asks for PutObjectAcl.
    put = ["s3:PutObject", "s3:PutObjectAcl"] if ctx.spec.upload_flags else ["s3:PutObject"]
    return [
        _statement(["s3:ListBucket"], [f"arn:aws:s3:::{b}" for b in read]),
        _statement(["s3:GetObject"], [f"arn:aws:s3:::{b}/*" for b in read]),
        _statement(put, [f"arn:aws:s3:::{b}/*" for b in write]),
        _statement(["s3:DeleteObject"], [f"arn:aws:s3:::{c.AWS_BUCKET}/*"]),
    ]


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


POLICY_NAME = "ds-least-privilege"


def setup_account(ctx: Context) -> int:
    iam = ctx.client("iam")
    for role in roles(ctx):
        try:
            iam.get_role(RoleName=role.name)
            iam.update_assume_role_policy(RoleName=role.name, PolicyDocument=_trust(role.service))
            state = "updated"
        except iam.exceptions.NoSuchEntityException:
            iam.create_role(
                RoleName=role.name,
                AssumeRolePolicyDocument=_trust(role.service),
                Description=f"{ctx.config.APP_NAME} (Distributed-Something), created by run.py setupAccount",
                Tags=ctx.tag_list(),
            )
            state = "created"
        iam.put_role_policy(RoleName=role.name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(role.policy))
        ctx.console.print(f"role {role.name}: {state}")
    profile = role_name(ctx, "instance")
    try:
        found = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
    except iam.exceptions.NoSuchEntityException:
        found = iam.create_instance_profile(InstanceProfileName=profile, Tags=ctx.tag_list())["InstanceProfile"]
    if not any(r["RoleName"] == profile for r in found.get("Roles", [])):
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=profile)
    ctx.console.print(
        f"instance profile {profile}: ready\n"
        f"In your fleet file use IamFleetRole {ctx.role_arn(role_name(ctx, 'fleet'))} and\n"
        f"IamInstanceProfile arn:aws:iam::{ctx.account_id}:instance-profile/{profile}"
    )
    ctx.console.print(ensure_log_export_policy(ctx), highlight=False, markup=False)
    return 0


def undo_account(ctx: Context) -> int:
    iam = ctx.client("iam")
    profile = role_name(ctx, "instance")
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=profile)
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.delete_instance_profile(InstanceProfileName=profile)
    for role in roles(ctx):
        try:
            iam.delete_role_policy(RoleName=role.name, PolicyName=POLICY_NAME)
            iam.delete_role(RoleName=role.name)
            ctx.console.print(f"role {role.name}: deleted")
        except iam.exceptions.NoSuchEntityException:
            ctx.console.print(f"role {role.name}: already gone")
        except iam.exceptions.DeleteConflictException as exc:
            ctx.console.print(f"role {role.name}: kept ({error_code(exc)}: still in use; undo again later)")
    return 0
