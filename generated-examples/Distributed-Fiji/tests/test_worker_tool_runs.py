"""Running a tool: what the worker records of it, and what a faulty or hostile tool cannot do to the worker."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ds_runtime.outcomes import MalformedOutcome, Outcome
from ds_runtime.spec import ToolStep
from ds_runtime.worker.joblog import MAX_EVENT_BYTES, JobLog
from ds_runtime.worker.lines import SHOWN_BYTES
from ds_runtime.worker.runner import REAPER_PROCESS, ToolRun, run_tool
from ds_runtime.worker.steps import StepsRun, run_steps

REPO = Path(__file__).resolve().parents[1]


def _run(code: str, *args: str, **kwargs: Any) -> tuple[ToolRun, str, float]:
    """Run Python `code` as the tool; (its run, its output, the wall time run_tool took)."""
    chunks: list[bytes] = []
    start = time.monotonic()
    run = run_tool([sys.executable, "-c", code, *args], ".", chunks.append, threading.Event(), **kwargs)
    return run, b"".join(chunks).decode(errors="replace"), time.monotonic() - start


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"


def _wait_gone(pid: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _gone(pid)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- what is recorded


def test_tool_seconds_count_the_tool_alone() -> None:
    """Not the worker's part: starting a reaper (an interpreter: 15 ms and more) and noticing the end
    (the old per-job reaper polled every 50 ms) were both counted in every run before."""
    sleep = shutil.which("sleep")
    assert sleep
    runs = [run_tool([sleep, "0.2"], ".", lambda _: None, threading.Event()) for _ in range(5)]
    assert all(run.exit_code == 0 and run.seconds >= 0.2 for run in runs)
    assert min(run.seconds for run in runs) < 0.2 + 0.010


def test_the_jobs_of_one_worker_share_one_reaper_and_a_dead_one_is_replaced() -> None:
    """No interpreter start per job; a reaper the tool killed fails only that run, which ends at once."""
    show_parent = "import os; print(os.getppid())"
    first, second = (int(_run(show_parent)[1]) for _ in range(2))
    assert first == second
    kill_parent = "import os, signal, time; os.kill(os.getppid(), signal.SIGKILL); time.sleep(30)"
    run, _, took = _run(kill_parent)
    assert run.exit_code is None and "reaper (worker/reaper.py) died while the tool ran" in run.ending()
    assert took < 10
    again, parent, _ = _run(show_parent)
    assert again.exit_code == 0 and int(parent) != first


def test_a_reaper_that_died_between_two_jobs_is_replaced_and_the_next_job_runs() -> None:
    assert _run("pass")[0].exit_code == 0
    reaper = REAPER_PROCESS.process
    assert reaper is not None
    reaper.kill()  # as the OOM killer might; the worker has not noticed yet
    run, out, _ = _run("print('ran')")
    assert run.exit_code == 0 and out == "ran\n" and REAPER_PROCESS.process is not reaper


def test_a_tool_killed_by_sigkill_is_named_and_not_called_out_of_memory_without_a_sign(tmp_path: Path) -> None:
    run, out, _ = _run("import os, sys; print('last words', flush=True); os.kill(os.getpid(), 9)", cgroup=tmp_path)
    assert run.exit_code == -9 and out == "last words\n"
    assert run.ending() == "the tool was killed by signal 9 (SIGKILL)"


@pytest.mark.parametrize("events", ["memory.events", "memory/memory.oom_control"])  # cgroup v2, v1
def test_a_sigkill_while_the_cgroup_counts_an_oom_kill_is_out_of_memory(tmp_path: Path, events: str) -> None:
    counts = tmp_path / events
    counts.parent.mkdir(exist_ok=True)
    counts.write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    # The tool plays the kernel: the count rises, then SIGKILL.
    oom = "import os, sys; open(sys.argv[1], 'w').write('oom 2\\noom_kill 2\\n'); os.kill(os.getpid(), 9)"
    run, _, _ = _run(oom, str(counts), cgroup=tmp_path)
    assert run.ending() == (
        "the tool was killed by signal 9 (SIGKILL): out of memory: "
        "the kernel's OOM killer ended it (its oom_kill count rose); "
        "raise MEMORY in config.py (then python run.py setup), or lower DOCKER_CORES"
    )


def _memory_cgroup(tmp_path: Path, limit_mb: int) -> Path | None:
    """A real memory cgroup (v1 here, as in an ECS container on cgroup v1) limited to `limit_mb`, seen by the
    worker as its container's (tmp_path/memory -> it); None where this process may not make one."""
    parent = Path("/sys/fs/cgroup/memory")
    if not (parent / "memory.oom_control").exists() or not os.access(parent, os.W_OK):
        return None
    group = parent / f"dsgen-test-{os.getpid()}-{tmp_path.name}"
    try:
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(limit_mb << 20))
    except OSError:
        return None
    (tmp_path / "memory").symlink_to(group)
    return group


