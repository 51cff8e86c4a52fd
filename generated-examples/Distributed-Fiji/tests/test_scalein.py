"""The scale rules: only machines that run no job go, only while nothing waits; waiting jobs get machines back."""

from __future__ import annotations

from ds_runtime.aws import QueueLoad
from ds_runtime.control.machines.scalein import Machine, ScaleIn, decide, idle_since, scale_out

BUSY, IDLE = Machine("i-busy", True), Machine("i-idle", False)


def test_idle_since_remembers_the_first_idle_sighting_and_forgets_busy_machines() -> None:
    first = idle_since({}, [BUSY, IDLE], now=10)
    assert first == {"i-idle": 10}
    assert idle_since(first, [BUSY, IDLE], now=50) == {"i-idle": 10}
    assert idle_since(first, [BUSY, Machine("i-idle", True)], now=60) == {}


def test_nothing_changes_while_jobs_wait() -> None:
    assert decide(QueueLoad(3, 1), [BUSY, IDLE], 2, {"i-idle": 0}, now=1000, idle_after=60) is None


def test_idle_machines_go_after_the_grace_and_busy_ones_stay() -> None:
    idle = {"i-idle": 0.0}
    assert decide(QueueLoad(0, 1), [BUSY, IDLE], 2, idle, now=59, idle_after=60) is None
    assert decide(QueueLoad(0, 1), [BUSY, IDLE], 2, idle, now=60, idle_after=60) == ScaleIn(1, ("i-idle",))


def test_machines_not_yet_started_are_no_longer_asked_for() -> None:
    assert decide(QueueLoad(0, 1), [BUSY], 5, {}, now=0, idle_after=60) == ScaleIn(1, ())


def test_one_machine_stays_while_a_job_may_come_back() -> None:
    """All machines idle but a job in flight (a retry waiting out its delay): the newest idle one stays."""
    machines = [Machine("i-a", False), Machine("i-b", False)]
    change = decide(QueueLoad(0, 1), machines, 2, {"i-a": 0, "i-b": 30}, now=500, idle_after=60)
    assert change == ScaleIn(1, ("i-a",))


def test_jobs_waiting_again_raise_the_capacity_to_what_they_need_never_above_cluster_machines() -> None:
    # 5 waiting + 1 running on 2 slots per machine need 3 machines; the fleet asks for 1 after scale-in.
    assert scale_out(QueueLoad(5, 1), target=1, most=10, slots_per_machine=2) == 3
    assert scale_out(QueueLoad(500, 1), target=1, most=10, slots_per_machine=2) == 10  # CLUSTER_MACHINES
    assert scale_out(QueueLoad(1, 1), target=1, most=10, slots_per_machine=2) is None  # one machine is enough
    assert scale_out(QueueLoad(0, 9), target=1, most=10, slots_per_machine=2) is None  # nothing waits
    assert scale_out(QueueLoad(50, 0), target=10, most=10, slots_per_machine=1) is None  # already all asked for
