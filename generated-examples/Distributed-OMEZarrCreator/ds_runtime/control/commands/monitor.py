"""`run.py monitor MONITORFILE [cheapest]`: watch the queue, shrink the fleet, tear down at the end.

While jobs wait, nothing changes. Once none wait, every machine that has run no
job for MACHINE_IDLE_SECONDS is terminated and the fleet asks for only the machines
kept (scalein.py decides, with `noTermination`, so AWS never picks a machine in the
middle of a job). Once no job runs either, everything the run created is removed
(teardown.py). The state lives in AWS and the monitor file, so monitor
can be stopped and started again at any time.

On-demand fallback (ON_DEMAND_AFTER_INTERRUPTIONS = N, as the run was started; 0 = off):
while jobs wait and the fleet has fewer machines than asked for, once the run has had N
interrupted jobs (the workers' outcome records) or the fleet reports a capacity error,
the EC2 Fleet's on-demand part grows by the missing machines and its spot part shrinks by
as many (its total unchanged), so both together never exceed what was asked for; the
fleet starts them. It never goes back: the on-demand machines stay until scale-in releases
them idle, or the run ends; spot machines lost later are replaced the same way.

cheapest (as in DS): after `cheapest_after` seconds the fleet's asked-for capacity
drops to 1 without stopping running machines, so machines lost to spot
interruptions are not replaced.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from rich.text import Text

from ...aws import QueueLoad
from ..common.context import AWS_ERRORS, CommandError, Context
from ..common.run_record import RunRecord, load_monitor_file
from ..machines.ec2_fleet import Ec2Fleet, Fleet
from ..machines.scalein import decide, idle_since, scale_out
from ..machines.spot_fleet import SpotFleet
from ..resources.catalogue import Fleets, Machines, Scope, is_spot_fleet
from ..resources.teardown import Teardown, check_caps, report
from ..views.report import write_run_report

CHEAPEST_WORDS = ("cheapest", "true")  # monitor's last argument that asks for the cheapest run (DS: True)

MAX_FAILED_POLLS = 10  # consecutive failures before monitor gives up (it can be restarted)


class Monitor:
    """`fleet` and `queue` default to the run's AWS resources; the simulator passes its own, with `clock`."""

    def __init__(
        self,
        ctx: Context,
        plan: RunRecord,
        cheapest: bool = False,
        interval: float = 60,
        cheapest_after: float = 15 * 60,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        fleet: Fleet | None = None,
        queue: Callable[[], QueueLoad | None] | None = None,
        idle_after: float | None = None,
        report_folder: Path | None = None,  # where the run report goes at the end (None: no report)
        capacity: tuple[int, int] | None = None,  # (most machines, job slots per machine); default config.py's
    ):
        self.ctx, self.plan, self.cheapest = ctx, plan, cheapest
        self.interval, self.cheapest_after, self.sleep, self.clock = interval, cheapest_after, sleep, clock
        self.fleet = fleet or run_fleet(ctx, plan)
        # A run of an earlier version (a Spot Fleet) is watched and torn down, without a fallback (spot_fleet.py).
        self.fall_back_after = 0 if is_spot_fleet(plan.fleet_id) else plan.on_demand_after
        if is_spot_fleet(plan.fleet_id) and plan.on_demand_after:
            ctx.console.print(
                f"note: this run's Spot Fleet {plan.fleet_id} was asked for by an earlier version: it is watched and "
                "torn down, but no on-demand machine is started for it (startCluster's EC2 Fleets have the fallback)",
                highlight=False,
            )
        self.queue = queue or (lambda: ctx.queue_load(plan.queue_name))
        self.idle_after = ctx.config.MACHINE_IDLE_SECONDS if idle_after is None else idle_after
        c = ctx.config
        self.capacity = capacity or (c.CLUSTER_MACHINES, c.TASKS_PER_MACHINE * c.DOCKER_CORES)
        self.idle: dict[str, float] = {}  # instance id -> when first seen idle
        self.started = clock()
        self.report_folder = report_folder
        self.stopped_because = ""  # set when a cap (MAX_COST, MAX_HOURS) ended the run

    def poll(self) -> bool:
        """One look at the queue and one action; True once the run is finished (or a cap is reached)."""
        now = self.clock()
        reason = check_caps(self.plan, self.ctx.session, now=now)
        if reason:
            # What bills goes at once; the rest of the teardown follows in run().
            scope = Scope(self.plan, self.ctx.session)
            fleet, on_demand = Fleets(scope).delete(), Machines(scope).delete()
            self.stopped_because = reason
            stopped = f"fleet: {fleet}\non-demand machines: {on_demand}"
            self.ctx.console.print(Text.assemble(("STOPPING:", "bold red"), f" {reason}\n{stopped}"), highlight=False)
            return True
        load = self.queue()
        if load is None or load.empty:
            return True
        target = self.fleet.target()
        status = f"jobs waiting {load.visible}, running {load.in_flight}; machines asked for {target}"
        if target is not None:
            cheapest_due = self.cheapest and now - self.started >= self.cheapest_after
            if cheapest_due and target > 1:
                self.fleet.resize(1)
                target = 1
                status += " -> 1 (cheapest: lost machines are not replaced)"
            elif not cheapest_due:
                wanted = scale_out(load, target, *self.capacity)
                if wanted is not None:
                    self.fleet.resize(wanted)
                    status += f" -> {wanted} (jobs wait again)"
                    target = wanted
            machines = self.fleet.machines()
            self._fall_back(load, target, len(machines))
            self.fleet.hold_workers(max(target, len(machines)), load.visible == 0)
            self.idle = idle_since(self.idle, machines, now)
            change = decide(load, machines, target, self.idle, now, self.idle_after)
            if change:
                self.fleet.resize(change.target, change.release)
                status += f" -> {change.target} (nothing waiting; {len(change.release)} idle machine(s) released)"
        self.ctx.console.print(f"{time.strftime('%H:%M:%S')} {status}")
        return False

    def _fall_back(self, load: QueueLoad, target: int, machines: int) -> None:
        """Start on-demand machines for missing spot ones, if the run wants the fallback and spot falls short."""
        after, missing = self.fall_back_after, target - machines
        if not after or load.visible == 0 or missing <= 0:
            return  # checked first: the reasons below cost AWS calls
        why = self.fleet.capacity_error()
        if not why:
            interrupted = self.fleet.interruptions()
            if interrupted < after:
                return
            why = f"{interrupted} interrupted job(s), ON_DEMAND_AFTER_INTERRUPTIONS = {after}"
        started = self.fleet.start_on_demand(missing)
        if not started:
            return  # those asked for before are still starting
        self.ctx.console.print(
            Text.assemble(
                ("ON-DEMAND:", "bold"),
                f" {started} on-demand machine(s) asked for in place of {missing} missing spot machine(s) "
                f"({why}); the fleet asks for {started} spot machine(s) fewer",
            ),
            highlight=False,
            soft_wrap=True,
        )

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


