"""The on-demand fallback: after ON_DEMAND_AFTER_INTERRUPTIONS interrupted jobs, or a spot capacity error,
monitor has the EC2 Fleet ask for on-demand machines in place of the missing spot ones (its on-demand
part grows, its total does not), never more than asked for; they are released idle like spot machines
and terminated with the fleet at teardown.

moto has no DescribeFleetHistory (fleet_errors reads nothing there), so the capacity error is given
through the Fleet seam: an Ec2Fleet whose capacity_error() reports one. moto's fleet (with the
emulator's ModifyFleet) starts what its parts lack, and replaces no machine lost, as a fleet short
of spot capacity would not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from ds_runtime.control.commands.cleanup import cleanup, find
from ds_runtime.control.commands.cluster import start_cluster
from ds_runtime.control.commands.monitor import Monitor
from ds_runtime.control.commands.setup import setup
from ds_runtime.control.commands.submit import submit
from ds_runtime.control.common.run_record import RunRecord, load_monitor_file
from ds_runtime.control.machines.ec2_fleet import Capacity, Ec2Fleet, after_fallback, after_resize
from ds_runtime.control.resources.account import setup_account
from ds_runtime.control.resources.teardown import PLAN_ENV, Teardown, lambda_handler
from ds_runtime.outcomes import Outcome, default_prefix, write_outcome

from ._control_support import (
    APP,
    REGION,
    fleet_capacity,
    fleet_instances,
    make_ctx,
    output,
    write_fleet_file,
    write_job_file,
)

QUEUE = f"{APP}Queue"


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


def machines(*states: str) -> list[dict]:
    """The app's machines in these states (default: starting or running)."""
    filters = [
        {"Name": "tag:ds:app", "Values": [APP]},
        {"Name": "instance-state-name", "Values": list(states or ("pending", "running"))},
    ]
    return [i for r in ec2().describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]


def spot_machines(plan: RunRecord) -> list[str]:
    spot = {i["InstanceId"] for i in machines() if i.get("InstanceLifecycle") == "spot"}
    return [i for i in fleet_instances(plan.fleet_id) if i in spot]


def on_demand_machines(*states: str) -> list[dict]:
    """EC2 marks spot machines (InstanceLifecycle); the others are on-demand."""
    return [i for i in machines(*states) if i.get("InstanceLifecycle") != "spot"]


def interrupt(plan: RunRecord, job: str, when: datetime | None = None) -> None:
    """An interrupted attempt, as the worker records it."""
    when = when or datetime.now(timezone.utc)
    stamp = when.isoformat(timespec="milliseconds")
    record = Outcome(job, 1, "interrupted", stamp, stamp, 30.0, "host", interruptions=1)
    write_outcome(boto3.client("s3", region_name=REGION), plan.bucket, default_prefix(APP), record)


def lose_a_spot_machine(plan: RunRecord) -> str:
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
        assert on_demand_machines() == [] and fleet_capacity(plan.fleet_id) == (2, 0)
        assert "ON-DEMAND" not in output(ctx)


def test_interruptions_have_the_fleet_start_exactly_the_missing_machines_on_demand(fallback: Path) -> None:
    plan = load_monitor_file(fallback)
    ctx = make_ctx(fallback.parent.parent)
    watcher = Monitor(ctx, plan, interval=0)
    interrupt(plan, "old", datetime.now(timezone.utc) - timedelta(days=1))  # an earlier run's: not counted
    interrupt(plan, "a")
    lost = lose_a_spot_machine(plan)
    assert watcher.poll() is False
    assert on_demand_machines() == [] and fleet_capacity(plan.fleet_id) == (2, 0)  # 1 interruption < 2
    interrupt(plan, "b")
    assert watcher.poll() is False
    [machine] = on_demand_machines()
    assert fleet_capacity(plan.fleet_id) == (2, 1)  # spot 1 + on-demand 1 = the 2 asked for
    assert (
        "ON-DEMAND: 1 on-demand machine(s) asked for in place of 1 missing spot machine(s) (2 interrupted job(s)"
        in output(ctx)
    )
    # The fleet's own machine, from the run's launch template: image, type (MACHINE_TYPE's first), tags.
    [like] = [i for r in ec2().describe_instances(InstanceIds=[lost])["Reservations"] for i in r["Instances"]]
    assert (machine["ImageId"], machine["InstanceType"]) == ("ami-fad25980", "m5.large")
    tags = {t["Key"]: t["Value"] for t in machine["Tags"]}
    assert tags == {"ds:app": APP, "ds:run": plan.run_id, "Name": f"{APP}Worker"}
    assert {t["Key"]: t["Value"] for t in like["Tags"]} == tags
    assert machine["InstanceId"] in fleet_instances(plan.fleet_id)
    # The capacity is whole again: nothing more is asked for, and the monitor counts both kinds.
    assert watcher.poll() is False
    assert len(on_demand_machines()) == 1 and fleet_capacity(plan.fleet_id) == (2, 1)
    assert Ec2Fleet(ctx, plan).target() == 2 and len(Ec2Fleet(ctx, plan).machines()) == 2


