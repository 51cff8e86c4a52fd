"""The on-demand fallback: after ON_DEMAND_AFTER_INTERRUPTIONS interrupted jobs, or a spot capacity error,
monitor starts on-demand machines for the missing spot ones, never more than asked for; they are
released idle like spot machines and terminated at teardown.

moto has no DescribeSpotFleetRequestHistory (fleet_errors reads nothing there), so the capacity
error is given through the Fleet seam: a SpotFleet whose capacity_error() reports one. moto keeps
no NetworkInterfaces or BlockDeviceMappings in a fleet's launch specifications, so the request
built from a full, AWS-shaped specification is checked on its own (test_on_demand_request_...).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from ds_runtime.control.account import setup_account
from ds_runtime.control.cleanup import cleanup, find
from ds_runtime.control.cluster import start_cluster
from ds_runtime.control.fleet import SpotFleet, on_demand_request
from ds_runtime.control.monitor import Monitor
from ds_runtime.control.run_record import Plan, load_monitor_file
from ds_runtime.control.setup import setup
from ds_runtime.control.submit import submit
from ds_runtime.control.teardown import PLAN_ENV, Teardown, lambda_handler
from ds_runtime.outcomes import Outcome, default_prefix, write_outcome

from ._control_support import APP, REGION, make_ctx, output, write_fleet_file, write_job_file

QUEUE = f"{APP}Queue"
ON_DEMAND = {"Name": "tag:ds:capacity", "Values": ["on-demand"]}


def start_run(folder: Path, **overrides: str) -> Path:
    """setupAccount, setup, 12 jobs submitted, a fleet of 2 spot machines; the monitor file."""
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="echo-bucket")
    ctx = make_ctx(folder, **overrides)
    setup_account(ctx)
    setup(ctx)
    submit(ctx, write_job_file(folder, 12))
    start_cluster(ctx, write_fleet_file(folder), wait_seconds=5, poll_seconds=0.01)
    return folder / "files" / f"{APP}SpotFleetRequestId.json"


@pytest.fixture
def fallback(tmp_path: Path) -> Iterator[Path]:
    """A run started with ON_DEMAND_AFTER_INTERRUPTIONS = 2."""
    with mock_aws():
        yield start_run(tmp_path, ON_DEMAND_AFTER_INTERRUPTIONS="2")


def ec2():
    return boto3.client("ec2", region_name=REGION)


def spot_target(plan: Plan) -> int:
    [config] = ec2().describe_spot_fleet_requests(SpotFleetRequestIds=[plan.fleet_id])["SpotFleetRequestConfigs"]
    return config["SpotFleetRequestConfig"]["TargetCapacity"]


def spot_machines(plan: Plan) -> list[str]:
    found = ec2().describe_spot_fleet_instances(SpotFleetRequestId=plan.fleet_id)["ActiveInstances"]
    return sorted(i["InstanceId"] for i in found)


def on_demand_machines(*states: str) -> list[dict]:
    filters = [ON_DEMAND, {"Name": "instance-state-name", "Values": list(states or ("pending", "running"))}]
    return [i for r in ec2().describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]


def interrupt(plan: Plan, job: str, when: datetime | None = None) -> None:
    """An interrupted attempt, as the worker records it."""
    when = when or datetime.now(timezone.utc)
    stamp = when.isoformat(timespec="milliseconds")
    record = Outcome(job, 1, "interrupted", stamp, stamp, 30.0, "host", interruptions=1)
    write_outcome(boto3.client("s3", region_name=REGION), plan.bucket, default_prefix(APP), record)


def lose_a_spot_machine(plan: Plan) -> str:
    """A spot machine goes (moto's fleet does not replace it, as a fleet short of spot capacity would not)."""
    lost = spot_machines(plan)[0]
    ec2().terminate_instances(InstanceIds=[lost])
    return lost


def test_fallback_off_never_starts_an_on_demand_machine(tmp_path: Path) -> None:
    with mock_aws():
        plan = load_monitor_file(start_run(tmp_path))
        assert plan.on_demand_after == 0
        for job in ("a", "b", "c"):
            interrupt(plan, job)
        lose_a_spot_machine(plan)
        ctx = make_ctx(tmp_path)
        assert Monitor(ctx, plan, interval=0).poll() is False
        assert on_demand_machines() == [] and spot_target(plan) == 2
        assert "ON-DEMAND" not in output(ctx)


def test_interruptions_start_exactly_the_missing_machines_like_the_fleets(fallback: Path) -> None:
    plan = load_monitor_file(fallback)
    ctx = make_ctx(fallback.parent.parent)
    watcher = Monitor(ctx, plan, interval=0)
    interrupt(plan, "old", datetime.now(timezone.utc) - timedelta(days=1))  # an earlier run's: not counted
    interrupt(plan, "a")
    lost = lose_a_spot_machine(plan)
    assert watcher.poll() is False
    assert on_demand_machines() == [] and spot_target(plan) == 2  # 1 interruption < 2
    interrupt(plan, "b")
    assert watcher.poll() is False
    [machine] = on_demand_machines()
    assert spot_target(plan) == 1  # spot 1 + on-demand 1 = the 2 asked for
    assert "ON-DEMAND: 1 on-demand machine(s) started for 1 missing spot machine(s) (2 interrupted job(s)" in output(
        ctx
    )
    # The fleet's launch specification: image, type (MACHINE_TYPE's first), key, profile, user data, tags.
    [like] = [i for r in ec2().describe_instances(InstanceIds=[lost])["Reservations"] for i in r["Instances"]]
    assert (machine["ImageId"], machine["InstanceType"], machine["KeyName"]) == ("ami-fad25980", "m5.large", "my-key")
    assert machine["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/{APP}-instance")
    tags = {t["Key"]: t["Value"] for t in machine["Tags"]}
    assert tags == {"ds:app": APP, "ds:run": plan.run_id, "Name": f"{APP}Worker", "ds:capacity": "on-demand"}
    assert {t["Key"]: t["Value"] for t in like["Tags"]}.items() < tags.items()

    def user_data(instance: str) -> str:
        found = ec2().describe_instance_attribute(InstanceId=instance, Attribute="userData")["UserData"]["Value"]
        return base64.b64decode(found).decode()

    assert "ECS_CLUSTER=echo-cluster" in user_data(machine["InstanceId"])
    # The capacity is whole again: nothing more is started, and the monitor counts both kinds.
    assert watcher.poll() is False
    assert len(on_demand_machines()) == 1 and spot_target(plan) == 1
    assert SpotFleet(ctx, plan).target() == 2 and len(SpotFleet(ctx, plan).machines()) == 2


class ShortOfSpot(SpotFleet):
    """The spot fleet's history says it cannot find capacity (moto keeps no fleet history)."""

    def capacity_error(self) -> str:
        return "allLaunchSpecsTemporarilyBlacklisted: There is no Spot capacity available that matches your request."

    def interruptions(self) -> int:
        raise AssertionError("a capacity error is reason enough: the records need not be read")


def test_a_capacity_error_starts_on_demand_machines_without_interruptions(fallback: Path) -> None:
    plan = load_monitor_file(fallback)
    ctx = make_ctx(fallback.parent.parent)
    lose_a_spot_machine(plan)
    assert Monitor(ctx, plan, interval=0, fleet=ShortOfSpot(ctx, plan)).poll() is False
    assert len(on_demand_machines()) == 1 and spot_target(plan) == 1
    assert "(allLaunchSpecsTemporarilyBlacklisted: There is no Spot capacity" in output(ctx)


def test_no_fallback_while_the_fleet_is_whole_or_nothing_waits(fallback: Path) -> None:
    plan = load_monitor_file(fallback)
    ctx = make_ctx(fallback.parent.parent)
    assert Monitor(ctx, plan, interval=0, fleet=ShortOfSpot(ctx, plan)).poll() is False  # 2 of 2 running
    assert on_demand_machines() == []
    lose_a_spot_machine(plan)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    while sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        pass  # every job in flight, none waits: scale-in's turn, not the fallback's
    assert Monitor(ctx, plan, interval=0, fleet=ShortOfSpot(ctx, plan)).poll() is False
    assert on_demand_machines() == []


def test_teardown_terminates_the_on_demand_machines(fallback: Path) -> None:
    plan = load_monitor_file(fallback)
    ctx = make_ctx(fallback.parent.parent)
    lose_a_spot_machine(plan)
    assert SpotFleet(ctx, plan).start_on_demand(1) == 1
    [machine] = on_demand_machines()
    steps = {s.name: s for s in Teardown(plan, ctx.session).run()}
    assert steps["terminate on-demand machines"].ok and steps["terminate on-demand machines"].detail == "1 terminating"
    assert on_demand_machines() == []
    assert [i["InstanceId"] for i in on_demand_machines("terminated")] == [machine["InstanceId"]]
    again = {s.name: s for s in Teardown(plan, ctx.session).run()}
    assert again["terminate on-demand machines"].detail == "none running"


def test_the_auto_monitor_terminates_them_too(fallback: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lambda's teardown, with the plan startCluster would give it (AUTO_MONITOR)."""
    plan = load_monitor_file(fallback)
    assert SpotFleet(make_ctx(fallback.parent.parent), plan).start_on_demand(1) == 1
    monkeypatch.setenv(PLAN_ENV, json.dumps(asdict(plan)))
    result = lambda_handler({}, None)
    assert result["ok"] and "ok  terminate on-demand machines: 1 terminating" in result["steps"], result
    assert on_demand_machines() == []


def test_cleanup_finds_and_terminates_the_on_demand_machines(fallback: Path) -> None:
    """A monitor stopped half way: cleanup takes the on-demand machines by their ds:app tag."""
    plan = load_monitor_file(fallback)
    ctx = make_ctx(fallback.parent.parent)
    assert SpotFleet(ctx, plan).start_on_demand(1) == 1
    [machine] = on_demand_machines()
    assert ("machine", machine["InstanceId"]) in {(f.kind, f.name) for f in find(ctx, fallback.parent).items}
    assert cleanup(ctx, yes=True, files=fallback.parent) == 0, output(ctx)
    assert on_demand_machines() == []
    assert "terminate on-demand machines" not in output(ctx)  # cleanup's own step takes every machine


def test_an_idle_on_demand_machine_is_released_like_a_spot_one(fallback: Path) -> None:
    """A busy spot machine and an idle on-demand one; nothing waits: only the on-demand one goes."""
    plan = load_monitor_file(fallback)
    ctx = make_ctx(fallback.parent.parent)
    lose_a_spot_machine(plan)
    assert SpotFleet(ctx, plan).start_on_demand(1) == 1
    [busy], [idle] = spot_machines(plan), [i["InstanceId"] for i in on_demand_machines()]
    ecs = boto3.client("ecs", region_name=REGION)
    arns = {
        i: ecs.register_container_instance(
            cluster="echo-cluster", instanceIdentityDocument=json.dumps({"instanceId": i})
        )["containerInstance"]["containerInstanceArn"]
        for i in (busy, idle)
    }
    ecs.start_task(cluster="echo-cluster", taskDefinition=f"{APP}Task", containerInstances=[arns[busy]])
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    taken = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        taken += messages
    for message in taken[1:]:  # one job still runs (on the spot machine), none waits
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    now = [1000.0]
    watcher = Monitor(ctx, plan, interval=0, clock=lambda: now[0])
    assert watcher.poll() is False and len(on_demand_machines()) == 1  # idle, but within the grace
    now[0] += 121
    assert watcher.poll() is False
    assert on_demand_machines() == [] and spot_machines(plan) == [busy]
    assert spot_target(plan) == 1  # the busy spot machine alone is asked for
    assert "-> 1 (nothing waiting; 1 idle machine(s) released)" in output(ctx)


def test_on_demand_request_keeps_the_launch_specification() -> None:
    """What DescribeSpotFleetRequests returns on AWS, as RunInstances wants it."""
    spec = {
        "ImageId": "ami-1",
        "InstanceType": "m5.xlarge",
        "KeyName": "k",
        "IamInstanceProfile": {"Arn": "arn:aws:iam::1:instance-profile/p"},
        "UserData": base64.b64encode(b"#!/bin/bash\necho hi\n").decode(),
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30, "VolumeType": "gp3"}}],
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-1", "Groups": ["sg-1"]}],
        "SecurityGroups": [{"GroupId": "sg-1"}],
        "SpotPrice": "0.1",
        "WeightedCapacity": 1.0,
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "XWorker"}]}],
    }
    request = on_demand_request(spec, 3, {"ds:app": "X", "ds:run": "r1"})
    assert request == {
        "ImageId": "ami-1",
        "InstanceType": "m5.xlarge",
        "KeyName": "k",
        "IamInstanceProfile": {"Arn": "arn:aws:iam::1:instance-profile/p"},
        "UserData": "#!/bin/bash\necho hi\n",  # boto3 base64-encodes it again
        "BlockDeviceMappings": spec["BlockDeviceMappings"],
        "NetworkInterfaces": spec["NetworkInterfaces"],  # the groups ride on the interface, not beside it
        "TagSpecifications": [
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Name", "Value": "XWorker"},
                    {"Key": "ds:app", "Value": "X"},
                    {"Key": "ds:run", "Value": "r1"},
                    {"Key": "ds:capacity", "Value": "on-demand"},
                ],
            }
        ],
        "MinCount": 1,
        "MaxCount": 3,
    }
    plain = on_demand_request({"ImageId": "ami-1", "SecurityGroups": [{"GroupId": "sg-2"}]}, 1, {})
    assert plain["SecurityGroupIds"] == ["sg-2"]
