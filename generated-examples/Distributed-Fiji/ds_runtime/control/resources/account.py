"""One-time account setup (DS's setup_AWS.py): the IAM roles a run needs, least privilege.

`setupAccount` creates three roles named after the app, each with one inline policy
scoped to this app's buckets, queues, log groups and cluster (no *FullAccess):
the machines' ECS instance role, the containers' task role and the auto-monitor's role;
it makes sure the account has EC2 Fleet's service-linked role (AWSServiceRoleForEC2Fleet,
which AWS wants in place before an EC2 Fleet is asked for through the API; no fleet role of
our own is needed), and it lets CloudWatch Logs export into AWS_BUCKET (log_export.py).
`undoAccount` removes the roles, and the Spot Fleet role earlier versions made (the bucket
policy and the service-linked role stay: the bucket and the account may serve other runs).
Both can be run again safely.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from ...buckets import allowed_buckets, resolve
from ...jobs import Job
from ...outcomes import default_prefix
from ..common.context import CommandError, Context, error_code
from .log_export import ensure_log_export_policy


@dataclass(frozen=True)
class Role:
    name: str
    service: str  # the AWS service that assumes it
    policy: dict[str, Any]


def role_name(ctx: Context, kind: str) -> str:
    """kind: instance, task or monitor (fleet: earlier versions' Spot Fleet role, which undoAccount removes)."""
    return f"{ctx.config.APP_NAME}-{kind}"


def _statement(actions: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _arns(ctx: Context) -> dict[str, Any]:
    """This app's own resources, by kind, as IAM ARNs."""
    c, region, account = ctx.config, ctx.config.AWS_REGION, ctx.account_id
    function = ctx.monitor_function
    return {
        "queue": ctx.queue_arn(c.SQS_QUEUE_NAME),
        "dlq": ctx.queue_arn(c.SQS_DEAD_LETTER_QUEUE),
        "log_groups": [f"arn:aws:logs:{region}:{account}:log-group:{g}:*" for g in ctx.log_groups],
        "cluster": f"arn:aws:ecs:{region}:{account}:cluster/{c.ECS_CLUSTER}",
        "container_instances": f"arn:aws:ecs:{region}:{account}:container-instance/{c.ECS_CLUSTER}/*",
        "service": f"arn:aws:ecs:{region}:{account}:service/{c.ECS_CLUSTER}/{ctx.service_name}",
        "services": f"arn:aws:ecs:{region}:{account}:service/{c.ECS_CLUSTER}/*",
        "tasks": f"arn:aws:ecs:{region}:{account}:task/{c.ECS_CLUSTER}/*",
        "task_definitions": f"arn:aws:ecs:{region}:{account}:task-definition/{ctx.task_family}:*",
        "rule": f"arn:aws:events:{region}:{account}:rule/{ctx.cap_rule}",
        "alarms": f"arn:aws:cloudwatch:{region}:{account}:alarm:{ctx.queue_empty_alarm}",
        "dashboard": f"arn:aws:cloudwatch::{account}:dashboard/{ctx.dashboard_name}",
        "function": f"arn:aws:lambda:{region}:{account}:function:{function}",
        "function_logs": f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}:*",
    }


# What RunInstances touches besides the machine; a launch is scoped by the machine's tag (its instance/* statement).
# AWS authorises each resource of a call against every statement, so the two may be apart.
INSTANCES = "arn:aws:ec2:*:*:instance/*"
FLEETS = "arn:aws:ec2:*:*:fleet/*"
LAUNCH_TEMPLATES = "arn:aws:ec2:*:*:launch-template/*"
SPOT_FLEETS = "arn:aws:ec2:*:*:spot-fleet-request/*"  # runs started by earlier versions (spot_fleet.py)
FLEET_SERVICE = "ec2fleet.amazonaws.com"  # EC2 Fleet's service-linked role, AWSServiceRoleForEC2Fleet
LAUNCH_RESOURCES = [
    f"arn:aws:ec2:*:*:{kind}"
    for kind in ("image/*", "subnet/*", "network-interface/*", "security-group/*", "volume/*", "key-pair/*")
]


def _tagged(c: Any, key: str = "ec2:ResourceTag") -> dict[str, Any]:
    """Only what carries this app's tag (ds:app = APP_NAME)."""
    return {"StringEquals": {f"{key}/ds:app": c.APP_NAME}}


# An image in ECR: account.dkr.ecr.region.amazonaws.com/name, then :tag and/or @digest.
ECR_IMAGE = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)(?::([^@]*))?(?:@.*)?")


