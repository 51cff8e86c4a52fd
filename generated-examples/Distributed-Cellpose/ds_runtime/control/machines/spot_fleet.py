"""Runs started by an earlier version, which asked for a Spot Fleet: watched and torn down, never started.

Their monitor file names a Spot Fleet request (sfr-...). `monitor` resizes it as it resized
it then (ModifySpotFleetRequest, noTermination) and counts the on-demand machines that
version's fallback started (RunInstances, tagged ds:capacity=on-demand); teardown and cleanup
cancel it (resources.Fleets). It starts no new on-demand machine: the fallback is the EC2
Fleet's (fleet.py); startCluster asks for EC2 Fleets only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from ..resources.catalogue import LIVE_FLEET_STATES, gone, on_demand_filters
from .ec2_fleet import RunMachines
from .scalein import Machine


def spot_target_after(target: int, on_demand: Sequence[str], release: Sequence[str]) -> int:
    """The spot target that makes `target` machines with the on-demand ones not released."""
    return max(0, target - len([i for i in on_demand if i not in release]))


class SpotFleet(RunMachines):
    def _request(self) -> dict[str, Any] | None:
        """The live spot fleet request's configuration, None if the fleet is gone."""
        try:
            found = self.ctx.client("ec2").describe_spot_fleet_requests(SpotFleetRequestIds=[self.plan.fleet_id])
        except ClientError as exc:
            if gone(exc):
                return None
            raise
        for config in found["SpotFleetRequestConfigs"]:
            if config["SpotFleetRequestState"] in LIVE_FLEET_STATES:
                return config["SpotFleetRequestConfig"]
        return None

    def _on_demand(self) -> list[str]:
        """The on-demand machines the earlier version's fallback started (none looked for while it was off)."""
        if not self.plan.on_demand_after:
            return []
        pages = (
            self.ctx.client("ec2")
            .get_paginator("describe_instances")
            .paginate(Filters=on_demand_filters(self.plan, ("pending", "running")))
        )
        return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]

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
                return self._machines(ids + self._on_demand())

    def resize(self, target: int, release: Sequence[str] = ()) -> None:
        # Lower the target first, or a `maintain` fleet replaces what is terminated; noTermination: AWS
        # never picks a machine to stop.
        self.ctx.client("ec2").modify_spot_fleet_request(
            SpotFleetRequestId=self.plan.fleet_id,
            TargetCapacity=spot_target_after(target, self._on_demand(), release),
            ExcessCapacityTerminationPolicy="noTermination",
        )
        if release:
            self.ctx.client("ec2").terminate_instances(InstanceIds=list(release))

    def capacity_error(self) -> str:
        return ""  # only the fallback asks, and there is none for these runs

    def start_on_demand(self, count: int) -> int:
        return 0
