"""On-demand prices of common machine types, for what the on-demand fallback (ON_DEMAND_AFTER_INTERRUPTIONS) costs.

EC2 has no on-demand price call (spot prices come from DescribeSpotPriceHistory); the
AWS Price List API (pricing:GetProducts) answers only from a few regions, needs its own
permission and is not emulated offline. So this is a fixed table, a fact with its
source and date: Linux on-demand list prices in us-east-1 (N. Virginia), US dollars per
hour, from https://aws.amazon.com/ec2/pricing/on-demand/ as listed in 2024. Other
regions charge differently (mostly more); for them, and for types not listed, the price
is unknown and `estimate` says so rather than guess.

Standard library only: the auto-monitor Lambda reads the run record, which carries the price chosen here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PRICES_REGION = "us-east-1"
PRICES_SOURCE = "Linux on-demand list price in us-east-1, aws.amazon.com/ec2/pricing/on-demand (2024)"
PRICES_PAGE = "https://aws.amazon.com/ec2/pricing/on-demand/"
US_EAST_1: dict[str, float] = {
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "t3.xlarge": 0.1664,
    "t3.2xlarge": 0.3328,
    "m4.large": 0.10,
    "m4.xlarge": 0.20,
    "m4.2xlarge": 0.40,
    "m4.4xlarge": 0.80,
    "m5.large": 0.096,
    "m5.xlarge": 0.192,
    "m5.2xlarge": 0.384,
    "m5.4xlarge": 0.768,
    "m5.8xlarge": 1.536,
    "m5.12xlarge": 2.304,
    "m6i.large": 0.096,
    "m6i.xlarge": 0.192,
    "m6i.2xlarge": 0.384,
    "m6i.4xlarge": 0.768,
    "c4.large": 0.10,
    "c4.xlarge": 0.199,
    "c4.2xlarge": 0.398,
    "c4.4xlarge": 0.796,
    "c5.large": 0.085,
    "c5.xlarge": 0.17,
    "c5.2xlarge": 0.34,
    "c5.4xlarge": 0.68,
    "c5.9xlarge": 1.53,
    "c6i.large": 0.085,
    "c6i.xlarge": 0.17,
    "c6i.2xlarge": 0.34,
    "c6i.4xlarge": 0.68,
    "r4.large": 0.133,
    "r4.xlarge": 0.266,
    "r4.2xlarge": 0.532,
    "r5.large": 0.126,
    "r5.xlarge": 0.252,
    "r5.2xlarge": 0.504,
    "r5.4xlarge": 1.008,
    "r6i.large": 0.126,
    "r6i.xlarge": 0.252,
    "r6i.2xlarge": 0.504,
    # GPU types (tools with gpus: NVIDIA T4, A10G, L4, V100), the same page's Linux list prices in us-east-1 as
    # listed in 2024-2025 (g5.xlarge's $1.006 still so in June 2026); AWS's mid-2025 GPU price cuts were of
    # P4 and P5, not these.
    "g4dn.xlarge": 0.526,
    "g4dn.2xlarge": 0.752,
    "g4dn.4xlarge": 1.204,
    "g4dn.8xlarge": 2.176,
    "g4dn.12xlarge": 3.912,
    "g4dn.16xlarge": 4.352,
    "g5.xlarge": 1.006,
    "g5.2xlarge": 1.212,
    "g5.4xlarge": 1.624,
    "g5.8xlarge": 2.448,
    "g5.12xlarge": 5.672,
    "g5.16xlarge": 4.096,
    "g5.24xlarge": 8.144,
    "g5.48xlarge": 16.288,
    "g6.xlarge": 0.8048,
    "g6.2xlarge": 0.9776,
    "g6.4xlarge": 1.3232,
    "g6.8xlarge": 2.0144,
    "g6.12xlarge": 4.6016,
    "g6.16xlarge": 3.3968,
    "g6.24xlarge": 6.6752,
    "g6.48xlarge": 13.3504,
    "p3.2xlarge": 3.06,
    "p3.8xlarge": 12.24,
    "p3.16xlarge": 24.48,
}


@dataclass(frozen=True)
class OnDemandPrice:
    dollars_per_hour: float | None  # None: unknown
    source: str  # in words: which price, or why it is unknown and where to look


def on_demand_price(region: str, machine_types: Sequence[str]) -> OnDemandPrice:
    """The dearest of `machine_types` (the fallback may start any of them): an upper bound, or unknown."""
    if region != PRICES_REGION:
        why = f"on-demand price unknown in {region} (the table is for {PRICES_REGION})"
        return OnDemandPrice(None, f"{why}: see {PRICES_PAGE}")
    missing = [t for t in machine_types if t not in US_EAST_1]
    if missing:
        why = f"on-demand price of {', '.join(missing)} unknown (not in the table)"
        return OnDemandPrice(None, f"{why}: see {PRICES_PAGE}")
    dearest = max(machine_types, key=lambda t: US_EAST_1[t])
    return OnDemandPrice(US_EAST_1[dearest], f"{dearest}'s {PRICES_SOURCE}")
