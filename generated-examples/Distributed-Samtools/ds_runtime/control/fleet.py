"""The run's spot fleet as `monitor` sees it: asked-for capacity, machines and whether each runs a job.

A machine is busy when its ECS container instance runs or starts a task; one not yet
registered with ECS (still booting) runs nothing. bench/simulate_run.py plays the
same interface with simulated machines.

The ECS service would restart a worker task that exits on an empty queue, so that an
idle machine would always show a task. Hence `hold_workers`: once no job waits, the
service wants no task; ECS then stops only tasks without scale-in protection, which a
worker sets while it holds a job (worker/protection.py), and machines whose tasks are
all gone are idle. When jobs wait again, the service wants its tasks back.

On-demand machines (the fallback, ON_DEMAND_AFTER_INTERRUPTIONS) are part of the fleet
as monitor sees it: the asked-for capacity is the spot target plus the on-demand machines
running, `machines` lists both, and `resize` releases either kind, lowering the spot
target by what the on-demand machines kept still cover. They are started from the spot
fleet's own launch specifications (as DescribeSpotFleetRequests returns them: image,
user data, instance profile, network, disks, tags) with the tag ds:capacity=on-demand.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

from botocore.exceptions import ClientError

from ..outcomes import default_prefix, interrupted_since, outcome_keys
from .cluster import fleet_errors
from .context import Context, error_code
from .resources import ON_DEMAND_TAG, on_demand_filters
from .run_record import Plan
from .scalein import Machine

ECS_DESCRIBE_LIMIT = 100  # container instances per DescribeContainerInstances call
# Error events of a spot fleet that mean spot capacity is short (the others mean a wrong request).
CAPACITY_EVENTS = ("allLaunchSpecsTemporarilyBlacklisted", "spotInstanceCountLimitExceeded")
# RunInstances refusals that another launch specification (type, zone) may not meet.
CAPACITY_CODES = ("InsufficientInstanceCapacity", "Unsupported", "InstanceLimitExceeded", "VcpuLimitExceeded")
# What a spot launch specification and RunInstances share, under the same names.
RUN_KEYS = (
    "ImageId",
    "InstanceType",
    "KeyName",
    "EbsOptimized",
    "IamInstanceProfile",
    "BlockDeviceMappings",
    "Monitoring",
    "NetworkInterfaces",
    "Placement",
    "KernelId",
    "RamdiskId",
    "SubnetId",
)


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
        """What the spot fleet reports about missing spot capacity, in words; '' if nothing."""
        ...

    def start_on_demand(self, count: int) -> int:
        """Start up to `count` on-demand machines and ask the spot fleet for as many fewer; how many started."""
        ...


def spot_target_after(target: int, on_demand: Sequence[str], release: Sequence[str]) -> int:
    """The spot target that makes `target` machines with the on-demand ones not released."""
    return max(0, target - len([i for i in on_demand if i not in release]))


def on_demand_request(spec: dict[str, Any], count: int, tags: dict[str, str]) -> dict[str, Any]:
    """RunInstances arguments for `count` machines like those of one spot launch specification.

    `tags` (the run's ds:app and ds:run) are added to the specification's instance tags
    (its Name among them), with ds:capacity=on-demand.
    """
    request = {k: copy.deepcopy(spec[k]) for k in RUN_KEYS if k in spec}
    groups = [g["GroupId"] for g in spec.get("SecurityGroups", []) if g.get("GroupId")]
    if groups and "NetworkInterfaces" not in request:  # EC2 refuses both
        request["SecurityGroupIds"] = groups
    if spec.get("UserData"):  # base64 in the fleet; boto3 encodes RunInstances' UserData itself
        request["UserData"] = base64.b64decode(spec["UserData"]).decode()
    named = {
        t["Key"]: t["Value"]
        for ts in spec.get("TagSpecifications", [])
        if ts.get("ResourceType") == "instance"
        for t in ts.get("Tags", [])
    }
    named.update(tags)
    named[ON_DEMAND_TAG["Key"]] = ON_DEMAND_TAG["Value"]
    tag_list = [{"Key": k, "Value": v} for k, v in named.items()]
    request["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tag_list}]
    return {**request, "MinCount": 1, "MaxCount": count}


class SpotFleet:
    def __init__(self, ctx: Context, plan: Plan):
        self.ctx, self.plan = ctx, plan

    def _request(self) -> dict[str, Any] | None:
        """The live spot fleet request's configuration, None if the fleet is gone."""
        try:
            found = self.ctx.client("ec2").describe_spot_fleet_requests(SpotFleetRequestIds=[self.plan.fleet_id])
        except ClientError as exc:
            if "NotFound" in error_code(exc) or "NotExist" in error_code(exc):
                return None
            raise
        for config in found["SpotFleetRequestConfigs"]:
            if config["SpotFleetRequestState"] in ("submitted", "active", "modifying"):
                return config["SpotFleetRequestConfig"]
        return None

    def _on_demand(self) -> list[str]:
        """The run's on-demand machines starting or running (none is looked for while the fallback is off)."""
        if not self.plan.on_demand_after:
            return []
        pages = (
            self.ctx.client("ec2")
            .get_paginator("describe_instances")
            .paginate(Filters=on_demand_filters(self.plan, ("pending", "running")))
        )
        return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def _set_spot_target(self, target: int) -> None:
        # noTermination: AWS never picks a machine to stop (it could be in the middle of a job).
        self.ctx.client("ec2").modify_spot_fleet_request(
            SpotFleetRequestId=self.plan.fleet_id,
            TargetCapacity=target,
            ExcessCapacityTerminationPolicy="noTermination",
        )

    def target(self) -> int | None:
        request = self._request()
        return None if request is None else int(request["TargetCapacity"]) + len(self._on_demand())

    def machines(self) -> list[Machine]:
        ec2, ids, token = self.ctx.client("ec2"), [], ""
        while True:
            page = ec2.describe_spot_fleet_instances(
                SpotFleetRequestId=self.plan.fleet_id, **({"NextToken": token} if token else {})
            )
            ids += [i["InstanceId"] for i in page["ActiveInstances"]]
            token = page.get("NextToken", "")
            if not token:
                break
        ids += self._on_demand()
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

    def resize(self, target: int, release: Sequence[str] = ()) -> None:
        # Lower the target first, or a `maintain` fleet replaces what is terminated.
        self._set_spot_target(spot_target_after(target, self._on_demand(), release))
        if release:
            self.ctx.client("ec2").terminate_instances(InstanceIds=list(release))

    def interruptions(self) -> int:
        # Outcome records, not EC2: they outlive a monitor restart and EC2's hour of memory of ended machines.
        since = datetime.fromtimestamp(self.plan.start_time_ms / 1000, timezone.utc)
        keys = outcome_keys(self.ctx.client("s3"), self.plan.bucket, default_prefix(self.plan.app_name))
        return interrupted_since(keys, since)

    def capacity_error(self) -> str:
        since = datetime.fromtimestamp(self.plan.start_time_ms / 1000, timezone.utc)
        found = fleet_errors(self.ctx, self.plan.fleet_id, since)
        return "; ".join(words for sub, words in found if sub in CAPACITY_EVENTS or "capacity" in words.lower())

    def start_on_demand(self, count: int) -> int:
        request = self._request()
        if request is None or count <= 0:
            return 0
        spot_target = int(request["TargetCapacity"])
        count = min(count, spot_target)
        # Spot's target drops first, so spot and on-demand together never exceed what was asked for.
        self._set_spot_target(spot_target - count)
        started = 0
        try:
            for spec in request["LaunchSpecifications"]:  # MACHINE_TYPE's order, each type per subnet
                if started >= count:
                    break
                args = on_demand_request(spec, count - started, self.plan.tags)
                try:
                    started += len(self.ctx.client("ec2").run_instances(**args)["Instances"])
                except ClientError as exc:
                    if error_code(exc) not in CAPACITY_CODES:
                        raise
        finally:
            if started < count:  # give spot back what on-demand could not cover
                self._set_spot_target(spot_target - started)
        return started
