"""Will the account's spot quota let the fleet start its GPU machines?

AWS caps the vCPUs of running spot machines per group of families, per account and region
(Service Quotas, service ec2). GPU types (G and VT) have their own cap, which new accounts
often hold at 0: the fleet is then accepted and starts nothing, or fewer machines, and
nothing says why but the fleet's history. startCluster warns before it asks, with the fix.
The quota cannot always be read (no permission, a region or emulator without it): a note
then, never a failure, as the fleet may still start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..common.context import AWS_ERRORS, Context, error_code
from .machine_fit import Machine

QUOTA_CODE = "L-3819A6DF"  # "All G and VT Spot Instance Requests", in vCPUs
QUOTA_NAME = "All G and VT Spot Instance Requests"
FAMILIES = ("g", "vt")  # the families it counts: g4dn, g5, g6, g6e, gr6, vt1 ...
QUOTAS_CONSOLE = "https://console.aws.amazon.com/servicequotas/home/services/ec2/quotas/" + QUOTA_CODE


@dataclass(frozen=True)
class QuotaCheck:
    warnings: list[str]
    notes: list[str]


def counted(name: str) -> bool:
    """Is this instance type one of the G and VT families (g4dn.xlarge yes, m5.xlarge and p3.2xlarge no)?"""
    return name.split(".")[0].startswith(FAMILIES)


def check_gpu_spot_quota(ctx: Context, machines: Mapping[str, Machine]) -> QuotaCheck:
    """A warning when CLUSTER_MACHINES of the largest G or VT type of MACHINE_TYPE need more vCPUs than the quota."""
    gpu_types = [m for name, m in machines.items() if counted(name)]
    if not gpu_types:
        return QuotaCheck([], [])
    largest = max(gpu_types, key=lambda m: (m.vcpus, m.name))
    wanted = ctx.config.CLUSTER_MACHINES * largest.vcpus
    region = ctx.config.AWS_REGION
    try:
        quota = ctx.client("service-quotas").get_service_quota(ServiceCode="ec2", QuotaCode=QUOTA_CODE)["Quota"]
    except (*AWS_ERRORS, NotImplementedError) as exc:
        why = error_code(exc) or type(exc).__name__
        return QuotaCheck(
            [],
            [
                f"your spot quota {QUOTA_NAME!r} ({QUOTA_CODE}) in {region} could not be read ({why}); the fleet "
                f"needs up to {wanted} vCPUs of it: if no machine starts, see {QUOTAS_CONSOLE}"
            ],
        )
    limit = float(quota["Value"])
    if limit >= wanted:
        return QuotaCheck([], [])
    return QuotaCheck(
        [
            f"your spot quota {QUOTA_NAME!r} ({QUOTA_CODE}) in {region} is {limit:g} vCPUs, but CLUSTER_MACHINES "
            f"{ctx.config.CLUSTER_MACHINES} x {largest.name}'s {largest.vcpus} vCPUs = {wanted}: AWS starts "
            f"{int(limit // largest.vcpus)} such machine(s) at most. Ask for {wanted} vCPUs at {QUOTAS_CONSOLE} "
            "(Request increase), or lower CLUSTER_MACHINES"
        ],
        [],
    )