def ecr_image(image: str) -> tuple[str, str, str, str] | None:
    """(account, region, repository name, tag or '') of an image in ECR, else None."""
    match = ECR_IMAGE.fullmatch(image)
    return (match[1], match[2], match[3], match[4] or "") if match else None


def ecr_repository(image: str) -> str | None:
    """The ECR repository ARN of an image in ECR, else None."""
    parts = ecr_image(image)
    return f"arn:aws:ecr:{parts[1]}:{parts[0]}:repository/{parts[2]}" if parts else None


def roles(ctx: Context) -> list[Role]:
    c, a = ctx.config, _arns(ctx)
    logs_write = _statement(["logs:CreateLogStream", "logs:PutLogEvents"], a["log_groups"])
    instance_role = role_name(ctx, "instance")
    # Machines pull the worker image only: from its ECR repository, or (Docker Hub) no ECR access at all.
    repository = ecr_repository(c.DOCKERHUB_TAG)
    pull = (
        [
            _statement(["ecr:GetAuthorizationToken"], ["*"]),  # no resource-level permissions in IAM
            _statement(
                ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"], [repository]
            ),
        ]
        if repository
        else []
    )
    return [
        Role(
            instance_role,
            "ec2.amazonaws.com",
            # What the ECS agent on each machine does, for this cluster only.
            _policy(
                _statement(
                    ["ecs:RegisterContainerInstance", "ecs:DeregisterContainerInstance", "ecs:Submit*"],
                    [a["cluster"], a["container_instances"]],
                ),
                _statement(["ecs:Poll", "ecs:StartTelemetrySession"], [a["container_instances"]]),
                # These actions have no resource-level permissions in IAM.
                _statement(["ecs:DiscoverPollEndpoint", "ec2:DescribeTags"], ["*"]),
                *pull,
                logs_write,
            ),
        ),
        Role(
            role_name(ctx, "task"),
            "ecs-tasks.amazonaws.com",
            # The worker (and the tool, which gets these credentials): read inputs, write outputs and
            # outcome records, take jobs from its queue. Nothing is deleted in S3; the dead-letter queue
            # is only sent to (a job that failed for good), never read.
            _policy(
                *_bucket_statements(ctx),
                # GetQueueAttributes: the redrive policy names the dead-letter queue (worker/failures.py).
                _statement(
                    [
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:ChangeMessageVisibility",
                        "sqs:SendMessage",  # an interrupted job goes back as a new message
                        "sqs:GetQueueAttributes",
                    ],
                    [a["queue"]],
                ),
                _statement(["sqs:SendMessage", "sqs:GetQueueUrl"], [a["dlq"]]),
                logs_write,
                # Through the ECS agent: a task holding a job is not stopped when monitor scales in.
                _statement(
                    ["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"],
                    [a["tasks"]],
                ),
            ),
        ),
        Role(
            role_name(ctx, "monitor"),
            "lambda.amazonaws.com",
            _policy(
                # Describe*: no resource-level permissions in IAM. DescribeInstances: the machine-hours, for MAX_COST.
                # Spot Fleet requests: runs started by earlier versions.
                _statement(
                    [
                        "ec2:DescribeFleets",
                        "ec2:DescribeLaunchTemplates",
                        "ec2:DescribeSpotFleetRequests",
                        "ec2:DescribeInstances",
                    ],
                    ["*"],
                ),
                # Only this app's fleet and launch template (startCluster tags them), and its machines.
                _statement(
                    [
                        "ec2:DeleteFleets",
                        "ec2:DeleteLaunchTemplate",
                        "ec2:CancelSpotFleetRequests",
                        "ec2:TerminateInstances",
                    ],
                    [FLEETS, LAUNCH_TEMPLATES, SPOT_FLEETS, INSTANCES],
                    Condition=_tagged(c),
                ),
                _statement(["events:ListTargetsByRule", "events:RemoveTargets", "events:DeleteRule"], [a["rule"]]),
                # Only this app's service; the cluster (maybe the shared `default`) is read, and deleted only
                # when teardown finds it empty (ECS refuses to delete a cluster with services or machines).
                _statement(["ecs:UpdateService", "ecs:DeleteService"], [a["service"]]),
                # Reading every service of the cluster tells whether it is unused (then it is deleted).
                _statement(["ecs:DescribeServices"], [a["services"]]),
                _statement(["ecs:DescribeClusters", "ecs:ListContainerInstances", "ecs:DeleteCluster"], [a["cluster"]]),
                *_cluster_listings(a),
                _statement(["ecs:ListTaskDefinitions", "ecs:DeregisterTaskDefinition"], ["*"]),  # none resource-level
                _statement(
                    ["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ListDeadLetterSourceQueues", "sqs:DeleteQueue"],
                    [a["queue"], a["dlq"]],
                ),
                _statement(["cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"], [a["alarms"]]),
                _statement(["cloudwatch:DeleteDashboards"], [a["dashboard"]]),
                _statement(["logs:DescribeLogGroups", "logs:DescribeExportTasks"], ["*"]),
                _statement(["logs:CreateExportTask"], a["log_groups"]),
                _statement(["lambda:DeleteFunction"], [a["function"]]),
                _statement(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], [a["function_logs"]]),
            ),
        ),
    ]