def test_a_tool_the_kernel_kills_for_memory_is_recorded_out_of_memory_with_the_fix(tmp_path: Path) -> None:
    """A real kill by the kernel's OOM killer: the tool joins a 64 MB memory cgroup and asks for 512 MB."""
    group = _memory_cgroup(tmp_path, 64)
    if group is None:
        pytest.skip("a real out-of-memory kill needs a writable cgroup v1 memory controller (root on Linux)")
    try:
        hog = "import os, sys; open(sys.argv[1], 'w').write(str(os.getpid())); data = bytearray(512 << 20)"
        run, _, _ = _run(hog, str(group / "cgroup.procs"), cgroup=tmp_path)
    finally:
        with contextlib.suppress(OSError):
            group.rmdir()
    assert run.exit_code == -signal.SIGKILL
    assert run.ending().startswith("the tool was killed by signal 9 (SIGKILL): out of memory: the kernel's OOM killer")
    assert run.ending().endswith("raise MEMORY in config.py (then python run.py setup), or lower DOCKER_CORES")


def test_the_tools_cpu_seconds_are_measured() -> None:
    idle, _, _ = _run("import time; time.sleep(0.3)")
    busy, _, _ = _run("import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass")
    assert idle.cpu_seconds is not None and busy.cpu_seconds is not None
    assert busy.cpu_seconds >= 0.3 > idle.cpu_seconds


def test_a_sigkill_at_the_containers_memory_limit_is_out_of_memory(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text(f"{64 * 2**20}\n")
    run, _, _ = _run("import os; data = b'x' * 80_000_000; os.kill(os.getpid(), 9)", cgroup=tmp_path)
    assert run.peak_mb is not None and run.peak_mb >= 76
    assert f"out of memory: its peak memory {run.peak_mb:.0f} MB reached the container's limit 64 MB" in run.ending()


def test_the_tools_peak_memory_is_measured() -> None:
    small, _, _ = _run("pass")
    large, _, _ = _run("data = b'x' * 100_000_000")
    assert small.peak_mb is not None and large.peak_mb is not None
    assert large.peak_mb - small.peak_mb >= 90  # MiB: 100 MB is 95 MiB


def test_peak_memory_is_optional_in_outcome_records() -> None:
    record = Outcome("abc", 1, "done", "2025-01-02T03:04:05+00:00", "2025-01-02T03:04:06+00:00", 1.0, "host")
    older = record.to_json().replace('"peak_memory_mb": null,', "")  # records written before the field
    assert "peak_memory_mb" not in older and Outcome.from_json(older).peak_memory_mb is None
    measured = record.to_json().replace('"peak_memory_mb": null', '"peak_memory_mb": 812.5')
    assert Outcome.from_json(measured).peak_memory_mb == 812.5
    with pytest.raises(MalformedOutcome, match="peak_memory_mb is str"):
        Outcome.from_json(record.to_json().replace('"peak_memory_mb": null', '"peak_memory_mb": "lots"'))


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("argv", [["tool", 3]], "argv is list"),
        ("settings", {"APP_NAME": 1}, "settings is dict"),
        ("inputs", [{"key": "a.tif", "size": True}], "inputs is list"),
        ("outputs", [["a.csv", 12]], "outputs is list"),
    ],
)
def test_provenance_fields_are_checked_for_their_shape(field: str, value: object, problem: str) -> None:
    record = json.loads(
        Outcome("abc", 1, "done", "2025-01-02T03:04:05+00:00", "2025-01-02T03:04:06+00:00", 1, "h").to_json()
    )
    well_formed = {"argv": [["tool", "-i", "a"]], "settings": {"APP_NAME": "x"}, "inputs": [{"key": "a", "size": 3}]}
    assert Outcome.from_json(json.dumps(record | well_formed)).argv == [["tool", "-i", "a"]]
    with pytest.raises(MalformedOutcome, match=problem):
        Outcome.from_json(json.dumps(record | {field: value}))


