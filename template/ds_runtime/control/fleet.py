"""The run's spot fleet as `monitor` sees it: asked-for capacity, machines and whether each runs a job.

A machine is busy when its ECS container instance runs or starts a task; one not yet
registered with ECS (still booting) runs nothing. bench/simulate_run.py plays the
same interface with simulated machines.

The ECS service would restart a worker task that exits on an empty queue, so that an
idle machine would always show a task. Hence `hold_workers`: once no job waits, the
service wants no task; ECS then stops only tasks without scale-in protection, which a
worker sets while it holds a job (worker/protection.py), and machines whose tasks are
all gone are idle. When jobs wait again, the service wants its tasks back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from botocore.exceptions import ClientError

from .context import Context, error_code
from .scalein import Machine
from .teardown import Plan

ECS_DESCRIBE_LIMIT = 100  # container instances per DescribeContainerInstances call


class Fleet(Protocol):
    def target(self) -> int | None:
        """The asked-for capacity, None if the fleet is gone."""
        ...

    def machines(self) -> list[Machine]:
        """The fleet's running machines."""
        ...

    def shrink(self, target: int, release: Sequence[str]) -> None:
        """Ask for `target` machines without stopping any, then terminate exactly `release`."""

    def hold_workers(self, machines: int, nothing_waits: bool) -> None:
        """While nothing waits, want no worker task beyond those holding a job; else a full set for `machines`."""


class SpotFleet:
    def __init__(self, ctx: Context, plan: Plan):
        self.ctx, self.plan = ctx, plan

    def target(self) -> int | None:
        try:
            found = self.ctx.client("ec2").describe_spot_fleet_requests(SpotFleetRequestIds=[self.plan.fleet_id])
        except ClientError as exc:
            if "NotFound" in error_code(exc) or "NotExist" in error_code(exc):
                return None
            raise
        for config in found["SpotFleetRequestConfigs"]:
            if config["SpotFleetRequestState"] in ("submitted", "active", "modifying"):
                return int(config["SpotFleetRequestConfig"]["TargetCapacity"])
        return None

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

    def shrink(self, target: int, release: Sequence[str]) -> None:
        # Lower the target first, or a `maintain` fleet replaces what is terminated.
        ec2 = self.ctx.client("ec2")
        ec2.modify_spot_fleet_request(
            SpotFleetRequestId=self.plan.fleet_id,
            TargetCapacity=target,
            ExcessCapacityTerminationPolicy="noTermination",
        )
        if release:
            ec2.terminate_instances(InstanceIds=list(release))
