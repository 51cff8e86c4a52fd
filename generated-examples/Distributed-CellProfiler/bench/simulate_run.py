"""What a run bills for the work it does: a discrete-event simulation of a run on an EC2 Fleet of spot machines.

    python bench/simulate_run.py                       # 10,000 jobs, seed 1
    python bench/simulate_run.py --jobs 2000 --tasks-per-machine 4 --interruptions-per-hour 0.05 --seed 2

Jobs' run times are lognormal (median 4 min, 1 % over 1 h). Machines take --start-minutes
to start, each has --tasks-per-machine job slots, and each is interrupted at random
(--interruptions-per-hour per machine, two minutes' notice). The same run is played under
two scale-in policies:

- ds: DS's monitor. At minutes ending in 9, with nothing waiting, the fleet's target drops
  to the jobs in flight (noTermination); a CPU-idle alarm terminates a machine that has run
  no job for 15 minutes (and a `maintain` fleet below its target replaces it). An interrupted
  job's message comes back when its visibility timeout ends.
- ours: the real `Monitor.poll` of ds_runtime/control/commands/monitor.py, every minute, on a
  simulated clock, queue and fleet (scalein.py decides which idle machines go). An
  interrupted job goes back to the queue at the notice.

The fleet is an EC2 Fleet of type `maintain`: it asks for a total of machines, an on-demand
part of them and the rest spot, and starts what either part lacks (a spot machine interrupted
is replaced when it ends). With --on-demand-after N, ours also plays the on-demand fallback
(ON_DEMAND_AFTER_INTERRUPTIONS): after N interrupted jobs, the on-demand part grows by the
machines missing from the fleet (those under notice), the total unchanged (fleet.py's
after_fallback); on-demand machines are never interrupted.

Per policy one line: `POLICY: billed machine-hours M, job-hours J, billed/job-hours R, job-hours
lost L, finish H h`, where M = machine-hours from launch to termination, J = each job's run time
once, R = billed slot-hours (M x tasks per machine) / J, L = job-hours of work thrown away because the
policy stopped a machine in the middle of a job (interruptions, equal for both policies
in expectation, are not the policy's doing and are not counted), H = hours from
startCluster until the monitor tears the run down; with the fallback, ours's line ends with
`, on-demand machine-hours M` (of the billed ones). No sleeping: time is simulated.
"""

from __future__ import annotations

import argparse
import heapq
import io
import itertools
import math
import random
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ds_runtime.aws import QueueLoad  # noqa: E402 - after the path set-up
from ds_runtime.control.commands.monitor import Monitor  # noqa: E402
from ds_runtime.control.common.context import Context  # noqa: E402
from ds_runtime.control.machines.ec2_fleet import Capacity, after_fallback, after_resize  # noqa: E402
from ds_runtime.control.machines.scalein import Machine  # noqa: E402
from ds_runtime.control.resources.teardown import RunRecord  # noqa: E402

MEDIAN_MINUTES = 4.0
SIGMA = math.log(60 / MEDIAN_MINUTES) / 2.326  # P(run time > 60 min) = 1 %
POLL_SECONDS = 60.0
NOTICE_SECONDS = 120.0  # EC2's spot interruption notice
DS_IDLE_ALARM_SECONDS = 15 * 60
VISIBILITY_SECONDS = 3600.0  # config.py's SQS_MESSAGE_VISIBILITY default
POLICIES = ("ds", "ours")


@dataclass
class SimMachine:
    name: str
    launched: float
    ready: float
    slots: list[tuple[int, float] | None]  # (job, started) per slot
    interrupt_at: float  # when its notice comes
    ended: float | None = None
    noticed: bool = False
    idle_since: float | None = None  # for DS's idle alarm
    on_demand: bool = False  # started by the fallback: never interrupted, outside the spot target

    @property
    def busy(self) -> bool:
        return any(self.slots)


