"""`run.py estimate JOBFILE [FLEETFILE] [--job-seconds S]`: what a run will cost and when it ends.

    run time      = jobs x seconds per job / (CLUSTER_MACHINES x TASKS_PER_MACHINE x DOCKER_CORES)
    machine-hours = run time in hours x CLUSTER_MACHINES
    dollars       = machine-hours x price per machine-hour

Seconds per job: --job-seconds, else the median duration (download, tool, upload)
of jobs already finished, read from their outcome records in S3.
Price: the current spot price of the cheapest of MACHINE_TYPE in the region (only
in the fleet file's subnets' zones, if given), from EC2's spot price history. When
EC2 has no price for them, MACHINE_PRICE, the most you bid, is used instead: an
upper bound. The estimate says which was used.

With the on-demand fallback on (ON_DEMAND_AFTER_INTERRUPTIONS), it also says what the
same machines cost on-demand, the most the run could cost if spot ran short throughout:
from a fixed table of on-demand prices (on_demand_prices.py, us-east-1), or "unknown".
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ...jobs import Job, read_job_file
from ...outcomes import IN_ORDER, default_prefix
from ..common.context import AWS_ERRORS, CommandError, Context, warning
from ..machines.fleet_file import load_fleet_file
from ..machines.on_demand_prices import OnDemandPrice, on_demand_price
from ..machines.placement import subnets_of
from .outcome_records import OutcomeRecords

PRODUCTS = ["Linux/UNIX", "Linux/UNIX (Amazon VPC)"]  # what ECS-optimised Linux machines are billed as
SAMPLE_JOBS = 200  # finished jobs read to measure the time per job


@dataclass(frozen=True)
class Price:
    dollars_per_hour: float
    source: str  # in words: which price, of which machine type and zone
    fallback: bool  # True: MACHINE_PRICE, the max bid, because EC2 had no spot price


@dataclass(frozen=True)
class Estimate:
    jobs: int
    job_seconds: float | None  # None: unknown (nothing finished yet and none given)
    job_seconds_source: str
    machines: int
    slots: int  # jobs running at once
    price: Price
    start: datetime
    on_demand_after: int = 0  # ON_DEMAND_AFTER_INTERRUPTIONS; 0 = no fallback
    on_demand: OnDemandPrice | None = None  # the fallback's price, when it is on

    @property
    def on_demand_dollars(self) -> float | None:
        """The run's cost if all of it ran on on-demand machines; None if unknown or no fallback."""
        price = self.on_demand.dollars_per_hour if self.on_demand else None
        return self.machine_hours * price if self.known and price is not None else None

    @property
    def known(self) -> bool:
        return self.job_seconds is not None

    @property
    def hours(self) -> float:
        """Wall-clock hours from the first machine to the last job's end."""
        return (self.jobs * (self.job_seconds or 0.0)) / self.slots / 3600

    @property
    def machine_hours(self) -> float:
        return self.hours * self.machines

    @property
    def dollars(self) -> float:
        return self.machine_hours * self.price.dollars_per_hour

    @property
    def finish(self) -> datetime:
        return self.start + timedelta(hours=self.hours)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat(timespec="seconds")
        data.update(
            hours=self.hours if self.known else None,
            machine_hours=self.machine_hours if self.known else None,
            dollars=self.dollars if self.known else None,
            dollars_per_hour=self.machines * self.price.dollars_per_hour,
            finish=self.finish.isoformat(timespec="seconds") if self.known else None,
            on_demand_dollars=self.on_demand_dollars,
        )
        return data

    def on_demand_lines(self) -> list[str]:
        if self.on_demand is None:
            return []
        head = f"on-demand fallback (ON_DEMAND_AFTER_INTERRUPTIONS = {self.on_demand_after}): if spot runs short"
        price = self.on_demand.dollars_per_hour
        if price is None:
            return [f"{head}, up to {self.machines} on-demand machine(s); {self.on_demand.source}"]
        out = [
            f"{head}, up to {self.machines} on-demand machine(s) at ${price:.4f} per machine-hour "
            f"({self.on_demand.source}) = ${self.machines * price:.4f} per hour"
        ]
        if self.on_demand_dollars is not None:
            out.append(f"the whole run on-demand: about ${self.on_demand_dollars:.2f} (the most the fallback can cost)")
        return out

    def lines(self) -> list[str]:
        rate = self.machines * self.price.dollars_per_hour
        out = [
            f"jobs: {self.jobs}; at once: {self.slots} (CLUSTER_MACHINES x TASKS_PER_MACHINE x DOCKER_CORES)",
            f"price: ${self.price.dollars_per_hour:.4f} per machine-hour, {self.price.source}",
            f"while running: {self.machines} machine(s) = ${rate:.4f} per hour",
        ]
        if not self.known:
            out.append(f"time per job: unknown ({self.job_seconds_source}); total cost cannot be estimated yet")
            return out + self.on_demand_lines()
        finish = self.finish.astimezone()
        out += [
            f"time per job: {self.job_seconds:g} s ({self.job_seconds_source})",
            f"run time: {self.hours:.2f} h; machine-hours: {self.machine_hours:.2f}; cost: about ${self.dollars:.2f}",
            f"expected finish: about {finish:%Y-%m-%d %H:%M} ({finish:%Z}), plus a few minutes for machines to start",
        ]
        return out + self.on_demand_lines()


