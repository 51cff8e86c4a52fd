"""A DS Fleet file (a Spot Fleet request) as an EC2 Fleet: one launch template per run, and its overrides.

DS's Fleet files keep working unchanged. startCluster applies config.py to each launch
specification (one per machine type and subnet), then this module maps them:

    Fleet file (Spot Fleet)                  EC2 Fleet
    LaunchSpecifications[i]:
      ImageId, KeyName, IamInstanceProfile,  launch template data, same names
      BlockDeviceMappings, EbsOptimized,
      Monitoring, KernelId, UserData,
      TagSpecifications (instance tags)
      RamdiskId                              launch template data RamDiskId
      SecurityGroups [{GroupId}]             launch template data SecurityGroupIds ([{GroupName}]: SecurityGroups)
      NetworkInterfaces                      launch template data NetworkInterfaces, without their SubnetId
      SubnetId (its own or its interface's)  override SubnetId
      Placement.AvailabilityZone             override AvailabilityZone (the rest of Placement: template data)
      InstanceType (MACHINE_TYPE)            override InstanceType
      WeightedCapacity                       override WeightedCapacity
      SpotPrice                              dropped: MACHINE_PRICE is every override's MaxPrice
    AllocationStrategy (lowestPrice ...)     SpotOptions.AllocationStrategy (lowest-price ...)
    InstanceInterruptionBehavior,            SpotOptions: InstanceInterruptionBehavior,
      InstancePoolsToUseCount,                 InstancePoolsToUseCount, MaintenanceStrategies,
      SpotMaintenanceStrategies,               MaxTotalPrice
      SpotMaxTotalPrice
    OnDemandAllocationStrategy,              OnDemandOptions: AllocationStrategy, MaxTotalPrice
      OnDemandMaxTotalPrice
    TargetCapacity (CLUSTER_MACHINES),       TargetCapacitySpecification: TotalTargetCapacity,
      OnDemandTargetCapacity,                  OnDemandTargetCapacity (the rest spot),
      TargetCapacityUnitType                   TargetCapacityUnitType
    TerminateInstancesWithExpiration,        same names
      ReplaceUnhealthyInstances, Context
    TagSpecifications (the request's tags)   the fleet's tags, with ds:app and ds:run
    Type                                     maintain only (monitor resizes the fleet: ModifyFleet needs maintain)
    ValidFrom, ValidUntil                    dropped: the fleet ends with the run
    IamFleetRole                             unused: EC2 Fleet uses its service-linked role
                                             (AWSServiceRoleForEC2Fleet); accepted and ignored, with a note

Launch specifications whose template data differ become versions of the one template (the
first distinct data is version 1). Anything else (AddressingType, InstanceRequirements,
LoadBalancersConfig, LaunchTemplateConfigs, an unknown key) cannot map: load_fleet_file refuses
the file, naming the field.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from .placement import DEFAULT_ALLOCATION, subnets_of

TEMPLATE_KEYS = {  # launch specification key -> launch template data key
    "ImageId": "ImageId",
    "KeyName": "KeyName",
    "IamInstanceProfile": "IamInstanceProfile",
    "BlockDeviceMappings": "BlockDeviceMappings",
    "EbsOptimized": "EbsOptimized",
    "Monitoring": "Monitoring",
    "KernelId": "KernelId",
    "RamdiskId": "RamDiskId",
    "UserData": "UserData",
    "TagSpecifications": "TagSpecifications",
    "NetworkInterfaces": "NetworkInterfaces",
    "Placement": "Placement",
    "SecurityGroups": "SecurityGroups",
}
OVERRIDE_KEYS = {"InstanceType": "InstanceType", "WeightedCapacity": "WeightedCapacity", "SubnetId": "SubnetId"}
DROPPED_SPEC_KEYS = ("SpotPrice",)
LAUNCH_SPEC_KEYS = frozenset(TEMPLATE_KEYS) | frozenset(OVERRIDE_KEYS) | frozenset(DROPPED_SPEC_KEYS)

ALLOCATION = {  # Spot Fleet's names -> EC2 Fleet's
    "lowestPrice": "lowest-price",
    "diversified": "diversified",
    "capacityOptimized": "capacity-optimized",
    "capacityOptimizedPrioritized": "capacity-optimized-prioritized",
    "priceCapacityOptimized": "price-capacity-optimized",
}
ON_DEMAND_ALLOCATION = {"lowestPrice": "lowest-price", "prioritized": "prioritized"}
# Top-level Fleet file key -> (section of the CreateFleet request, key there); section "" = the request itself.
FLEET_KEYS = {
    "InstanceInterruptionBehavior": ("SpotOptions", "InstanceInterruptionBehavior"),
    "InstancePoolsToUseCount": ("SpotOptions", "InstancePoolsToUseCount"),
    "SpotMaintenanceStrategies": ("SpotOptions", "MaintenanceStrategies"),
    "SpotMaxTotalPrice": ("SpotOptions", "MaxTotalPrice"),
    "OnDemandMaxTotalPrice": ("OnDemandOptions", "MaxTotalPrice"),
    "TargetCapacityUnitType": ("TargetCapacitySpecification", "TargetCapacityUnitType"),
    "TerminateInstancesWithExpiration": ("", "TerminateInstancesWithExpiration"),
    "ReplaceUnhealthyInstances": ("", "ReplaceUnhealthyInstances"),
    "Context": ("", "Context"),
}
# Read by startCluster itself (config.py decides, or they are translated above with their values).
OWN_KEYS = (
    "LaunchSpecifications",
    "AllocationStrategy",
    "OnDemandAllocationStrategy",
    "OnDemandTargetCapacity",
    "TargetCapacity",
    "SpotPrice",
    "Type",
    "TagSpecifications",
    "ClientToken",
    "ExcessCapacityTerminationPolicy",  # always no-termination: monitor picks which machines stop
    "ValidFrom",
    "ValidUntil",
    "IamFleetRole",
)
FLEET_FILE_KEYS = frozenset(FLEET_KEYS) | frozenset(OWN_KEYS)


def unmappable(fleet: dict[str, Any]) -> list[str]:
    """The Fleet file's fields an EC2 Fleet has no place for, each with why and the fix ([] if none)."""
    problems = [
        f"{key}: has no EC2 Fleet equivalent (startCluster asks for an EC2 Fleet); remove it"
        for key in fleet
        if key not in FLEET_FILE_KEYS and not key.startswith("_comment")
    ]
    if fleet.get("Type", "maintain") != "maintain":
        problems.append(f"Type: {fleet['Type']!r} cannot be resized by monitor; use 'maintain'")
    for name, table in (("AllocationStrategy", ALLOCATION), ("OnDemandAllocationStrategy", ON_DEMAND_ALLOCATION)):
        if name in fleet and (not isinstance(fleet[name], str) or fleet[name] not in table):
            problems.append(f"{name}: {fleet[name]!r} is none of {', '.join(table)}")
    on_demand = fleet.get("OnDemandTargetCapacity", 0)
    if not isinstance(on_demand, int) or isinstance(on_demand, bool) or on_demand < 0:
        problems.append(f"OnDemandTargetCapacity: {on_demand!r} is not a whole number of machines (0 or more)")
    specs = fleet.get("LaunchSpecifications")
    for i, spec in enumerate(specs if isinstance(specs, list) else []):  # a wrong shape: load_fleet_file says so
        if isinstance(spec, dict):
            problems += [
                f"LaunchSpecifications[{i}].{key}: has no EC2 Fleet launch template equivalent; remove it"
                for key in spec
                if key not in LAUNCH_SPEC_KEYS
            ]
    return problems