# ---------------------------------------------------------------- what a tool cannot do to the worker

DAEMON = """
import os, signal, sys, time
if os.fork() == 0:  # a double fork in a session of its own: a daemon, holding the tool's output
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid()))
        os.rename(sys.argv[1] + '.tmp', sys.argv[1])
        time.sleep(30)
    os._exit(0)
os.wait()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
"""


def test_a_detached_process_holding_the_output_ends_with_the_tool(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    run, out, took = _run(DAEMON + "print('tool done', flush=True)", str(pid_file))
    daemon = int(pid_file.read_text())
    try:
        assert run.exit_code == 0 and out == "tool done\n" and not run.note
        assert took < 10 and _wait_gone(daemon)
    finally:
        _kill(daemon)


def test_a_tool_that_kills_its_reaper_cannot_hold_the_worker_with_a_detached_process(tmp_path: Path) -> None:
    """Nothing ends the daemon then (its reaper is gone): the worker stops reading its output instead."""
    pid_file = tmp_path / "daemon.pid"
    run, _, took = _run(DAEMON + "os.kill(os.getppid(), signal.SIGKILL); time.sleep(30)", str(pid_file))
    _kill(int(pid_file.read_text()))
    assert run.exit_code is None and took < 15
    assert "output was still open 2 s after it ended (a process it detached holds it)" in run.note


# ---------------------------------------------------------------- long lines


class FakeLogs:
    class exceptions:
        class ResourceAlreadyExistsException(Exception):
            pass

    def __init__(self) -> None:
        self.events: list[str] = []

    def create_log_stream(self, **_: Any) -> None:
        pass

    def put_log_events(self, logEvents: list[dict[str, Any]], **_: Any) -> None:
        assert sum(len(e["message"].encode()) + 26 for e in logEvents) <= 1_048_576  # CloudWatch's batch limit
        self.events += [e["message"] for e in logEvents]


def test_long_lines_are_shown_cut_with_a_marker_and_kept_whole_in_the_jobs_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs = FakeLogs()
    joblog = JobLog(logs, "group", "stream", "job1")
    long, wide, binary = "x" * 300_000, "é" * 200_000, b"\xff" * 100_000
    data = b"short\n" + long.encode() + b"\r\n" + wide.encode() + b"\n" + binary + b"\nno newline"
    for at in range(0, len(data), 4096):  # as a pipe gives it: pieces cut anywhere, inside a character too
        joblog.output(data[at : at + 4096])
    joblog.line("the tool exited")
    joblog.close()
    events = logs.events
    assert all(0 < len(e.encode()) <= MAX_EVENT_BYTES for e in events)
    assert events[0] == "short" and events[-2:] == ["no newline", "the tool exited"]
    assert "".join(events[1:-2]) == long + wide + "\ufffd" * len(binary)  # every byte, in events CloudWatch takes
    shown = list(joblog.tail)
    assert shown[0] == "short" and shown[-2:] == ["no newline", "the tool exited"]
    assert shown[1] == "x" * SHOWN_BYTES + " [... 298,000 more bytes cut: the whole line is in the job's log]"
    assert shown[2] == "é" * (SHOWN_BYTES // 2) + " [... 398,000 more bytes cut: the whole line is in the job's log]"
    assert shown[3].endswith(" [... 98,000 more bytes cut: the whole line is in the job's log]")
    out = capsys.readouterr().out
    assert f"[job1] {shown[1]}\n" in out and len(out) < 5 * SHOWN_BYTES * 2


HUGE_LINE = """
import resource, sys, threading
from ds_runtime.worker.joblog import JobLog
from ds_runtime.worker.runner import run_tool

class Discard:
    class exceptions:
        ResourceAlreadyExistsException = KeyError
    def create_log_stream(self, **_): pass
    def put_log_events(self, **_): pass

joblog = JobLog(Discard(), "group", "stream", "job")
joblog.line("warm up")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tool = [sys.executable, "-c", "import sys; sys.stdout.write('y' * 50_000_000)"]
run = run_tool(tool, ".", joblog.output, threading.Event())
joblog.close()
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(f"exit {run.exit_code} grown {grown // 1024} MiB", file=sys.stderr)
"""


def test_a_huge_line_does_not_blow_up_the_workers_memory() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HUGE_LINE], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    exit_code, grown = done.stderr.split()[1], int(done.stderr.split()[3])
    assert exit_code == "0" and grown < 25, done.stderr[-2000:]
    assert "[... 49,998,000 more bytes cut" in done.stdout and len(done.stdout) < 10_000


# ---------------------------------------------------------------- steps and their stdout files


def test_a_tools_standard_output_goes_to_its_file_and_its_errors_to_the_log(tmp_path: Path) -> None:
    code = "import sys; print('data line'); print('a warning', file=sys.stderr)"
    run, output, _ = _run(code, stdout=str(tmp_path / "out.txt"))
    assert run.exit_code == 0
    assert (tmp_path / "out.txt").read_text() == "data line\n"
    assert "a warning" in output and "data line" not in output


def test_a_symbolic_link_at_a_stdout_path_is_refused_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "out.txt").symlink_to(outside)
    run, _, _ = _run("print('overwritten')", stdout=str(tmp_path / "job" / "out.txt"))
    assert run.exit_code is None and "cannot write its standard output to" in run.problem
    assert outside.read_text() == "keep me"