@dataclass
class Result:
    billed_slot_hours: float
    job_hours: float
    machine_hours: float  # billed, from launch to termination
    lost_job_hours: float  # thrown away by the policy's own kills
    finish_hours: float
    on_demand_hours: float | None = None  # machine-hours of on-demand machines; None: no fallback

    @property
    def ratio(self) -> float:
        return self.billed_slot_hours / self.job_hours

    def line(self, policy: str) -> str:
        line = (
            f"{policy}: billed machine-hours {self.machine_hours:.1f}, job-hours {self.job_hours:.1f}, "
            f"billed/job-hours {self.ratio:.2f}, job-hours lost {self.lost_job_hours:.1f}, "
            f"finish {self.finish_hours:.2f} h"
        )
        return line if self.on_demand_hours is None else f"{line}, on-demand machine-hours {self.on_demand_hours:.1f}"


@dataclass
class Run:
    """One simulated run: a queue, a fleet, machines, and a clock driven by an event heap."""

    durations: Sequence[float]  # seconds per job
    machines: int
    tasks_per_machine: int
    start_seconds: float
    interruptions_per_hour: float
    policy: str
    rng: random.Random
    now: float = 0.0
    target: int = 0  # the fleet's total
    on_demand_target: int = 0  # the on-demand part of it
    interrupted_jobs: int = 0
    waiting: deque[int] = field(default_factory=deque)
    hidden: int = 0  # messages of killed jobs, invisible until their timeout ends
    running: int = 0
    done: int = 0
    lost_seconds: float = 0.0
    fleet: list[SimMachine] = field(default_factory=list)
    events: list[tuple[float, int, str, object]] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    # ------------------------------------------------------------ events

    def at(self, when: float, kind: str, what: object = None) -> None:
        heapq.heappush(self.events, (when, next(self.counter), kind, what))

    def launch(self) -> None:
        """A `maintain` fleet starts machines until those alive reach each part of its target."""
        spot = sum(1 for m in self.fleet if m.ended is None and not m.on_demand)
        on_demand = sum(1 for m in self.fleet if m.ended is None and m.on_demand)
        for _ in range(self.on_demand_target - on_demand):
            self.start(math.inf, on_demand=True)
        for _ in range(self.target - self.on_demand_target - spot):
            rate = self.interruptions_per_hour / 3600
            self.start(self.now + self.rng.expovariate(rate) if rate else math.inf)

    def start(self, interrupt: float, on_demand: bool = False) -> None:
        m = SimMachine(
            f"i-{len(self.fleet):05d}",
            self.now,
            self.now + self.start_seconds,
            [None] * self.tasks_per_machine,
            interrupt,
            on_demand=on_demand,
        )
        self.fleet.append(m)
        self.at(m.ready, "ready", m)
        if interrupt < math.inf:
            self.at(interrupt, "notice", m)

    def assign(self) -> None:
        """Free slots of ready machines take waiting jobs at once."""
        for m in self.fleet:
            if m.ended is not None or m.noticed or m.ready > self.now:
                continue
            for i, slot in enumerate(m.slots):
                if slot is None and self.waiting:
                    job = self.waiting.popleft()
                    m.slots[i] = (job, self.now)
                    self.running += 1
                    m.idle_since = None
                    self.at(self.now + self.durations[job], "finish", (m, i, job, self.now))

    def stop_jobs(self, m: SimMachine, returned_now: bool) -> float:
        """Empty the machine's slots; the work done so far is lost. Seconds lost."""
        lost = 0.0
        for i, slot in enumerate(m.slots):
            if slot is None:
                continue
            job, started = slot
            m.slots[i] = None
            self.running -= 1
            lost += self.now - started
            if returned_now:
                self.waiting.append(job)
                self.interrupted_jobs += 1
            else:  # its message comes back when the visibility timeout ends
                self.hidden += 1
                self.at(max(self.now, started + VISIBILITY_SECONDS), "visible", job)
        return lost

    def terminate(self, m: SimMachine, by_policy: bool) -> None:
        if m.ended is not None:
            return
        lost = self.stop_jobs(m, returned_now=False)
        if by_policy:
            self.lost_seconds += lost
        m.ended = self.now
        self.launch()

    # ------------------------------------------------------------ what the monitor sees

    def load(self) -> QueueLoad:
        return QueueLoad(len(self.waiting), self.running + self.hidden)

    def alive(self) -> list[SimMachine]:
        return [m for m in self.fleet if m.ended is None]

    # ------------------------------------------------------------ the run

    def play(self, poll: Callable[[], bool], fallback: bool = False) -> Result:
        self.waiting.extend(range(len(self.durations)))
        self.target = self.machines
        self.launch()
        self.at(0.0, "poll")
        while self.events:
            self.now, _, kind, what = heapq.heappop(self.events)
            if kind == "poll":
                if poll():
                    break
                self.at(self.now + POLL_SECONDS, "poll")
                continue
            if kind == "finish":
                m, i, job, started = cast(tuple[SimMachine, int, int, float], what)
                if m.slots[i] != (job, started):
                    continue  # that job was stopped before it could finish
                m.slots[i] = None
                self.running -= 1
                self.done += 1
                if not m.busy:
                    m.idle_since = self.now
            elif kind == "ready":
                m = cast(SimMachine, what)
                m.idle_since = self.now
            elif kind == "notice":
                m = cast(SimMachine, what)
                if m.ended is not None:
                    continue
                m.noticed = True
                if self.policy == "ours":  # the worker returns its job at the notice
                    self.stop_jobs(m, returned_now=True)
                self.at(self.now + NOTICE_SECONDS, "interrupted", m)
            elif kind == "interrupted":
                self.terminate(cast(SimMachine, what), by_policy=False)
            elif kind == "visible":
                self.hidden -= 1
                self.waiting.append(cast(int, what))
            self.assign()
        for m in self.fleet:  # teardown
            if m.ended is None:
                m.ended = self.now
        machine_hours = sum(cast(float, m.ended) - m.launched for m in self.fleet) / 3600
        on_demand = sum(cast(float, m.ended) - m.launched for m in self.fleet if m.on_demand) / 3600
        result = Result(
            machine_hours * self.tasks_per_machine,
            sum(self.durations) / 3600,
            machine_hours,
            self.lost_seconds / 3600,
            self.now / 3600,
        )
        return replace(result, on_demand_hours=on_demand) if fallback else result