class ShortOfSpot(Ec2Fleet):
    """The fleet's history says it cannot find spot capacity (moto keeps no fleet history)."""

    def capacity_error(self) -> str:
        return "allLaunchSpecsTemporarilyBlacklisted: There is no Spot capacity available that matches your request."

    def interruptions(self) -> int:
        raise AssertionError("a capacity error is reason enough: the records need not be read")


def test_a_capacity_error_starts_on_demand_machines_without_interruptions(fallback: Path) -> None:
    plan = load_monitor_file(fallback)
    ctx = make_ctx(fallback.parent.parent)
    lose_a_spot_machine(plan)
    assert Monitor(ctx, plan, interval=0, fleet=ShortOfSpot(ctx, plan)).poll() is False
    assert len(on_demand_machines()) == 1 and fleet_capacity(plan.fleet_id) == (2, 1)
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


def test_teardown_deletes_the_fleet_with_its_on_demand_machines(fallback: Path) -> None:
    plan = load_monitor_file(fallback)
    ctx = make_ctx(fallback.parent.parent)
    lose_a_spot_machine(plan)
    assert Ec2Fleet(ctx, plan).start_on_demand(1) == 1
    [machine] = on_demand_machines()
    steps = {s.name: s for s in Teardown(plan, ctx.session).run()}
    assert steps["delete fleet"].ok and steps["delete fleet"].detail.endswith("deleted, its instances terminating")
    assert steps["terminate on-demand machines"].detail.startswith("none beside the fleet")
    assert machines() == []
    assert machine["InstanceId"] in [i["InstanceId"] for i in on_demand_machines("terminated")]
    again = {s.name: s for s in Teardown(plan, ctx.session).run()}
    assert again["delete fleet"].detail == f"{plan.fleet_id} already gone"


def test_the_auto_monitor_terminates_them_too(fallback: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lambda's teardown, with the plan startCluster would give it (AUTO_MONITOR)."""
    plan = load_monitor_file(fallback)
    lose_a_spot_machine(plan)
    assert Ec2Fleet(make_ctx(fallback.parent.parent), plan).start_on_demand(1) == 1
    monkeypatch.setenv(PLAN_ENV, json.dumps(asdict(plan)))
    result = lambda_handler({}, None)
    assert result["ok"] and f"ok  delete fleet: {plan.fleet_id} deleted, its instances terminating" in result["steps"]
    assert f"ok  delete launch template: {plan.launch_template} deleted" in result["steps"], result
    assert machines() == []


def test_cleanup_after_a_killed_monitor_finds_the_fleet_its_launch_template_and_machines(fallback: Path) -> None:
    """A monitor stopped half way: cleanup finds the fleet, its launch template and machines by the ds:app tag."""
    plan = load_monitor_file(fallback)
    ctx = make_ctx(fallback.parent.parent)
    lose_a_spot_machine(plan)
    assert Ec2Fleet(ctx, plan).start_on_demand(1) == 1
    [machine] = on_demand_machines()
    found = {(f.kind, f.name) for f in find(ctx, fallback.parent).items}
    assert {("fleet", plan.fleet_id), ("launch template", plan.launch_template)} <= found
    assert ("machine", machine["InstanceId"]) in found
    assert cleanup(ctx, yes=True, files=fallback.parent) == 0, output(ctx)
    assert machines() == []
    assert ec2().describe_launch_templates()["LaunchTemplates"] == []
    assert f"ok  delete fleet {plan.fleet_id}: {plan.fleet_id} deleted" in output(ctx)


def test_an_idle_on_demand_machine_is_released_like_a_spot_one(fallback: Path) -> None:
    """A busy spot machine and an idle on-demand one; nothing waits: only the on-demand one goes."""
    plan = load_monitor_file(fallback)
    ctx = make_ctx(fallback.parent.parent)
    lose_a_spot_machine(plan)
    assert Ec2Fleet(ctx, plan).start_on_demand(1) == 1
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
    # The busy spot machine alone is asked for: the on-demand part lost the machine released, so the fleet
    # does not start it again.
    assert fleet_capacity(plan.fleet_id) == (1, 0)
    assert "-> 1 (nothing waiting; 1 idle machine(s) released)" in output(ctx)


def test_the_capacity_rules() -> None:
    """The fallback grows the on-demand part by what spot lacks, once; scale-in takes back what it releases."""
    two = Capacity(2)
    assert after_fallback(two, spot_running=1, count=1) == Capacity(2, 1)
    assert after_fallback(Capacity(2, 1), spot_running=1, count=1) == Capacity(2, 1)  # not started yet: no more
    assert after_fallback(Capacity(4), spot_running=0, count=2) == Capacity(4, 2)  # never more than asked for
    assert after_fallback(Capacity(2, 1), spot_running=0, count=5) == Capacity(2, 2)  # never past the total
    assert after_resize(Capacity(3, 2), 2, released_on_demand=1) == Capacity(2, 1)
    assert after_resize(Capacity(3, 2), 1, released_on_demand=0) == Capacity(1, 1)  # never past the total
    assert after_resize(Capacity(2), 3, released_on_demand=0) == Capacity(3, 0)  # scale-out: spot
