"""The run's EC2 Fleet as `monitor` sees it: asked-for capacity, machines and whether each runs a job.

A machine is busy when its ECS container instance runs or starts a task; one not yet
registered with ECS (still booting) runs nothing. bench/simulate_run.py plays the
same interface with simulated machines, and the same capacity rules (after_resize, after_fallback).

The ECS service would restart a worker task that exits on an empty queue, so that an
idle machine would always show a task. Hence `hold_workers`: once no job waits, the
service wants no task; ECS then stops only tasks without scale-in protection, which a
worker sets while it holds a job (worker/protection.py), and machines whose tasks are
all gone are idle. When jobs wait again, the service wants its tasks back.

On-demand machines (the fallback, ON_DEMAND_AFTER_INTERRUPTIONS) are the fleet's own: its
TargetCapacitySpecification asks for TotalTargetCapacity machines, OnDemandTargetCapacity of
them on-demand and the rest spot, all from the run's launch template. The fallback raises the
on-demand part (ModifyFleet) by the spot machines missing, the total unchanged, and the fleet
(`maintain`) starts them; scale-in lowers the total, and the on-demand part by the on-demand
machines it releases. EC2 tells the two kinds apart (DescribeInstances' InstanceLifecycle).

Runs started by an earlier version asked for a Spot Fleet: spot_fleet.py watches those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from botocore.exceptions import ClientError

from ...outcomes import default_prefix, interrupted_since, outcome_keys
from ..common.context import AWS_ERRORS, Context
from ..common.run_record import RunRecord
from ..resources.catalogue import LIVE_FLEET_STATES, gone
from .fleet_mapping import target_capacity
from .scalein import Machine

ECS_DESCRIBE_LIMIT = 100  # container instances per DescribeContainerInstances call
DESCRIBE_INSTANCES_LIMIT = 1000  # instance ids per DescribeInstances call
# Error events of a fleet that mean spot capacity is short (the others mean a wrong request).
CAPACITY_EVENTS = ("allLaunchSpecsTemporarilyBlacklisted", "spotInstanceCountLimitExceeded")
# Fleet history events that mean the request itself is wrong, in plain words.
CONFIG_ERRORS = {
    "iamFleetRoleInvalid": "the fleet may not launch or terminate machines (its service-linked role "
    "AWSServiceRoleForEC2Fleet: run setupAccount)",
    "spotFleetRequestConfigurationInvalid": "AWS refused the request's configuration",
    "launchSpecUnusable": "a launch specification cannot be used (image, subnet, key or security group)",
    "allLaunchSpecsTemporarilyBlacklisted": "no launch specification could start a machine",
    "spotInstanceCountLimitExceeded": "your account's spot instance limit is reached; ask AWS for more",
}


def fleet_errors(ctx: Context, fleet_id: str, since: datetime) -> list[tuple[str, str]]:
    """(event subtype, plain words) for the fleet's error events; [] if the history cannot be read."""
    try:
        events = ctx.client("ec2").describe_fleet_history(FleetId=fleet_id, StartTime=since, EventType="service-error")[
            "HistoryRecords"
        ]
    except (*AWS_ERRORS, NotImplementedError):  # moto answers HTTP 500 (ResponseParserError) or raises
        return []
    found = []
    for event in events:
        info = event.get("EventInformation", {})
        sub = info.get("EventSubType", "")
        found.append((sub, f"{CONFIG_ERRORS.get(sub, sub)}: {info.get('EventDescription', '')}"))
    return found


class Fleet(Protocol):
    def target(self) -> int | None:
        """The asked-for capacity, None if the fleet is gone."""
        ...

    def machines(self) -> list[Machine]:
        """The fleet's running machines."""
        ...

    def resize(self, target: int, release: Sequence[str] = ()) -> None:
        """Ask for `target` machines (more or fewer) without stopping any, then terminate exactly `release`."""

    def hold_workers(self, machines: int, nothing_waits: bool) -> None:
        """While nothing waits, want no worker task beyond those holding a job; else a full set for `machines`."""

    def interruptions(self) -> int:
        """Jobs of this run interrupted so far (spot interruptions, as the workers recorded them)."""
        ...

    def capacity_error(self) -> str:
        """What the fleet reports about missing spot capacity, in words; '' if nothing."""
        ...

    def start_on_demand(self, count: int) -> int:
        """Ask for up to `count` more on-demand machines in place of missing spot ones, the total unchanged;
        how many more were asked for."""
        ...


@dataclass(frozen=True)
class Capacity:
    """An EC2 Fleet's asked-for capacity: `total` machines, `on_demand` of them on-demand, the rest spot."""

    total: int
    on_demand: int = 0


def after_resize(capacity: Capacity, target: int, released_on_demand: int) -> Capacity:
    """`target` machines; the on-demand part loses the on-demand machines released, so the fleet does not
    start them again, and never exceeds the total."""
    return Capacity(target, max(0, min(target, capacity.on_demand - released_on_demand)))


def after_fallback(capacity: Capacity, spot_running: int, count: int) -> Capacity:
    """Up to `count` more on-demand machines, for spot machines missing from the total.

    The on-demand part grows to what the spot machines running leave of the total (never past
    it, never by more than `count`): asked again before the fleet has started them, it asks
    for nothing more.
    """
    wanted = min(capacity.total - spot_running, capacity.on_demand + count)
    return Capacity(capacity.total, max(capacity.on_demand, wanted))