def run_fleet(ctx: Context, plan: RunRecord) -> Fleet:
    """The run's fleet: an EC2 Fleet, or the Spot Fleet of a run an earlier version started."""
    return SpotFleet(ctx, plan) if is_spot_fleet(plan.fleet_id) else Ec2Fleet(ctx, plan)


def monitor(ctx: Context, monitor_file: Path, cheapest: bool = False, interval: float = 60) -> int:
    plan = load_monitor_file(monitor_file)
    if plan.app_name != ctx.config.APP_NAME or plan.region != ctx.config.AWS_REGION:
        raise CommandError(
            f"{monitor_file} is for {plan.app_name} in {plan.region}, but config.py is for "
            f"{ctx.config.APP_NAME} in {ctx.config.AWS_REGION}; use the matching config or monitor file"
        )
    return Monitor(ctx, plan, cheapest=cheapest, interval=interval, report_folder=monitor_file.parent).run()


def run_monitor(ctx: Context, args: argparse.Namespace) -> int:
    word = args.cheapest.strip().lower()
    if word not in ("", "false", *CHEAPEST_WORDS):
        raise CommandError(f"monitor's last argument {args.cheapest!r}: use 'cheapest' or leave it out")
    code = monitor(ctx, args.monitorfile, cheapest=word in CHEAPEST_WORDS, interval=args.interval)
    ctx.backend.end_run(ctx, drained=code == 0)
    return code
