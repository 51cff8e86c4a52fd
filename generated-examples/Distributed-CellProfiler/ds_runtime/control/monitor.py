"""`run.py monitor MONITORFILE [cheapest]`: watch the queue, shrink the fleet, tear down at the end.

While jobs wait, nothing changes. Once none wait, the fleet is shrunk to the
machines the running jobs need. Once none run either, everything the run created
is removed (teardown.py). The state lives in AWS and the monitor file, so monitor
can be stopped and started again at any time.

cheapest (as in DS): after `cheapest_after` seconds the fleet's asked-for capacity
drops to 1 without stopping running machines, so machines lost to spot
interruptions are not replaced.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import ClientError

from .context import AWS_ERRORS, CommandError, Context, error_code
from .report import write_run_report
from .teardown import Plan, Teardown, check_caps, report

MAX_FAILED_POLLS = 10  # consecutive failures before monitor gives up (it can be restarted)


def load_monitor_file(path: Path) -> Plan:
    try:
        return Plan.from_monitor(json.loads(path.read_text()))
    except FileNotFoundError:
        raise CommandError(f"{path}: monitor file not found; startCluster writes it next to the fleet file") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CommandError(
            f"{path}: not a monitor file written by this startCluster ({type(exc).__name__}: {exc})"
        ) from None


def fleet_target(ctx: Context, plan: Plan) -> int | None:
    """The fleet's asked-for capacity, None if the fleet is gone."""
    try:
        configs = ctx.client("ec2").describe_spot_fleet_requests(SpotFleetRequestIds=[plan.fleet_id])
    except ClientError as exc:
        if "NotFound" in error_code(exc) or "NotExist" in error_code(exc):
            return None
        raise
    for config in configs["SpotFleetRequestConfigs"]:
        if config["SpotFleetRequestState"] in ("submitted", "active", "modifying"):
            return int(config["SpotFleetRequestConfig"]["TargetCapacity"])
    return None


def resize_fleet(ctx: Context, plan: Plan, target: int, keep_running: bool) -> None:
    ctx.client("ec2").modify_spot_fleet_request(
        SpotFleetRequestId=plan.fleet_id,
        TargetCapacity=target,
        # noTermination: fewer machines asked for, none stopped mid-job.
        ExcessCapacityTerminationPolicy="noTermination" if keep_running else "default",
    )


class Monitor:
    def __init__(
        self,
        ctx: Context,
        plan: Plan,
        cheapest: bool = False,
        interval: float = 60,
        cheapest_after: float = 15 * 60,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        report_folder: Path | None = None,  # where the run report goes at the end (None: no report)
    ):
        self.ctx, self.plan, self.cheapest = ctx, plan, cheapest
        self.interval, self.cheapest_after, self.sleep, self.clock = interval, cheapest_after, sleep, clock
        self.started = time.monotonic()
        self.report_folder = report_folder
        self.stopped_because = ""  # set when a cap (MAX_COST, MAX_HOURS) ended the run

    def poll(self) -> bool:
        """One look at the queue and one action; True once the run is finished (or a cap is reached)."""
        reason = check_caps(self.plan, self.ctx.session, now=self.clock())
        if reason:
            # What bills goes at once; the rest of the teardown follows in run().
            step = Teardown(self.plan, self.ctx.session).cancel_fleet()
            self.stopped_because = reason
            self.ctx.console.print(f"[bold red]STOPPING:[/] {reason}\nspot fleet: {step}", highlight=False)
            return True
        load = self.ctx.queue_load(self.plan.queue_name)
        if load is None or load.empty:
            return True
        target = fleet_target(self.ctx, self.plan)
        status = f"jobs waiting {load.visible}, running {load.in_flight}; machines asked for {target}"
        cheapest_due = self.cheapest and time.monotonic() - self.started >= self.cheapest_after
        if target is not None and cheapest_due and target > 1:
            resize_fleet(self.ctx, self.plan, 1, keep_running=True)
            status += " -> 1 (cheapest: lost machines are not replaced)"
        elif target is not None and load.visible == 0:
            needed = max(1, math.ceil(load.in_flight / self.ctx.config.TASKS_PER_MACHINE))
            if needed < target:
                resize_fleet(self.ctx, self.plan, needed, keep_running=False)
                status += f" -> {needed} (nothing waiting)"
        self.ctx.console.print(f"{time.strftime('%H:%M:%S')} {status}")
        return False

    def run(self) -> int:
        failures = 0
        with self.ctx.console.status("monitoring (Ctrl-C stops watching; run monitor again to resume)"):
            while True:
                try:
                    if self.poll():
                        break
                    failures = 0
                except AWS_ERRORS as exc:  # a network blip must not end the watch
                    failures += 1
                    self.ctx.console.print(f"poll failed ({failures}/{MAX_FAILED_POLLS}): {exc}")
                    if failures >= MAX_FAILED_POLLS:
                        raise CommandError(
                            f"{failures} polls in a row failed; the run is untouched. Run monitor again."
                        ) from exc
                self.sleep(self.interval)
        if self.report_folder is not None:  # while the queues and machines still tell what happened
            line = write_run_report(self.ctx, self.plan, self.report_folder)
            self.ctx.console.print(line, highlight=False, soft_wrap=True)
        if self.stopped_because:
            self.ctx.console.print("cap reached: tearing the run down")
        else:
            self.ctx.console.print("queue empty: tearing the run down")
        steps = Teardown(self.plan, self.ctx.session, reason=self.stopped_because).run()
        for line in report(steps):
            self.ctx.console.print(line)
        return 0 if all(s.ok for s in steps) else 1


def monitor(ctx: Context, monitor_file: Path, cheapest: bool = False, interval: float = 60) -> int:
    plan = load_monitor_file(monitor_file)
    if plan.app_name != ctx.config.APP_NAME or plan.region != ctx.config.AWS_REGION:
        raise CommandError(
            f"{monitor_file} is for {plan.app_name} in {plan.region}, but config.py is for "
            f"{ctx.config.APP_NAME} in {ctx.config.AWS_REGION}; use the matching config or monitor file"
        )
    return Monitor(ctx, plan, cheapest=cheapest, interval=interval, report_folder=monitor_file.parent).run()