class SimFleet:
    """The Fleet interface of ds_runtime/control/machines/ec2_fleet.py over a simulated run."""

    def __init__(self, run: Run):
        self.run = run

    def _capacity(self) -> Capacity:
        return Capacity(self.run.target, self.run.on_demand_target)

    def _ask(self, capacity: Capacity) -> None:
        """ModifyFleet: the new target, and the machines it now lacks started."""
        self.run.target, self.run.on_demand_target = capacity.total, capacity.on_demand
        self.run.launch()

    def target(self) -> int | None:
        return self.run.target

    def machines(self) -> list[Machine]:
        # A machine under notice is leaving anyway; one still starting runs no job.
        return [Machine(m.name, m.busy) for m in self.run.alive() if not m.noticed]

    def hold_workers(self, machines: int, nothing_waits: bool) -> None:
        """Nothing to do: a simulated machine is busy exactly while it runs a job."""

    def resize(self, target: int, release: Sequence[str] = ()) -> None:
        released = sum(1 for m in self.run.alive() if m.on_demand and m.name in release)
        self._ask(after_resize(self._capacity(), target, released))
        for m in self.run.alive():
            if m.name in release:
                self.run.terminate(m, by_policy=True)

    def interruptions(self) -> int:
        return self.run.interrupted_jobs

    def capacity_error(self) -> str:
        return ""  # the simulated fleet always finds spot capacity

    def start_on_demand(self, count: int) -> int:
        # The spot machines the fleet lists (as machines() does: one under notice is leaving).
        spot = sum(1 for m in self.run.alive() if not m.on_demand and not m.noticed)
        old = self._capacity()
        self._ask(after_fallback(old, spot, count))
        return self.run.on_demand_target - old.on_demand


