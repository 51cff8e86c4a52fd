"""How many machines to ask for: the scale-in and scale-out rules that `monitor` and
bench/simulate_run.py share.

Pure: they see the queue's counts, each machine's busy state and when it was first seen
idle, and the time; they decide. Only a machine that runs no job is ever released, and
only while no job waits; the fleet's asked-for capacity drops to the machines kept, so
AWS (told `noTermination`) stops nothing by itself. When jobs wait again (an interrupted
job sent back, a retry after its delay), the capacity rises again to what they need, never
above CLUSTER_MACHINES: a shrunk fleet would otherwise run the returned jobs on the few
machines left.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ...aws import QueueLoad


@dataclass(frozen=True)
class Machine:
    instance_id: str
    busy: bool  # runs at least one job (on AWS: its ECS container instance runs a task)


@dataclass(frozen=True)
class ScaleIn:
    target: int  # the fleet's new asked-for capacity
    release: tuple[str, ...]  # instance ids to terminate, all idle


def idle_since(previous: Mapping[str, float], machines: list[Machine], now: float) -> dict[str, float]:
    """When each idle machine was first seen idle (a machine seen busy starts over)."""
    return {m.instance_id: previous.get(m.instance_id, now) for m in machines if not m.busy}


def decide(
    load: QueueLoad, machines: list[Machine], target: int, idle: Mapping[str, float], now: float, idle_after: float
) -> ScaleIn | None:
    """The change to make, or None. `idle` comes from idle_since; `idle_after` is the grace in seconds."""
    if load.visible > 0:
        return None  # waiting jobs will reach the idle machines
    due = sorted(
        (m.instance_id for m in machines if not m.busy and now - idle.get(m.instance_id, now) >= idle_after),
        key=lambda i: (idle[i], i),
    )
    if due and len(due) == len(machines) and not load.empty:
        # A job may still come back (a retry waits out its delay in flight): keep the newest idle machine.
        due.pop()
    # Machines still to come are not needed either; at least one stays asked for while jobs remain.
    new_target = min(target, max(len(machines) - len(due), 0 if load.empty else 1))
    if not due and new_target == target:
        return None
    return ScaleIn(new_target, tuple(due))


def scale_out(load: QueueLoad, target: int, most: int, slots_per_machine: int) -> int | None:
    """The capacity to ask for again when jobs wait and the fleet asks for fewer machines than they need
    (at most `most`, CLUSTER_MACHINES), or None."""
    if load.visible == 0 or target >= most:
        return None
    needed = min(most, math.ceil((load.visible + load.in_flight) / max(slots_per_machine, 1)))
    return needed if needed > target else None