class RunMachines:
    """What every fleet of a run shares: its machines' ECS tasks, the worker service, the outcome records."""

    def __init__(self, ctx: Context, plan: RunRecord):
        self.ctx, self.plan = ctx, plan

    def _machines(self, ids: list[str]) -> list[Machine]:
        tasks = self._tasks_per_instance()
        return [Machine(i, tasks.get(i, 0) > 0) for i in sorted(ids)]

    def _tasks_per_instance(self) -> dict[str, int]:
        """Running plus starting tasks per EC2 instance of the run's ECS cluster."""
        ecs = self.ctx.client("ecs")
        arns = [
            arn
            for page in ecs.get_paginator("list_container_instances").paginate(cluster=self.plan.cluster)
            for arn in page["containerInstanceArns"]
        ]
        tasks = {}
        for start in range(0, len(arns), ECS_DESCRIBE_LIMIT):
            found = ecs.describe_container_instances(
                cluster=self.plan.cluster, containerInstances=arns[start : start + ECS_DESCRIBE_LIMIT]
            )
            for ci in found["containerInstances"]:
                tasks[ci["ec2InstanceId"]] = ci.get("runningTasksCount", 0) + ci.get("pendingTasksCount", 0)
        return tasks

    def hold_workers(self, machines: int, nothing_waits: bool) -> None:
        ecs, cluster, service = self.ctx.client("ecs"), self.plan.cluster, self.plan.service
        wanted = 0 if nothing_waits else machines * self.ctx.config.TASKS_PER_MACHINE
        found = ecs.describe_services(cluster=cluster, services=[service])["services"]
        if found and found[0]["status"] == "ACTIVE" and found[0]["desiredCount"] != wanted:
            ecs.update_service(cluster=cluster, service=service, desiredCount=wanted)

    def interruptions(self) -> int:
        # Outcome records, not EC2: they outlive a monitor restart and EC2's hour of memory of ended machines.
        since = datetime.fromtimestamp(self.plan.start_time_ms / 1000, timezone.utc)
        keys = outcome_keys(self.ctx.client("s3"), self.plan.bucket, default_prefix(self.plan.app_name))
        return interrupted_since(keys, since)

    def capacity_error(self) -> str:
        since = datetime.fromtimestamp(self.plan.start_time_ms / 1000, timezone.utc)
        found = fleet_errors(self.ctx, self.plan.fleet_id, since)
        return "; ".join(words for sub, words in found if sub in CAPACITY_EVENTS or "capacity" in words.lower())


class Ec2Fleet(RunMachines):
    def _fleet(self) -> dict[str, Any] | None:
        """The live fleet's description, None if it is gone."""
        try:
            found = self.ctx.client("ec2").describe_fleets(FleetIds=[self.plan.fleet_id])["Fleets"]
        except ClientError as exc:
            if gone(exc):
                return None
            raise
        return next((f for f in found if f["FleetState"] in LIVE_FLEET_STATES), None)

    @staticmethod
    def _capacity(fleet: dict[str, Any]) -> Capacity:
        spec = fleet["TargetCapacitySpecification"]
        return Capacity(int(spec["TotalTargetCapacity"]), int(spec.get("OnDemandTargetCapacity", 0)))

    def _set(self, capacity: Capacity) -> None:
        # no-termination: AWS never picks a machine to stop (it could be in the middle of a job).
        self.ctx.client("ec2").modify_fleet(
            FleetId=self.plan.fleet_id,
            TargetCapacitySpecification=target_capacity(capacity.total, capacity.on_demand),
            ExcessCapacityTerminationPolicy="no-termination",
        )

    def _instance_ids(self) -> list[str]:
        ec2, ids, token = self.ctx.client("ec2"), [], ""
        while True:
            page = ec2.describe_fleet_instances(FleetId=self.plan.fleet_id, **({"NextToken": token} if token else {}))
            ids += [i["InstanceId"] for i in page["ActiveInstances"]]
            token = page.get("NextToken", "")
            if not token:
                return ids

    def _on_demand(self, ids: Sequence[str]) -> set[str]:
        """Those of `ids` that are on-demand machines (EC2 marks spot ones with InstanceLifecycle 'spot')."""
        found: set[str] = set()
        for start in range(0, len(ids), DESCRIBE_INSTANCES_LIMIT):
            pages = (
                self.ctx.client("ec2")
                .get_paginator("describe_instances")
                .paginate(InstanceIds=list(ids[start : start + DESCRIBE_INSTANCES_LIMIT]))
            )
            found |= {
                i["InstanceId"]
                for page in pages
                for r in page["Reservations"]
                for i in r["Instances"]
                if i.get("InstanceLifecycle") != "spot"
            }
        return found

    def target(self) -> int | None:
        fleet = self._fleet()
        return None if fleet is None else self._capacity(fleet).total

    def machines(self) -> list[Machine]:
        return self._machines(self._instance_ids())

    def resize(self, target: int, release: Sequence[str] = ()) -> None:
        # Lower the target first, or a `maintain` fleet replaces what is terminated.
        fleet = self._fleet()
        if fleet is not None:
            old = self._capacity(fleet)
            released = len(self._on_demand(release)) if release and old.on_demand else 0
            new = after_resize(old, target, released)
            if new != old:
                self._set(new)
        if release:
            self.ctx.client("ec2").terminate_instances(InstanceIds=list(release))

    def start_on_demand(self, count: int) -> int:
        fleet = self._fleet()
        if fleet is None or count <= 0:
            return 0
        old = self._capacity(fleet)
        ids = self._instance_ids()
        new = after_fallback(old, len(ids) - len(self._on_demand(ids)), count)
        if new != old:
            self._set(new)
        return new.on_demand - old.on_demand
