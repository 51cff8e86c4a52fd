"""setupAccount and setup: least-privilege roles, queues, cluster, task definition, service; idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from ds_runtime.control.commands.setup import setup
from ds_runtime.control.common.context import CommandError
from ds_runtime.control.resources.account import (
    LAUNCH_RESOURCES,
    LAUNCH_TEMPLATES,
    setup_account,
    undo_account,
    user_policy,
)
from ds_runtime.entry import main
from ds_runtime.local.containers import run_options
from ds_runtime.worker_settings import WorkerSettings

from ._control_support import APP, ECHO_IMAGE, REGION, make_ctx, output, spec, write_config, write_spec


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def task_definitions() -> list[dict]:
    ecs = boto3.client("ecs", region_name=REGION)
    arns = ecs.list_task_definitions(familyPrefix=f"{APP}Task")["taskDefinitionArns"]
    return [ecs.describe_task_definition(taskDefinition=a)["taskDefinition"] for a in arns]


def test_setup_account_roles_are_scoped(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    setup_account(ctx)
    setup_account(ctx)  # again: no error, same roles
    iam = boto3.client("iam")
    names = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert {f"{APP}-instance", f"{APP}-task", f"{APP}-monitor"} <= names
    assert f"{APP}-fleet" not in names  # EC2 Fleet launches with its service-linked role instead
    linked = iam.list_roles(PathPrefix="/aws-service-role/ec2fleet.amazonaws.com/")["Roles"]
    assert len(linked) == 1 and "EC2 Fleet's service-linked role: created" in output(ctx)
    assert "EC2 Fleet's service-linked role: already there" in output(ctx)  # the second setupAccount
    names -= {r["RoleName"] for r in linked}
    for role in names:
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []  # no *FullAccess
    policies = {
        kind: iam.get_role_policy(RoleName=f"{APP}-{kind}", PolicyName="ds-least-privilege")["PolicyDocument"]
        for kind in ("instance", "task", "monitor")
    }
    task = {(tuple(s["Action"]), tuple(s["Resource"])) for s in policies["task"]["Statement"]}
    queue, dlq = (f"arn:aws:sqs:us-east-1:123456789012:DistributedEcho{q}" for q in ("Queue", "DeadMessages"))
    logs = "arn:aws:logs:us-east-1:123456789012:log-group:"
    assert task == {
        (("s3:ListBucket",), ("arn:aws:s3:::echo-bucket",)),
        (("s3:GetObject",), ("arn:aws:s3:::echo-bucket/*",)),
        (("s3:PutObject",), (f"arn:aws:s3:::echo-bucket/_ds_status/{APP}/*",)),  # outputs: granted by submitJob
        (
            (
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:SendMessage",
                "sqs:GetQueueAttributes",  # the redrive policy names the dead-letter queue
            ),
            (queue,),
        ),
        (("sqs:SendMessage", "sqs:GetQueueUrl"), (dlq,)),  # never ReceiveMessage on the dead-letter queue
        (
            ("ecs:UpdateTaskProtection", "ecs:GetTaskProtection"),
            ("arn:aws:ecs:us-east-1:123456789012:task/echo-cluster/*",),
        ),
        (("logs:CreateLogStream", "logs:PutLogEvents"), tuple(f"{logs}{g}:*" for g in (APP, f"{APP}_perInstance"))),
    }
    # Nothing unscoped but what IAM cannot scope; tags and terminations only for this app's.
    for kind, policy in policies.items():
        for statement in policy["Statement"]:
            if statement["Resource"] == ["*"] and "Condition" not in statement:
                assert all(
                    a.split(":")[1].startswith(
                        ("Describe", "List", "DiscoverPoll", "GetAuthorization", "DeregisterTaskDef")
                    )
                    for a in statement["Action"]
                ), (kind, statement)
    conditions = {a: s.get("Condition") for s in policies["monitor"]["Statement"] for a in s["Action"]}
    for action in (
        "ec2:TerminateInstances",
        "ec2:DeleteFleets",
        "ec2:DeleteLaunchTemplate",
        "ec2:CancelSpotFleetRequests",
    ):
        assert APP in json.dumps(conditions[action]), action
    monitor_ecs = [s["Resource"] for s in policies["monitor"]["Statement"] if "ecs:DeleteService" in s["Action"]]
    assert monitor_ecs == [[f"arn:aws:ecs:us-east-1:123456789012:service/echo-cluster/{APP}Service"]]
    assert "ecr:" not in json.dumps(policies["instance"]), "the image is on Docker Hub: no ECR access at all"
    profile = iam.get_instance_profile(InstanceProfileName=f"{APP}-instance")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [f"{APP}-instance"]
    undo_account(ctx)
    assert not {r["RoleName"] for r in iam.list_roles()["Roles"]} & names


def test_setup_creates_everything(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    setup_account(ctx)
    assert setup(ctx) == 0
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=f"{APP}Queue")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "600"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(f"{APP}DeadMessages") and int(redrive["maxReceiveCount"]) == 3
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"ds:app": APP}
    ecs = boto3.client("ecs", region_name=REGION)
    assert ecs.describe_clusters(clusters=["echo-cluster"])["clusters"][0]["status"] == "ACTIVE"
    [definition] = task_definitions()
    container = definition["containerDefinitions"][0]
    assert definition["taskRoleArn"].endswith(f"role/{APP}-task")
    assert container["image"] == ECHO_IMAGE  # by digest (test_pinned_image.py: how a tag is pinned)
    assert (container["memory"], container["cpu"], container.get("privileged")) == (1900, 1024, False)
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["logConfiguration"]["options"]["awslogs-group"] == f"{APP}_perInstance"  # DS's group
    env = {e["name"]: e["value"] for e in container["environment"]}
    settings = WorkerSettings.from_env(env)  # the worker can read what setup wrote
    assert (settings.queue_url, settings.bucket, settings.visibility_timeout) == (url, "echo-bucket", 600)
    assert env["ECHO_MODE"] == "loud"  # the tool's own config key reaches the worker
    assert settings.job_timeout_seconds == 0  # JOB_TIMEOUT = None: no limit
    [service] = ecs.describe_services(cluster="echo-cluster", services=[f"{APP}Service"])["services"]
    assert service["desiredCount"] == 0 and service["taskDefinition"] == definition["taskDefinitionArn"]


def test_setup_twice_changes_nothing_and_says_so(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    setup_account(ctx)
    setup(ctx)
    first = output(ctx)
    again = make_ctx(tmp_path)
    setup(again)
    assert "created" in first
    image, *lines = output(again).splitlines()
    assert image == f"image {ECHO_IMAGE}: {ECHO_IMAGE} (config.py names it by digest)"
    assert len(lines) == 5 and all("unchanged" in line for line in lines), lines
    assert len(task_definitions()) == 1


def test_setup_applies_a_changed_config(aws: None, tmp_path: Path) -> None:
    setup_account(make_ctx(tmp_path))
    setup(make_ctx(tmp_path))
    changed = make_ctx(tmp_path, SQS_MESSAGE_VISIBILITY="900", MEMORY="3000", JOB_TIMEOUT="1800")
    setup(changed)
    text = output(changed)
    assert "updated VisibilityTimeout" in text and "registered revision 2" in text
    ecs = boto3.client("ecs", region_name=REGION)
    [service] = ecs.describe_services(cluster="echo-cluster", services=[f"{APP}Service"])["services"]
    assert service["taskDefinition"].endswith(":2")
    [container] = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"][
        "containerDefinitions"
    ]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert WorkerSettings.from_env(env).job_timeout_seconds == 1800  # config.py's JOB_TIMEOUT reaches the worker


def test_privileged_only_for_fuse(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, tool=spec(needs_fuse=True))
    setup_account(ctx)
    setup(ctx)
    assert task_definitions()[0]["containerDefinitions"][0]["privileged"] is True


def test_a_gpu_tool_asks_ecs_for_its_gpus_and_a_cpu_tool_for_none(aws: None, tmp_path: Path) -> None:
    setup_account(make_ctx(tmp_path))
    setup(make_ctx(tmp_path))
    assert "resourceRequirements" not in task_definitions()[0]["containerDefinitions"][0]
    gpu = make_ctx(tmp_path, tool=spec(gpus=2))
    setup(gpu)
    assert "registered revision 2" in output(gpu)
    newest = max(task_definitions(), key=lambda d: d["revision"])
    assert newest["containerDefinitions"][0]["resourceRequirements"] == [{"type": "GPU", "value": "2"}]
    again = make_ctx(tmp_path, tool=spec(gpus=2))
    setup(again)
    assert "unchanged (revision 2)" in output(again)  # what ECS holds is compared as it was asked for


def test_local_containers_get_docker_gpus_only_for_a_gpu_tool(aws: None, tmp_path: Path) -> None:
    """`--docker` mirrors the registered task definition: `--gpus N` (a device request) only when N > 0."""
    setup_account(make_ctx(tmp_path))
    cpu = make_ctx(tmp_path)
    setup(cpu)
    assert "device_requests" not in run_options(cpu, "http://127.0.0.1:1")
    gpu = make_ctx(tmp_path, tool=spec(gpus=2))
    setup(gpu)
    assert run_options(gpu, "http://127.0.0.1:1")["device_requests"] == [{"count": 2, "capabilities": [["gpu"]]}]


def test_no_credentials_in_task_definition(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY123456", "AWS_SECRET_ACCESS_KEY": "s3cr3t/EXAMPLE+secret+key"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    ctx = make_ctx(tmp_path)
    setup_account(ctx)
    setup(ctx)
    text = json.dumps(task_definitions(), default=str)
    assert not any(v in text for v in secrets.values())
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text


def test_setup_without_account_roles_creates_nothing(aws: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="setupAccount"):
        setup(make_ctx(tmp_path))
    assert boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", []) == []
    assert boto3.client("ecs", region_name=REGION).list_clusters()["clusterArns"] == []


def test_cli_setup(aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(write_config(tmp_path)), "--spec", str(write_spec(tmp_path))]
    assert main([*args, "setupAccount"]) == 0
    assert main([*args, "setup"]) == 0
    assert "service DistributedEchoService: created" in capsys.readouterr().out


def test_print_policy_prints_the_commands_policy_and_creates_nothing(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(write_config(tmp_path)), "--spec", str(write_spec(tmp_path))]
    assert main([*args, "setupAccount", "--print-policy"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == user_policy(make_ctx(tmp_path))
    assert boto3.client("iam").list_roles()["Roles"] == []
    # Only this app's resources, or what IAM cannot scope by resource (then by tag or cluster, or a read). RunInstances
    # names the image, subnet... too, unscoped, but launches nothing without its tag-scoped instance/* statement.
    for statement in printed["Statement"]:
        for resource in statement["Resource"]:
            if statement["Action"] in (["ec2:RunInstances"], ["ec2:CreateFleet"]):
                assert resource in [*LAUNCH_RESOURCES, LAUNCH_TEMPLATES] or "Condition" in statement, statement
                continue
            named = APP in resource or "echo" in resource or "aws/service" in resource
            assert named or resource == "*" or "Condition" in statement, statement  # else scoped by tag or cluster
        if statement["Resource"] == ["*"] and "Condition" not in statement:
            assert all(
                a.split(":")[1].startswith(("Describe", "List", "Register", "Deregister"))
                or a == "servicequotas:GetServiceQuota"  # a read IAM cannot scope (startCluster's GPU spot quota)
                for a in statement["Action"]
            )


def test_cli_bad_config_is_a_clear_error(aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, EBS_VOL_SIZE="5")
    assert main(["--config", str(config), "--spec", str(write_spec(tmp_path)), "setup"]) == 2
    err = capsys.readouterr().err
    assert "EBS_VOL_SIZE = 5" in err and "at least 22" in err
    assert boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", []) == []


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("setup", "submitJob", "startCluster", "monitor")), out


def test_undo_account_removes_the_fleet_role_an_earlier_version_made(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    setup_account(ctx)
    iam = boto3.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "spotfleet.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName=f"{APP}-fleet", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName=f"{APP}-fleet",
        PolicyName="ds-least-privilege",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["ec2:RunInstances"], "Resource": ["*"]}],
            }
        ),
    )
    undo_account(ctx)
    assert not {r["RoleName"] for r in iam.list_roles()["Roles"]} & {
        f"{APP}-{k}" for k in ("instance", "fleet", "task", "monitor")
    }
    assert f"role {APP}-fleet: deleted" in output(ctx)
