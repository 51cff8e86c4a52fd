"""What moto's EC2 Fleet lacks: ModifyFleet, which `monitor` resizes the run's fleet with.

moto 5.2 implements CreateFleet, DescribeFleets, DescribeFleetInstances and DeleteFleets,
and answers ModifyFleet with "not implemented". `install()` adds it to moto's EC2 responses
(the emulator's server and mock_aws share them), as EC2 does for a fleet of type `maintain`:
the new TargetCapacitySpecification is stored (DescribeFleets shows it) and the fleet launches
what its spot and on-demand parts now lack, never past the total. Capacity above the target is never terminated
(ExcessCapacityTerminationPolicy no-termination, the only policy startCluster uses); a fleet
that asks for `termination` is refused. Like moto's own fleets, it replaces no machine lost
later (as a fleet short of spot capacity would not). If this moto already has ModifyFleet,
or lacks what it is built on, install() leaves moto as it is.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.fleets import Fleet
from moto.ec2.responses.fleets import Fleets

LIVE = ("pending", "running")
_lock = threading.Lock()
_installed: list[bool] = []


def _live(fleet: Fleet) -> tuple[int, int]:
    """(spot, on-demand) machines of the fleet starting or running."""
    spot = sum(1 for r in fleet.spot_requests if r.instance.state in LIVE)
    on_demand = sum(1 for r in fleet.on_demand_instances if r["instance"].state in LIVE)
    return spot, on_demand


def modify(fleet: Fleet, spec: dict[str, Any], policy: str | None) -> None:
    """Set the fleet's target capacity and launch what it now lacks (maintain); never terminate."""
    if fleet.fleet_type != "maintain":
        raise EC2ClientError("InvalidParameterValue", f"fleet {fleet.id} is of type {fleet.fleet_type}, not maintain")
    if fleet.state not in ("submitted", "active", "modifying"):
        raise EC2ClientError("IncorrectState", f"fleet {fleet.id} is {fleet.state}")
    if (policy or fleet.excess_capacity_termination_policy) != "no-termination":
        raise EC2ClientError("InvalidParameterValue", "the emulator's ModifyFleet keeps excess capacity only")
    old = fleet.target_capacity_specification
    total = int(spec.get("TotalTargetCapacity", old.get("TotalTargetCapacity", 0)))
    on_demand = min(total, int(spec.get("OnDemandTargetCapacity", old.get("OnDemandTargetCapacity", 0))))
    fleet.target_capacity_specification = {**old, **spec, "OnDemandTargetCapacity": on_demand}
    fleet.target_capacity_specification["SpotTargetCapacity"] = total - on_demand
    fleet.target_capacity, fleet.on_demand_target_capacity = total, on_demand
    fleet.spot_target_capacity = total - on_demand
    if policy:
        fleet.excess_capacity_termination_policy = policy
    spot, demand = _live(fleet)
    room = total - spot - demand  # never more machines than the total, as EC2 launches
    more_on_demand = max(0, min(on_demand - demand, room))
    if more_on_demand:
        fleet.create_on_demand_requests(more_on_demand)
    more_spot = max(0, min(total - on_demand - spot, room - more_on_demand))
    if more_spot:
        fleet.create_spot_requests(more_spot)


def _modify_fleet(self: Fleets) -> ActionResult:
    fleet_id = self._get_param("FleetId")
    spec = self._get_param("TargetCapacitySpecification", {})
    policy = self._get_param("ExcessCapacityTerminationPolicy")
    self.error_on_dryrun()
    fleet = self.ec2_backend.get_fleet(fleet_id)
    if fleet is None:
        raise EC2ClientError("InvalidFleetId.NotFound", f"The fleet ID '{fleet_id}' does not exist")
    modify(fleet, spec, policy)
    return ActionResult({"Return": True})


def install() -> bool:
    """Add ModifyFleet to moto's EC2 (process-wide, idempotent); False if moto is not what this was built on."""
    with _lock:
        if _installed:
            return True
        if hasattr(Fleets, "modify_fleet"):
            return False  # moto has its own now: use that
        if not all(
            callable(getattr(Fleet, name, None)) for name in ("create_on_demand_requests", "create_spot_requests")
        ):
            warnings.warn("ec2_fleet not installed: moto's Fleet is not the one this was written for", stacklevel=2)
            return False
        Fleets.modify_fleet = _modify_fleet  # type: ignore[attr-defined]
        _installed.append(True)
        return True
