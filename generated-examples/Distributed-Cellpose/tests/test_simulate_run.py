"""bench/simulate_run.py against a run small enough to work out by hand."""

from __future__ import annotations

import pytest
from bench.simulate_run import main, simulate

MINUTE = 60.0


def test_worked_example_both_policies() -> None:
    """Two machines (one job slot each, 3 minutes to start), jobs of 60, 20 and 20 minutes, no interruptions.

    Both machines start at 3:00. Machine 0 runs the 60-minute job, 3:00-63:00. Machine 1 runs
    the two 20-minute jobs, 3:00-23:00 and 23:00-43:00, then idles with nothing waiting.
    ours: the monitor (every minute) first sees machine 1 idle at 43:00 and releases it once
    it has been idle MACHINE_IDLE_SECONDS = 120 s, at 45:00; at 63:00 the queue is empty and
    the run ends. Billed 63 + 45 = 108 machine-minutes for 100 job-minutes: 1.08; 1.05 h.
    ds: at 49:00 (a minute ending in 9) the target drops to the 1 job in flight, stopping
    nothing; machine 1's idle alarm fires after 15 idle minutes, at 58:00; the run ends at
    63:00. Billed 63 + 58 = 121 machine-minutes: 1.21; 1.05 h. Neither stops a job.
    """
    jobs = [60 * MINUTE, 20 * MINUTE, 20 * MINUTE]
    common = dict(machines=2, tasks_per_machine=1, start_seconds=3 * MINUTE, interruptions_per_hour=0, seed=0)
    ours = simulate("ours", jobs, idle_after=120, **common)  # type: ignore[arg-type]
    ds = simulate("ds", jobs, **common)  # type: ignore[arg-type]
    assert ours.billed_slot_hours == ours.machine_hours == pytest.approx(108 / 60)
    assert ours.job_hours == pytest.approx(100 / 60)
    assert (ours.lost_job_hours, ours.finish_hours) == (0, pytest.approx(63 / 60))
    assert ds.billed_slot_hours == pytest.approx(121 / 60)
    assert (ds.lost_job_hours, ds.finish_hours) == (0, pytest.approx(63 / 60))
    assert ours.line("ours") == (
        "ours: billed machine-hours 1.8, job-hours 1.7, billed/job-hours 1.08, job-hours lost 0.0, finish 1.05 h"
    )
    assert ds.line("ds") == (
        "ds: billed machine-hours 2.0, job-hours 1.7, billed/job-hours 1.21, job-hours lost 0.0, finish 1.05 h"
    )


def test_slots_count_per_machine() -> None:
    """Two slots on one machine: a 30- and a 10-minute job, started at 1:00; the machine bills 2 slots until 31:00."""
    result = simulate("ours", [30 * MINUTE, 10 * MINUTE], 1, 2, MINUTE, 0, seed=0)
    assert result.billed_slot_hours == pytest.approx(2 * 31 / 60) and result.machine_hours == pytest.approx(31 / 60)
    assert result.ratio == pytest.approx(62 / 40)


def test_prints_one_line_per_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--jobs", "200", "--machines", "10", "--interruptions-per-hour", "0.5", "--seed", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["ds", "ours"]
    assert all(" billed machine-hours " in line and ", job-hours " in line for line in lines)
    assert all(" billed/job-hours " in line and " job-hours lost " in line and line.endswith(" h") for line in lines)
    assert "job-hours lost 0.0," in lines[1]  # our monitor never stops a machine running a job


def test_on_demand_fallback_replaces_interrupted_machines() -> None:
    """Twenty 1-hour jobs on 4 one-slot machines, each interrupted twice an hour on average (seed 0)."""
    jobs = [60 * MINUTE] * 20
    common = dict(machines=4, tasks_per_machine=1, start_seconds=3 * MINUTE, interruptions_per_hour=2, seed=0)
    spot_only = simulate("ours", jobs, **common)  # type: ignore[arg-type]
    fallback = simulate("ours", jobs, on_demand_after=1, **common)  # type: ignore[arg-type]
    assert spot_only.on_demand_hours is None and fallback.on_demand_hours
    # On-demand machines are never interrupted: the hour-long jobs finish sooner, and never more than
    # the 4 machines asked for run at once, so the on-demand hours are at most 4 x the run's hours.
    assert fallback.finish_hours < spot_only.finish_hours
    assert fallback.on_demand_hours <= 4 * fallback.finish_hours
    assert simulate("ds", jobs, on_demand_after=1, **common).on_demand_hours is None  # type: ignore[arg-type]


def test_prints_the_on_demand_hours_with_the_fallback(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--jobs", "200", "--machines", "10", "--interruptions-per-hour", "0.5", "--seed", "3"]
    assert main([*args, "--on-demand-after", "2"]) == 0
    ds, ours = capsys.readouterr().out.splitlines()
    assert " on-demand" not in ds and ours.split(", on-demand machine-hours ")[1].replace(".", "").isdigit()
