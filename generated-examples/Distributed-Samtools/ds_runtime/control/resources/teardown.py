"""Tear a run down: the end of `monitor`, and the auto-monitor Lambda's handler.

Each kind of resource the run created (resources.py) is removed in its own step, the
fleet (with its machines, on-demand ones included) first (it is what bills): a step that fails
is reported and the others still run (DS's Lambda raised before cancelling the fleet
and left everything running). Every step accepts "already gone", so teardown can be
repeated safely. The caps (MAX_COST, MAX_HOURS) are counted here too.

Standard library and boto3 only: the Lambda ships this package without pydantic.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import boto3

from ..common.run_record import RunRecord
from .catalogue import LIVE_INSTANCE_STATES, Scope, delete_steps

PLAN_ENV = "DS_TEARDOWN_PLAN"
CHECK_CAPS = {"ds_check": "caps"}  # the scheduled event's input: check the caps, tear down only if reached
# EC2's StateTransitionReason of a terminated machine, e.g. "User initiated (2024-05-01 12:00:00 GMT)".
_ENDED_AT = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) GMT\)")


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Spend:
    """What a run has used so far: wall-clock hours since it started and its machines' hours."""

    hours: float
    machine_hours: float  # every machine's, the on-demand ones' included
    price_per_hour: float
    on_demand_machine_hours: float = 0.0
    on_demand_price_per_hour: float = 0.0  # 0: unknown, counted at price_per_hour

    @property
    def dollars(self) -> float:
        spot = self.machine_hours - self.on_demand_machine_hours
        on_demand_price = self.on_demand_price_per_hour or self.price_per_hour
        return spot * self.price_per_hour + self.on_demand_machine_hours * on_demand_price

    def words(self, price_source: str, on_demand_source: str) -> str:
        """How the dollars were counted, e.g. '3.00 machine-hours at $0.0400/h (spot price ...)'."""
        spot = self.machine_hours - self.on_demand_machine_hours
        text = f"{spot:.2f} machine-hours at ${self.price_per_hour:.4f}/h ({price_source})"
        if self.on_demand_machine_hours:
            price = self.on_demand_price_per_hour or self.price_per_hour
            source = on_demand_source if self.on_demand_price_per_hour else "price unknown: counted at the spot price"
            text += f" + {self.on_demand_machine_hours:.2f} on-demand machine-hours at ${price:.4f}/h ({source})"
        return text


def _ended(instance: dict[str, Any], now: float) -> float:
    if instance["State"]["Name"] in LIVE_INSTANCE_STATES:
        return now
    found = _ENDED_AT.search(instance.get("StateTransitionReason", ""))
    if found is None:
        return now  # unknown end: count it as still running (never too low)
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def spend(plan: RunRecord, session: boto3.Session, now: float | None = None) -> Spend:
    """Hours and machine-hours of the run so far, from the run's machines as EC2 lists them.

    A machine counts from its launch to its termination (or to now while it lives).
    EC2 forgets terminated machines after about an hour, so late in a long run the
    figure can miss machines that were stopped early; MAX_HOURS is the exact bound.
    """
    now = time.time() if now is None else now
    ec2 = session.client("ec2")
    machine_seconds = on_demand_seconds = 0.0
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag:ds:run", "Values": [plan.run_id]}, {"Name": "tag:ds:app", "Values": [plan.app_name]}]
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                seconds = max(0.0, _ended(instance, now) - instance["LaunchTime"].timestamp())
                machine_seconds += seconds
                # EC2 marks spot machines; the rest are on-demand (the fleet's, or an earlier version's fallback's).
                if instance.get("InstanceLifecycle") != "spot":
                    on_demand_seconds += seconds
    hours = max(0.0, now - plan.start_time_ms / 1000) / 3600
    return Spend(
        hours, machine_seconds / 3600, plan.price_per_hour, on_demand_seconds / 3600, plan.on_demand_price_per_hour
    )


def cap_reached(plan: RunRecord, used: Spend) -> str:
    """Why the run must stop now, in plain words; '' while no cap is reached."""
    if plan.max_hours and used.hours >= plan.max_hours:
        return (
            f"MAX_HOURS = {plan.max_hours:g} reached: the run started {used.hours:.2f} h ago. "
            "The fleet is cancelled and the run torn down; jobs not done are not lost for good: "
            "submit the Job file again (with CHECK_IF_DONE_BOOL = True, finished jobs are skipped)."
        )
    if plan.max_cost and used.dollars >= plan.max_cost:
        return (
            f"MAX_COST = ${plan.max_cost:g} reached: {used.words(plan.price_source, plan.on_demand_price_source)} "
            f"= ${used.dollars:.2f} so far. "
            "The fleet is cancelled and the run torn down; submit the Job file again to finish "
            "(with CHECK_IF_DONE_BOOL = True, finished jobs are skipped)."
        )
    return ""


def check_caps(plan: RunRecord, session: boto3.Session, now: float | None = None) -> str:
    """cap_reached for the run as it is now; '' at once if the run has no caps."""
    if not plan.max_cost and not plan.max_hours:
        return ""
    return cap_reached(plan, spend(plan, session, now))


def run_steps(steps: list[tuple[str, Callable[[], str]]]) -> list[Step]:
    """Each step in turn; one that fails is reported and the others still run."""
    results = []
    for name, action in steps:
        try:
            results.append(Step(name, True, action()))
        except Exception as exc:  # one broken step must never stop the others
            results.append(Step(name, False, f"{type(exc).__name__}: {exc}"))
    return results


class Teardown:
    """The steps that remove a run: each kind of resource's delete, in resources.KINDS order (the fleet first).

    `reason` (e.g. a cap reached) opens the report; the other arguments are the Scope's."""

    def __init__(
        self,
        plan: RunRecord,
        session: boto3.Session,
        export_timeout: float = 120.0,
        drain_timeout: float = 60.0,
        reason: str = "",
        keep_failed: bool = True,
    ):
        self.scope = Scope(plan, session, export_timeout, drain_timeout, keep_failed)
        self.reason = reason

    def run(self) -> list[Step]:
        return ([Step(REASON_STEP, True, self.reason)] if self.reason else []) + run_steps(delete_steps(self.scope))


REASON_STEP = "why"


def report(steps: list[Step]) -> Iterator[str]:
    for step in steps:
        if step.name == REASON_STEP:
            yield f"STOPPED: {step.detail}"
        else:
            yield f"{'ok ' if step.ok else 'FAILED'} {step.name}: {step.detail}"


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The auto-monitor; the plan is in its environment.

    Invoked by the CloudWatch alarm (queue empty): tear down. Invoked by the
    schedule with CHECK_CAPS as input: tear down only if MAX_COST or MAX_HOURS is reached.
    """
    plan = RunRecord.from_dict(json.loads(os.environ[PLAN_ENV]))
    session = boto3.Session(region_name=plan.region)
    reason = ""
    if isinstance(event, dict) and event.get("ds_check") == CHECK_CAPS["ds_check"]:
        reason = check_caps(plan, session)
        if not reason:
            print(f"{plan.app_name} run {plan.run_id}: caps not reached")
            return {"ok": True, "steps": [], "stopped": False}
    steps = Teardown(plan, session, reason=reason).run()
    lines = list(report(steps))
    print("\n".join(lines))  # lands in the function's CloudWatch log
    return {"ok": all(s.ok for s in steps), "steps": lines, "stopped": True, "reason": reason}