def _cluster_listings(a: dict[str, Any]) -> list[dict[str, Any]]:
    """Listing the cluster's services and tasks, limited to it by the ecs:cluster condition key: ListServices has
    no resource-level permissions, and ListTasks, which AWS's reference authorises on container instances, is
    not allowed a listing of the whole cluster by a container-instance ARN (AWS CDK's drain hook found the same)."""
    return [
        _statement(["ecs:ListServices", "ecs:ListTasks"], ["*"], Condition={"ArnEquals": {"ecs:cluster": a["cluster"]}})
    ]


def user_policy(ctx: Context) -> dict[str, Any]:
    """What the person running the commands (setup, submitJob, startCluster, monitor, status, retryFailed,
    cleanup, estimate, uploadInputs, downloadOutputs) needs, as one policy. setupAccount and undoAccount,
    which create and delete IAM roles, are for an administrator and are not in it."""
    c, a = ctx.config, _arns(ctx)
    buckets = sorted(allowed_buckets(ctx.spec, c.AWS_BUCKET, c.worker_config()))
    roles = [ctx.role_arn(role_name(ctx, kind)) for kind in ("instance", "task", "monitor")]
    return _policy(
        _statement(["s3:ListBucket"], [f"arn:aws:s3:::{b}" for b in buckets]),
        _statement(["s3:GetObject", "s3:PutObject"], [f"arn:aws:s3:::{b}/*" for b in buckets]),
        _statement(
            [
                "sqs:CreateQueue",
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:SetQueueAttributes",
                "sqs:SendMessage",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteQueue",
                "sqs:TagQueue",
                "sqs:ListDeadLetterSourceQueues",  # a dead-letter queue another queue uses is kept
            ],
            [a["queue"], a["dlq"]],
        ),
        # The run's roles: read (setup checks the task role), passed to ECS, EC2 and Lambda, and the task
        # role's output grant (submitJob).
        _statement(["iam:GetRole", "iam:PassRole"], roles),
        _statement(["iam:GetRolePolicy", "iam:PutRolePolicy"], [roles[1]]),
        _statement(
            ["ecs:CreateCluster", "ecs:DescribeClusters", "ecs:DeleteCluster", "ecs:ListContainerInstances"],
            [a["cluster"]],
        ),
        *_cluster_listings(a),
        # Tags given as a resource is created are authorised as ecs:TagResource on it (ECS's tag-on-create).
        _statement(["ecs:TagResource"], [a["cluster"], a["service"], a["task_definitions"]]),
        _statement(["ecs:RegisterTaskDefinition"], [a["task_definitions"]]),
        _statement(
            ["ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService"],
            [a["service"]],
        ),
        _statement(["ecs:DescribeServices"], [a["services"]]),  # teardown reads the cluster's services
        # monitor's scale-in: which machines run a task, then only this app's idle ones are terminated.
        _statement(["ecs:DescribeContainerInstances"], [a["container_instances"]]),
        _statement(["ec2:TerminateInstances"], [INSTANCES], Condition=_tagged(c)),
        # No resource-level permissions in IAM for these.
        _statement(
            [
                "ecs:DescribeTaskDefinition",
                "ecs:DeregisterTaskDefinition",
                "ecs:ListTaskDefinitions",
                "ec2:DescribeFleets",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeSpotFleetRequests",  # runs started by earlier versions
                "ec2:DescribeInstances",
                "ec2:DescribeSubnets",
                "ec2:DescribeKeyPairs",  # SSH_KEY_NAME and the Fleet file's KeyName must name one
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeInstanceTypes",  # startCluster: the containers must fit each MACHINE_TYPE
                "servicequotas:GetServiceQuota",  # startCluster: the G and VT spot quota of GPU machine types
                "logs:DescribeLogGroups",
                "logs:DescribeExportTasks",
                "cloudwatch:ListDashboards",
            ],
            ["*"],
        ),
        # The run's launch template and EC2 Fleet are made only with this app's tag, and only those with it are
        # read, changed or deleted; the fleet launches the machines from the template, with the app's tag (and
        # passes them the instance role above).
        _statement(["ec2:CreateLaunchTemplate"], [LAUNCH_TEMPLATES], Condition=_tagged(c, "aws:RequestTag")),
        _statement(["ec2:CreateFleet"], [FLEETS, INSTANCES], Condition=_tagged(c, "aws:RequestTag")),
        _statement(["ec2:CreateFleet"], [LAUNCH_TEMPLATES, *LAUNCH_RESOURCES]),
        _statement(["ec2:RunInstances"], [INSTANCES], Condition=_tagged(c, "aws:RequestTag")),
        _statement(["ec2:RunInstances"], [LAUNCH_TEMPLATES, *LAUNCH_RESOURCES]),
        _statement(
            ["ec2:CreateTags"],
            ["*"],
            Condition={
                "StringEquals": {
                    "ec2:CreateAction": ["CreateLaunchTemplate", "CreateFleet", "RunInstances"],
                    "aws:RequestTag/ds:app": c.APP_NAME,
                }
            },
        ),
        _statement(
            [
                "ec2:CreateLaunchTemplateVersion",
                "ec2:DeleteLaunchTemplate",
                "ec2:ModifyFleet",
                "ec2:DeleteFleets",
                "ec2:DescribeFleetInstances",
                "ec2:DescribeFleetHistory",
            ],
            [LAUNCH_TEMPLATES, FLEETS],
            Condition=_tagged(c),
        ),
        # Runs started by earlier versions (a Spot Fleet): watched, shrunk and cancelled, never asked for.
        _statement(
            ["ec2:DescribeSpotFleetInstances", "ec2:ModifySpotFleetRequest", "ec2:CancelSpotFleetRequests"],
            [SPOT_FLEETS],
            Condition=_tagged(c),
        ),
        # AWS's public parameters (the ECS-optimised AMI) have no account in their ARN; `*` matches that too.
        _statement(["ssm:GetParameter"], [f"arn:aws:ssm:{c.AWS_REGION}:*:parameter/aws/service/*"]),
        _statement(
            [
                "logs:CreateLogGroup",
                "logs:PutRetentionPolicy",
                "logs:DeleteLogGroup",
                "logs:CreateExportTask",
                "logs:TagResource",
            ],
            a["log_groups"],
        ),
        _statement(
            ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"], [a["alarms"]]
        ),
        _statement(["cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"], [a["dashboard"]]),
        _statement(
            [
                "events:PutRule",
                "events:PutTargets",
                "events:RemoveTargets",
                "events:DeleteRule",
                "events:DescribeRule",
                "events:ListTargetsByRule",
                "events:TagResource",
            ],
            [a["rule"]],
        ),
        _statement(
            [
                "lambda:CreateFunction",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:AddPermission",
                "lambda:GetFunction",
                "lambda:DeleteFunction",
                "lambda:TagResource",
            ],
            [a["function"]],
        ),
        *_image_digest(c.DOCKERHUB_TAG),
    )


