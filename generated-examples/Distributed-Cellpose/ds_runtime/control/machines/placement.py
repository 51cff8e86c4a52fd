"""Where the fleet may place machines: the subnets (zones) a fleet file names, one launch specification each.

AWS lets a launch specification name several subnets as one comma-separated SubnetId;
a fleet file may also give a JSON list. Each subnet becomes its own launch
specification (per machine type), so the allocation strategy can weigh every
type-and-zone pool by price and spare capacity, and `estimate` prices those pools.
"""

from __future__ import annotations

import copy
from typing import Any

DEFAULT_ALLOCATION = "priceCapacityOptimized"  # what AWS advises for spot; a fleet file may ask otherwise


def split_subnets(value: Any) -> list[str]:
    """'subnet-a, subnet-b' or ['subnet-a', 'subnet-b'] -> ['subnet-a', 'subnet-b']; anything else -> []."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    return [s.strip() for s in items if isinstance(s, str) and s.strip()]


def _primary_nic(spec: dict[str, Any]) -> dict[str, Any] | None:
    return next((n for n in spec.get("NetworkInterfaces", []) if n.get("DeviceIndex", 0) == 0), None)


def subnets_of(spec: dict[str, Any]) -> list[str]:
    """The subnets one launch specification names (on itself or on its first network interface)."""
    nic = _primary_nic(spec)
    return split_subnets(nic.get("SubnetId") if nic is not None else spec.get("SubnetId"))


def per_subnet(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The specification once per subnet it names (itself alone if it names one or none)."""
    copies = []
    for subnet in subnets_of(spec) or [None]:
        one = copy.deepcopy(spec)
        if subnet is not None:  # a one-item list becomes its string too
            nic = _primary_nic(one)
            (nic if nic is not None else one)["SubnetId"] = subnet
        copies.append(one)
    return copies
