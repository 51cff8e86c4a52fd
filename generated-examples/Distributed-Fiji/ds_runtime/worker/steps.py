"""A job's programs, one after another in its folder, each a tool run of its own (runner.py).

A single command is one step, logged as ever ("running: [...]", "the tool exited with code 0").
With several, each is named "step N of M (program)" in the log and in why the job failed; a
step that does not end with exit code 0 ends the job there, and the steps after it do not run:
the last step's exit code is the done rule's to judge, as a single command's is. JOB_TIMEOUT
counts all the steps together.
"""

from __future__ import annotations

import dataclasses
import posixpath
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..spec import ToolStep
from .joblog import JobLog
from .runner import ToolRun, run_tool


@dataclass(frozen=True)
class StepsRun:
    run: ToolRun  # the last step that ran, with the seconds of all the steps and the largest peak memory
    who: str  # which program that was: "the tool", or "step 2 of 3 (samtools)"
    not_run: int = 0  # steps left out after it


def step_name(steps: list[ToolStep], index: int) -> str:
    """How the log and a failure name a step."""
    if len(steps) == 1:
        return "the tool"
    program = posixpath.basename(steps[index].argv[0]) if steps[index].argv else "nothing"
    return f"step {index + 1} of {len(steps)} ({program})"


def run_steps(
    steps: list[ToolStep], cwd: str, log: JobLog, stop: threading.Event, timeout: float, job_folder: str
) -> StepsRun:
    """Run the steps in order in `cwd` until one fails, the worker is asked to stop or `timeout`
    seconds (0: none) have passed; their output goes to the job's log, as it comes."""
    start = time.monotonic()
    seconds, peaks, cpu = 0.0, [], 0.0
    for index, step in enumerate(steps):
        who = step_name(steps, index)
        _log_start(log, step, who, cwd)
        left = max(timeout - (time.monotonic() - start), 0.001) if timeout else 0.0
        run = _run_one(step, cwd, log, stop, left, job_folder)
        if run.problem and len(steps) > 1:
            run = dataclasses.replace(run, problem=f"{who}: {run.problem}")
        seconds += run.seconds
        cpu += run.cpu_seconds or 0.0
        peaks += [run.peak_mb] if run.peak_mb is not None else []
        memory = f", peak memory {run.peak_mb:.0f} MB" if run.peak_mb is not None else ""
        log.line(f"{run.ending(who)} after {run.seconds:.1f} s{memory}")
        if run.note:
            log.line(run.note)
        run = dataclasses.replace(run, seconds=seconds, peak_mb=max(peaks) if peaks else None, cpu_seconds=cpu)
        not_run = len(steps) - index - 1
        if not_run and (run.exit_code != 0 or run.stopped or run.timed_out):
            return StepsRun(run, who, not_run)
        out_of_time = bool(timeout) and time.monotonic() - start >= timeout
        if not_run and (stop.is_set() or out_of_time):  # between two steps: the next does not start
            return StepsRun(dataclasses.replace(run, stopped=stop.is_set(), timed_out=not stop.is_set()), who, not_run)
    return StepsRun(run, who)


def _run_one(step: ToolStep, cwd: str, log: JobLog, stop: threading.Event, timeout: float, job_folder: str) -> ToolRun:
    if step.stdout:
        try:  # its folder is inside the job's (JobView checked the path)
            Path(step.stdout).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return ToolRun(None, 0.0, problem=f"cannot make the folder for its standard output: {exc}")
    return run_tool(step.argv, cwd, log.output, stop, timeout, job_folder=job_folder, stdout=step.stdout)


def _log_start(log: JobLog, step: ToolStep, who: str, cwd: str) -> None:
    into = f", its output into {posixpath.relpath(step.stdout, cwd)}" if step.stdout else ""
    log.line(f"running: {step.argv!r}{into}" if who == "the tool" else f"{who}, running: {step.argv!r}{into}")