def _image_digest(image: str) -> list[dict[str, Any]]:
    """setup pins an ECR image by the digest ECR holds for its tag: read on that repository only."""
    repository = ecr_repository(image)
    return [_statement(["ecr:DescribeImages"], [repository])] if repository else []


def _bucket_statements(ctx: Context) -> list[dict[str, Any]]:
    """The containers' S3 access: read every bucket the run may touch, write only outcome records here.

    Split by direction so that a bucket only read (e.g. DCP's SOURCE_BUCKET) cannot be
    written by a worker. Output writes are granted per Job file by submitJob
    (`allow_outputs`), under the jobs' own output prefixes. Nothing is deleted.
    Changing config.py's buckets needs setupAccount again.
    """
    c = ctx.config
    read = sorted(allowed_buckets(ctx.spec, c.AWS_BUCKET, c.worker_config()))
    return [
        _statement(["s3:ListBucket"], [f"arn:aws:s3:::{b}" for b in read]),
        _statement(["s3:GetObject"], [f"arn:aws:s3:::{b}/*" for b in read]),
        _statement(["s3:PutObject"], [f"arn:aws:s3:::{c.AWS_BUCKET}/{default_prefix(c.APP_NAME)}/*"]),
    ]


OUTPUTS_POLICY = "ds-outputs"
MAX_OUTPUT_PREFIXES = 40  # keeps the role's inline policies far under IAM's 10,240 characters