def ours(run: Run, idle_after: float, on_demand_after: int = 0) -> Callable[[], bool]:
    """The real monitor, with this run's clock, queue and fleet; it reads no config and no AWS."""
    plan = RunRecord(
        app_name="sim",
        region="us-east-1",
        run_id="sim",
        fleet_id="fleet-sim",
        cluster="sim",
        service="sim",
        task_family="sim",
        queue_name="sim",
        dead_letter_queue="sim",
        bucket="sim",
        log_groups=["sim"],
        start_time_ms=0,
        on_demand_after=on_demand_after,
    )
    quiet = Console(file=io.StringIO())
    ctx = Context(config=None, spec=None, session=None, console=quiet)  # type: ignore[arg-type]
    monitor = Monitor(
        ctx,
        plan,
        interval=0,
        clock=lambda: run.now,
        fleet=SimFleet(run),
        queue=run.load,
        idle_after=idle_after,
        capacity=(run.machines, run.tasks_per_machine),
    )
    return monitor.poll


def ds(run: Run) -> Callable[[], bool]:
    """DS's monitor (checks each minute, shrinks at minutes ending in 9) and its CPU-idle alarms."""

    def poll() -> bool:
        load = run.load()
        if load.empty:
            return True
        alive = run.alive()
        if int(run.now // 60) % 10 == 9 and load.visible == 0 and load.in_flight < len(alive):
            run.target = load.in_flight  # noTermination: nothing stopped by the shrink itself
        for m in alive:
            if m.idle_since is not None and not m.busy and run.now - m.idle_since >= DS_IDLE_ALARM_SECONDS:
                run.terminate(m, by_policy=True)
        return False

    return poll


def durations(jobs: int, rng: random.Random) -> list[float]:
    return [60 * rng.lognormvariate(math.log(MEDIAN_MINUTES), SIGMA) for _ in range(jobs)]


def simulate(
    policy: str,
    run_seconds: Sequence[float],
    machines: int,
    tasks_per_machine: int,
    start_seconds: float,
    interruptions_per_hour: float,
    seed: int,
    idle_after: float = 120.0,
    on_demand_after: int = 0,
) -> Result:
    """`on_demand_after` (0 = off) plays the on-demand fallback under ours only: DS has none."""
    run = Run(
        run_seconds, machines, tasks_per_machine, start_seconds, interruptions_per_hour, policy, random.Random(seed)
    )
    if policy == "ours":
        return run.play(ours(run, idle_after, on_demand_after), fallback=on_demand_after > 0)
    return run.play(ds(run))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--machines", type=int, default=100, help="CLUSTER_MACHINES")
    parser.add_argument("--tasks-per-machine", type=int, default=1, help="job slots per machine")
    parser.add_argument("--start-minutes", type=float, default=3.0, help="launch to first job")
    parser.add_argument("--interruptions-per-hour", type=float, default=0.02, help="per machine")
    parser.add_argument("--idle-seconds", type=float, default=120.0, help="MACHINE_IDLE_SECONDS (ours)")
    parser.add_argument("--on-demand-after", type=int, default=0, help="ON_DEMAND_AFTER_INTERRUPTIONS (ours)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    run_seconds = durations(args.jobs, random.Random(args.seed))
    for policy in POLICIES:
        result = simulate(
            policy,
            run_seconds,
            args.machines,
            args.tasks_per_machine,
            60 * args.start_minutes,
            args.interruptions_per_hour,
            args.seed,
            args.idle_seconds,
            args.on_demand_after,
        )
        print(result.line(policy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