def _run_steps(steps: list[ToolStep], folder: Path, timeout: float = 0) -> tuple[StepsRun, list[str]]:
    """Run the steps in `folder`; (how they ran, the job's log: the worker's lines and the tools' output)."""
    logs = FakeLogs()
    log = JobLog(logs, "group", "stream", "job")
    ran = run_steps(steps, str(folder), log, threading.Event(), timeout, str(folder))
    log.close()
    return ran, logs.events


def _python_step(code: str, stdout: str = "") -> ToolStep:
    return ToolStep([sys.executable, "-c", code], stdout)


def test_steps_run_in_order_in_the_job_folder_each_reading_what_the_one_before_wrote(tmp_path: Path) -> None:
    steps = [
        _python_step("print('one')", stdout=str(tmp_path / "output" / "sub" / "first.txt")),
        _python_step("import pathlib; print(pathlib.Path('output/sub/first.txt').read_text().strip() + ' two')"),
        _python_step("import os; print(os.getcwd())", stdout=str(tmp_path / "cwd.txt")),
    ]
    ran, log = _run_steps(steps, tmp_path)
    python = Path(sys.executable).name
    assert (ran.run.exit_code, ran.not_run, ran.who) == (0, 0, f"step 3 of 3 ({python})")
    assert "one two" in log and "one" not in log  # the first step's output went to its file
    assert (tmp_path / "cwd.txt").read_text().strip() == str(tmp_path)
    assert log[0].startswith(f"step 1 of 3 ({python}), running: [")
    assert log[0].endswith(", its output into output/sub/first.txt")
    assert log[1].startswith(f"step 1 of 3 ({python}) exited with code 0 after ")
    assert [line.split(" after ")[0] for line in log if "exited" in line] == [
        f"step {n} of 3 ({python}) exited with code 0" for n in (1, 2, 3)
    ]


def test_the_first_failing_step_ends_the_run_named_and_the_rest_do_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    steps = [
        _python_step("print('fine')"),
        _python_step("import sys; print('broken input', file=sys.stderr); sys.exit(3)"),
        ToolStep(["touch", str(marker)]),
    ]
    ran, log = _run_steps(steps, tmp_path)
    python = Path(sys.executable).name
    assert (ran.run.exit_code, ran.who, ran.not_run) == (3, f"step 2 of 3 ({python})", 1)
    assert not marker.exists()
    assert log[-2] == "broken input" and log[-1].startswith(f"step 2 of 3 ({python}) exited with code 3 after")


def test_a_step_that_cannot_start_is_named(tmp_path: Path) -> None:
    steps = [ToolStep(["true"]), ToolStep([str(tmp_path / "no-such-program")]), ToolStep(["true"])]
    ran, _ = _run_steps(steps, tmp_path)
    assert ran.run.exit_code is None and ran.not_run == 1
    assert ran.run.ending(ran.who).startswith("step 2 of 3 (no-such-program): ")


def test_job_timeout_counts_every_step_together(tmp_path: Path) -> None:
    steps = [_python_step("import time; time.sleep(0.6)"), _python_step("import time; time.sleep(30)")]
    start = time.monotonic()
    ran, _ = _run_steps(steps, tmp_path, timeout=1.0)
    assert ran.run.timed_out and ran.who.startswith("step 2 of 2") and time.monotonic() - start < 15