def outermost(prefixes: Iterable[str]) -> list[str]:
    """The prefixes (each ending in /) not inside another one, sorted: a sorted scan, n log n.

    In sorted order a prefix comes before everything inside it, and all between them is inside it too.
    """
    kept: list[str] = []
    for prefix in sorted(set(prefixes)):
        if not (kept and prefix.startswith(kept[-1])):
            kept.append(prefix)
    return kept


def output_prefixes(ctx: Context, jobs: Iterable[Job], known: Iterable[str] = ()) -> list[str]:
    """`bucket/prefix/` of every job's outputs (and `known` ones, granted before), at most MAX_OUTPUT_PREFIXES.

    Each job's own output prefix when they fit; else the folders the jobs share (JobView.output_root,
    e.g. the Job file's `output`); never wider: a grant of a parent folder, up to the whole bucket,
    would let a tool overwrite the run's inputs. CommandError, naming the fix, when neither fits.
    """
    config, known = ctx.config.worker_config(), list(known)
    exact, roots = set(known), set(known)
    for job in jobs:
        bucket = resolve(ctx.spec.output_bucket, job.values, config, ctx.config.AWS_BUCKET)
        view = ctx.spec.for_job(job.values, job.job_id, config)
        exact.add(f"{bucket}/{view.output_key()}/")
        root = view.output_root()
        roots.add(f"{bucket}/{root}/" if root else f"{bucket}/")
    for found in (exact, roots):
        kept = outermost(found)
        if len(kept) <= MAX_OUTPUT_PREFIXES and not any(p.count("/") == 1 and p not in known for p in kept):
            return kept
    raise CommandError(_grant_refused(ctx, len(outermost(exact)), outermost(roots), known))


def _grant_refused(ctx: Context, folders: int, roots: list[str], known: list[str]) -> str:
    """Why the jobs' outputs cannot be granted without widening the task role's write grant, and the fix."""
    role = role_name(ctx, "task")
    wide = [p for p in roots if p.count("/") == 1]  # bucket/: the first folder of the output prefix is a job's
    why = (
        f"their output prefix {ctx.spec.output_prefix!r} begins with a job field, so they share no folder"
        f" narrower than the bucket ({wide[0]})"
        if wide
        else f"the folders they share are {len(roots)} (of this Job file and {len(known)} granted before)"
    )
    fix = (
        "send fewer jobs per Job file, or give the output prefix a shared first folder (e.g. {output}/...)"
        if wide
        else "put their outputs under fewer folders (one `output` per Job file)"
    )
    earlier = (
        f"; folders granted for earlier Job files stay in policy {OUTPUTS_POLICY} of role {role}: once their jobs"
        f" are finished, remove it (aws iam delete-role-policy --role-name {role} --policy-name {OUTPUTS_POLICY})"
        " and submit again"
        if known
        else ""
    )
    return (
        f"the jobs write under {folders} output folders, more than the {MAX_OUTPUT_PREFIXES} the task role's"
        f" write grant can name, and {why}; granting a wider folder would let a tool overwrite the run's inputs."
        f" Nothing was sent. Fix: {fix}{earlier}"
    )