def fleet_zones(ctx: Context, fleet: dict[str, Any] | None) -> list[str]:
    """The availability zones of the fleet file's subnets; [] = any zone of the region."""
    if not fleet:
        return []
    # The same subnets startCluster makes launch specifications of, so the price is of those pools.
    subnets = {subnet for spec in fleet.get("LaunchSpecifications", []) for subnet in subnets_of(spec)}
    if not subnets:
        return []
    try:
        found = ctx.client("ec2").describe_subnets(SubnetIds=sorted(subnets))["Subnets"]
    except AWS_ERRORS:  # e.g. the example's stand-in ids: any zone then
        return []
    return sorted({s["AvailabilityZone"] for s in found})


def current_price(ctx: Context, zones: list[str] | None = None) -> Price:
    """The cheapest current spot price of MACHINE_TYPE; MACHINE_PRICE if EC2 has none."""
    c = ctx.config
    types = list(c.MACHINE_TYPE)
    why = f"no spot price history for {', '.join(types)} in {c.AWS_REGION}"
    try:
        pages = (
            ctx.client("ec2")
            .get_paginator("describe_spot_price_history")
            .paginate(
                InstanceTypes=types,
                ProductDescriptions=PRODUCTS,
                StartTime=datetime.now(timezone.utc),
                PaginationConfig={"MaxItems": 1000},
            )
        )
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for page in pages:
            for item in page["SpotPriceHistory"]:
                if zones and item.get("AvailabilityZone") not in zones:
                    continue
                key = (item["InstanceType"], item.get("AvailabilityZone", ""))
                if key not in latest or item["Timestamp"] > latest[key]["Timestamp"]:
                    latest[key] = item
    except (*AWS_ERRORS, NotImplementedError) as exc:
        latest, why = {}, f"spot prices could not be read ({type(exc).__name__})"
    if latest:
        (machine_type, zone), item = min(latest.items(), key=lambda kv: float(kv[1]["SpotPrice"]))
        return Price(float(item["SpotPrice"]), f"spot price now of {machine_type} in {zone} (cheapest type)", False)
    return Price(float(c.MACHINE_PRICE), f"MACHINE_PRICE, your maximum bid ({why}): real cost is likely lower", True)


def measured_job_seconds(ctx: Context, records: OutcomeRecords | None = None) -> tuple[float | None, str]:
    """The median duration of the latest finished jobs from their outcome records (`records` if given,
    else listed now), and where it came from."""
    bucket, prefix = ctx.config.AWS_BUCKET, default_prefix(ctx.config.APP_NAME)
    try:
        records = OutcomeRecords.of(ctx) if records is None else records
        done = sorted((k for k in records.latest.values() if k.state == "done"), key=IN_ORDER, reverse=True)
        read, _ = records.read(done[:SAMPLE_JOBS])  # status names bad ones
        durations = [record.duration_seconds for record in read.values()]
    except ClientError:  # no access: nothing measured
        durations = []
    durations = [d for d in durations if d > 0]
    if not durations:
        return None, "no finished job to measure yet; give --job-seconds"
    return statistics.median(durations), f"median of {len(durations)} finished job(s) in s3://{bucket}/{prefix}/"