@dataclass(frozen=True)
class FleetLaunch:
    """What startCluster sends: the launch template's versions (data), then CreateFleet's arguments."""

    template_name: str
    versions: list[dict[str, Any]]  # version n+1's launch template data
    request: dict[str, Any]


def split_spec(spec: dict[str, Any], max_price: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(launch template data, override) of one launch specification (config.py already applied)."""
    data = {TEMPLATE_KEYS[k]: copy.deepcopy(v) for k, v in spec.items() if k in TEMPLATE_KEYS}
    override = {OVERRIDE_KEYS[k]: v for k, v in spec.items() if k in OVERRIDE_KEYS and k != "SubnetId"}
    subnets = subnets_of(spec)
    if subnets:  # per_subnet left one
        override["SubnetId"] = subnets[0]
    for nic in data.get("NetworkInterfaces", []):
        nic.pop("SubnetId", None)  # the override's, so one template serves every subnet
    groups = data.pop("SecurityGroups", [])
    if any(g.get("GroupId") for g in groups):
        data["SecurityGroupIds"] = [g["GroupId"] for g in groups if g.get("GroupId")]
    if any(g.get("GroupName") and not g.get("GroupId") for g in groups):
        data["SecurityGroups"] = [g["GroupName"] for g in groups if g.get("GroupName") and not g.get("GroupId")]
    placement = data.pop("Placement", {})
    if placement.get("AvailabilityZone"):
        override["AvailabilityZone"] = placement.pop("AvailabilityZone")
    if placement:
        data["Placement"] = placement
    override["MaxPrice"] = max_price
    return data, override


def fleet_launch(
    fleet: dict[str, Any],
    specs: list[dict[str, Any]],
    template_name: str,
    target: int,
    max_price: str,
    tags: list[dict[str, str]],
    client_token: str,
) -> FleetLaunch:
    """The EC2 Fleet for `fleet` (the Fleet file) with `specs` (its launch specifications, config.py applied)."""
    versions: list[dict[str, Any]] = []
    overrides: dict[int, list[dict[str, Any]]] = {}
    for spec in specs:
        data, override = split_spec(spec, max_price)
        key = json.dumps(data, sort_keys=True)
        known = [json.dumps(v, sort_keys=True) for v in versions]
        if key not in known:
            versions.append(data)
            known.append(key)
        overrides.setdefault(known.index(key) + 1, []).append(override)
    on_demand = min(int(fleet.get("OnDemandTargetCapacity", 0)), target)
    request: dict[str, Any] = {
        "Type": "maintain",
        "LaunchTemplateConfigs": [
            {
                "LaunchTemplateSpecification": {"LaunchTemplateName": template_name, "Version": str(version)},
                "Overrides": items,
            }
            for version, items in overrides.items()
        ],
        "TargetCapacitySpecification": target_capacity(target, on_demand),
        "SpotOptions": {"AllocationStrategy": ALLOCATION[fleet.get("AllocationStrategy", DEFAULT_ALLOCATION)]},
        # monitor decides which machines stop (only idle ones): AWS must never pick one itself.
        "ExcessCapacityTerminationPolicy": "no-termination",
        "TagSpecifications": [{"ResourceType": "fleet", "Tags": _fleet_tags(fleet, tags)}],
        "ClientToken": client_token,  # a retried request cannot start a second fleet
    }
    if "OnDemandAllocationStrategy" in fleet:
        request["OnDemandOptions"] = {"AllocationStrategy": ON_DEMAND_ALLOCATION[fleet["OnDemandAllocationStrategy"]]}
    for key, (section, name) in FLEET_KEYS.items():
        if key in fleet:
            (request.setdefault(section, {}) if section else request)[name] = copy.deepcopy(fleet[key])
    return FleetLaunch(template_name, versions, request)


def target_capacity(total: int, on_demand: int) -> dict[str, Any]:
    """An EC2 Fleet's TargetCapacitySpecification: `total` machines, `on_demand` of them on-demand, the rest spot."""
    return {
        "TotalTargetCapacity": total,
        "OnDemandTargetCapacity": on_demand,
        "SpotTargetCapacity": total - on_demand,
        "DefaultTargetCapacityType": "spot",
    }


def _fleet_tags(fleet: dict[str, Any], tags: list[dict[str, str]]) -> list[dict[str, str]]:
    """The Fleet file's own tags for its request (if any), then the run's (which win)."""
    own = {
        t["Key"]: t["Value"]
        for spec in fleet.get("TagSpecifications", [])
        if isinstance(spec, dict) and spec.get("ResourceType") in ("spot-fleet-request", "fleet")
        for t in spec.get("Tags", [])
    }
    own.update({t["Key"]: t["Value"] for t in tags})
    return [{"Key": k, "Value": v} for k, v in own.items()]