def allow_outputs(ctx: Context, jobs: list[Job]) -> None:
    """Let the task role write under these jobs' output prefixes, besides those allowed before."""
    iam, name = ctx.client("iam"), role_name(ctx, "task")
    try:
        old = iam.get_role_policy(RoleName=name, PolicyName=OUTPUTS_POLICY)["PolicyDocument"]
        old = json.loads(unquote(old)) if isinstance(old, str) else old
        known = [r.removeprefix("arn:aws:s3:::").removesuffix("*") for r in old["Statement"][0]["Resource"]]
    except iam.exceptions.NoSuchEntityException:
        known = []
    policy = outputs_policy(ctx, output_prefixes(ctx, jobs, known))
    iam.put_role_policy(RoleName=name, PolicyName=OUTPUTS_POLICY, PolicyDocument=json.dumps(policy))


def outputs_policy(ctx: Context, prefixes: list[str]) -> dict[str, Any]:
    """The task role's write grant under `bucket/prefix/` folders (policy OUTPUTS_POLICY)."""
    # `--acl` in the upload flags sets each object's ACL as it is written: IAM asks for PutObjectAcl.
    # AbortMultipartUpload: a large upload refused by its If-None-Match leaves no parts behind.
    put = ["s3:PutObject", "s3:AbortMultipartUpload"] + (["s3:PutObjectAcl"] if ctx.spec.upload_flags else [])
    return _policy(_statement(put, [f"arn:aws:s3:::{p}*" for p in prefixes]))


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


def print_user_policy(ctx: Context) -> int:
    """`setupAccount --print-policy`: the commands' policy as JSON, for an administrator to grant; creates nothing."""
    ctx.console.print_json(json.dumps(user_policy(ctx)))
    return 0


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
        f"In your fleet file use IamInstanceProfile arn:aws:iam::{ctx.account_id}:instance-profile/{profile}"
    )
    ctx.console.print(f"EC2 Fleet's service-linked role: {_ensure_fleet_service_role(iam)}")
    ctx.console.print(ensure_log_export_policy(ctx), highlight=False, markup=False)
    return 0


def _ensure_fleet_service_role(iam: Any) -> str:
    """AWSServiceRoleForEC2Fleet, which AWS wants in place before an EC2 Fleet is asked for through the API."""
    try:
        iam.create_service_linked_role(AWSServiceName=FLEET_SERVICE)
    except ClientError as exc:  # AWS: InvalidInput "... has been taken in this account"; moto: EntityAlreadyExists
        if error_code(exc) not in ("InvalidInput", "EntityAlreadyExists"):
            raise
        return "already there"
    return "created"


def undo_account(ctx: Context) -> int:
    iam = ctx.client("iam")
    profile = role_name(ctx, "instance")
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=profile)
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.delete_instance_profile(InstanceProfileName=profile)
    # The Spot Fleet role of earlier versions goes too (its policy is that version's; no policy is needed here).
    legacy = Role(role_name(ctx, "fleet"), "spotfleet.amazonaws.com", _policy())
    for role in [*roles(ctx), legacy]:
        try:
            with contextlib.suppress(iam.exceptions.NoSuchEntityException):  # only the task role has it
                iam.delete_role_policy(RoleName=role.name, PolicyName=OUTPUTS_POLICY)
            iam.delete_role_policy(RoleName=role.name, PolicyName=POLICY_NAME)
            iam.delete_role(RoleName=role.name)
            ctx.console.print(f"role {role.name}: deleted")
        except iam.exceptions.NoSuchEntityException:
            ctx.console.print(f"role {role.name}: already gone")
        except iam.exceptions.DeleteConflictException as exc:
            ctx.console.print(f"role {role.name}: kept ({error_code(exc)}: still in use; undo again later)")
    return 0


def run_setup_account(ctx: Context, args: argparse.Namespace) -> int:
    return print_user_policy(ctx) if args.print_policy else setup_account(ctx)


def run_undo_account(ctx: Context, args: argparse.Namespace) -> int:
    return undo_account(ctx)