def make_estimate(
    ctx: Context,
    jobs: int,
    job_seconds: float | None = None,
    fleet: dict[str, Any] | None = None,
    start: datetime | None = None,
    records: OutcomeRecords | None = None,
) -> Estimate:
    c = ctx.config
    if job_seconds is not None and job_seconds <= 0:
        raise CommandError(f"--job-seconds {job_seconds:g}: give the seconds one job takes, above 0")
    source = "given"
    if job_seconds is None:
        job_seconds, source = measured_job_seconds(ctx, records)
    return Estimate(
        jobs=jobs,
        job_seconds=job_seconds,
        job_seconds_source=source,
        machines=c.CLUSTER_MACHINES,
        slots=c.CLUSTER_MACHINES * c.TASKS_PER_MACHINE * c.DOCKER_CORES,
        price=current_price(ctx, fleet_zones(ctx, fleet)),
        start=start or datetime.now(timezone.utc),
        on_demand_after=c.ON_DEMAND_AFTER_INTERRUPTIONS,
        on_demand=on_demand_price(c.AWS_REGION, c.MACHINE_TYPE) if c.ON_DEMAND_AFTER_INTERRUPTIONS else None,
    )


def warnings(ctx: Context, estimate: Estimate) -> list[str]:
    c, found = ctx.config, []
    if not estimate.price.fallback and estimate.price.dollars_per_hour > c.MACHINE_PRICE:
        found.append(
            f"the spot price ${estimate.price.dollars_per_hour:.4f} is above MACHINE_PRICE ${c.MACHINE_PRICE:g}: "
            "no machine starts until it drops; raise MACHINE_PRICE in config.py"
        )
    if estimate.known and c.MAX_COST and estimate.dollars >= c.MAX_COST:
        found.append(f"the estimate reaches MAX_COST ${c.MAX_COST:g}: the run will be stopped before it ends")
    if estimate.on_demand is not None and c.MAX_COST:
        if estimate.on_demand.dollars_per_hour is None:
            found.append("MAX_COST counts on-demand machines at the spot price (theirs is unknown): it may stop late")
        elif estimate.on_demand_dollars is not None and estimate.on_demand_dollars >= c.MAX_COST:
            found.append(f"on-demand machines for the whole run would reach MAX_COST ${c.MAX_COST:g}")
    if estimate.known and c.MAX_HOURS and estimate.hours >= c.MAX_HOURS:
        found.append(f"the estimate reaches MAX_HOURS {c.MAX_HOURS:g}: the run will be stopped before it ends")
    return found


def show(ctx: Context, estimate: Estimate) -> None:
    for line in estimate.lines():
        ctx.console.print(line, highlight=False)
    for line in warnings(ctx, estimate):
        ctx.console.print(warning(line), highlight=False)


def estimate_command(
    ctx: Context,
    job_file: Path,
    fleet_file: Path | None = None,
    job_seconds: float | None = None,
    as_json: bool = False,
    jobs: list[Job] | None = None,
) -> int:
    """The estimate for `job_file`'s jobs: `jobs` if the caller read them already."""
    jobs = read_job_file(job_file, ctx.spec) if jobs is None else jobs
    fleet = load_fleet_file(fleet_file, allow_stand_ins=True, gpus=ctx.spec.gpus) if fleet_file else None
    estimate = make_estimate(ctx, len(jobs), job_seconds, fleet)
    if as_json:
        text = json.dumps({**estimate.to_dict(), "warnings": warnings(ctx, estimate)}, indent=1)
        ctx.console.print(text, markup=False, highlight=False, soft_wrap=True)
    else:
        show(ctx, estimate)
    return 0


def run_estimate(ctx: Context, args: argparse.Namespace) -> int:
    return estimate_command(ctx, args.jobfile, args.fleetfile, args.job_seconds, args.json, args.checked_jobs)
