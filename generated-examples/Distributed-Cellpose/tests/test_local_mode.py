"""Local mode: run.py's commands on this computer, with an emulator and local worker processes.

Each test builds a small repository (this ds_runtime, a toy tool, DS-format config,
Job and Fleet files) and runs run.py as a user would, in a subprocess. Afterwards no
worker or emulator process may be left, and the emulator's port must be closed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ds_runtime.local.workers import alive

from ._control_support import SPEC, fleet_data, write_config, write_job_file

REPO = Path(__file__).resolve().parents[1]
TOY_TOOL = Path(__file__).with_name("toy_tool.py")
JOBS = 4


def _answers(endpoint_url: str) -> bool:
    host, port = endpoint_url.removeprefix("http://").rsplit(":", 1)
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((host, int(port))) == 0


def _running_in(repo: Path) -> set[int]:
    """Every process whose working folder is the repository: its workers, its emulator, run.py itself."""
    found = set()
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if Path(os.readlink(cwd)).is_relative_to(repo.resolve()):
                found.add(int(cwd.parent.name))
        except OSError:
            continue
    return found


@pytest.fixture
def local_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "tool").mkdir(parents=True)
    (repo / "ds_runtime").symlink_to(REPO / "ds_runtime")
    (repo / "run.py").write_text((REPO / "run.py").read_text())
    command = [sys.executable, str(TOY_TOOL), "{output_dir}", "--files", "2", "--echo", "--", "{sample}"]
    (repo / "tool" / "spec.json").write_text(json.dumps({**SPEC, "command": command}))
    write_config(
        repo,
        AWS_BUCKET="'local-test-bucket'",
        CLUSTER_MACHINES="1",
        TASKS_PER_MACHINE="2",
        SQS_MESSAGE_VISIBILITY="30",
    )
    (repo / "files").mkdir()
    _temp_folder(repo).mkdir()
    write_job_file(repo / "files", JOBS)
    (repo / "files" / "fleet.json").write_text(json.dumps(fleet_data()))  # the example's stand-in ids, as is
    return repo


def run_py(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"} | {"TMPDIR": str(_temp_folder(repo))}
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )


def _check_outputs(folder: Path) -> None:
    for i in range(JOBS):
        job_outputs = folder / "projects" / "echo" / "outputs" / f"sample-{i}"
        assert json.loads((job_outputs / "argv.json").read_text()) == ["--files", "2", "--echo", "--", f"sample-{i}"]
        assert len([p for p in job_outputs.rglob("*") if p.is_file()]) == 3  # 2 files + argv.json


def _temp_files(repo: Path) -> list[Path]:
    """What run.py and its workers left in their temp folder: a worker killed (not stopped by
    SIGTERM, as from ECS, in time) leaves its temp root there."""
    return list(_temp_folder(repo).iterdir())


def _temp_folder(repo: Path) -> Path:
    return repo.parent / "tmp"


def _check_report(repo: Path, stdout: str) -> None:
    """The run's report is written before the teardown, its path printed, with every job's bar."""
    reports = list((repo / "files" / "reports").glob("DistributedEcho-*.html"))
    assert len(reports) == 1 and f"run report: {reports[0]}" in stdout
    page = reports[0].read_text()
    assert page.count('<rect class="attempt done"') == JOBS
    assert f'data-state="done"><b>{JOBS}</b>' in page


@pytest.mark.slow
def test_local_run_does_the_whole_lifecycle_and_leaves_nothing_running(local_repo: Path) -> None:
    real_run = local_repo / "files" / "DistributedEchoSpotFleetRequestId.json"  # a real run's, being monitored
    real_run.write_text('{"fleet_id": "sfr-of-a-real-run"}')
    done = run_py(local_repo, "localRun", "files/job.json", "--fleet", "files/fleet.json", "--outputs", "out")
    assert done.returncode == 0, done.stdout + done.stderr
    assert real_run.read_text() == '{"fleet_id": "sfr-of-a-real-run"}', "localRun touched a real run's monitor file"
    assert sorted(p.name for p in (local_repo / "files").iterdir()) == sorted(
        ["fleet.json", "job.json", real_run.name, "reports"]
    )
    assert f"│ done                   │ {JOBS}" in done.stdout
    _check_outputs(local_repo / "out")
    _check_report(local_repo, done.stdout)
    # The emulator served from run.py's own process: with it and its workers gone, its port is closed.
    assert not _running_in(local_repo), "run.py, a worker or the emulator is still running"
    assert _temp_files(local_repo) == [], "a worker was killed"


@pytest.mark.slow
def test_the_four_commands_with_local_flag_share_one_emulator(local_repo: Path) -> None:
    for command in (["setup"], ["submitJob", "files/job.json"], ["startCluster", "files/fleet.json"]):
        done = run_py(local_repo, "--local", *command)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    state = json.loads((local_repo / ".local" / "state.json").read_text())
    assert len(state["task_pids"]) == 2 and _answers(state["endpoint_url"])
    monitor_file = "files/DistributedEchoSpotFleetRequestId.json"
    done = run_py(local_repo, "--local", "monitor", monitor_file, "--interval", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "delete queue" in done.stdout and "bucket saved" in done.stdout
    _check_report(local_repo, done.stdout)
    _check_outputs(local_repo / "local-outputs")
    assert not (local_repo / ".local" / "state.json").exists()
    assert not _answers(state["endpoint_url"]), "the emulator's port is still open"
    assert not _running_in(local_repo), "a worker or emulator process is still running"
    assert _temp_files(local_repo) == [], "a worker was killed"


@pytest.mark.slow
def test_local_stop_ends_an_abandoned_run_and_keeps_the_bucket(local_repo: Path) -> None:
    for command in (["setup"], ["submitJob", "files/job.json"], ["startCluster", "files/fleet.json"]):
        assert run_py(local_repo, "--local", *command).returncode == 0
    state = json.loads((local_repo / ".local" / "state.json").read_text())
    done = run_py(local_repo, "localStop")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bucket saved" in done.stdout
    assert not _answers(state["endpoint_url"]), "the emulator's port is still open"
    assert not _running_in(local_repo), "a worker or emulator process is still running"
    assert _temp_files(local_repo) == [], "a worker was killed"
    assert not (local_repo / ".local" / "state.json").exists()
    assert run_py(local_repo, "localStop").stdout.strip() == "local mode: nothing is running here"


@pytest.mark.slow
def test_a_dead_emulator_is_refused_never_replaced_by_an_empty_one(local_repo: Path) -> None:
    for command in (["setup"], ["submitJob", "files/job.json"], ["startCluster", "files/fleet.json"]):
        assert run_py(local_repo, "--local", *command).returncode == 0
    state_file = local_repo / ".local" / "state.json"
    state = json.loads(state_file.read_text())
    os.kill(state["emulator_pid"], signal.SIGKILL)  # the emulator dies mid-run (out of memory, a closed laptop)
    deadline = time.monotonic() + 10
    while _answers(state["endpoint_url"]) and time.monotonic() < deadline:
        time.sleep(0.1)

    monitor_file = "files/DistributedEchoSpotFleetRequestId.json"
    done = run_py(local_repo, "--local", "monitor", monitor_file, "--interval", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"the emulator of the run {state['run_id']}" in done.stderr and "no longer answers" in done.stderr
    assert "python run.py localStop" in done.stderr and "--local setup" in done.stderr
    assert "tearing the run down" not in done.stdout and "bucket saved" not in done.stdout
    assert json.loads(state_file.read_text()) == state, "another emulator was started in its place"
    assert not _answers(state["endpoint_url"])

    stop = run_py(local_repo, "localStop")
    assert stop.returncode == 0 and "nothing could be saved" in stop.stdout, stop.stdout + stop.stderr
    assert not state_file.exists() and not _running_in(local_repo), "a worker is still running"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["localRun", "files/job.json", "--inputs", "no-such-folder"], "no-such-folder: input folder not found"),
        (["localRun", "files/broken.json"], "broken.json: not valid JSON (line 1"),
        (["--local", "submitJob", "files/missing.json"], "missing.json: not found"),
        (["localRun", "files/job.json", "--inputs", "files", "--inputs-bucket", "x-y-z"], "--inputs-bucket x-y-z: not"),
        (["localRun", "files/nul.json"], "groups[1]: sample: holds a NUL byte"),
        (["localRun", "files/long.json"], "is 1025 bytes, over S3's 1024"),
    ],
)
def test_bad_input_in_local_mode_gets_the_same_clear_errors(local_repo: Path, args: list[str], message: str) -> None:
    (local_repo / "files" / "broken.json").write_text('{"groups": [')
    job = json.loads((local_repo / "files" / "job.json").read_text())
    (local_repo / "files" / "nul.json").write_text(json.dumps({**job, "groups": [{"sample": "a"}, {"sample": "b\0"}]}))
    (local_repo / "files" / "long.json").write_text(json.dumps({**job, "input": "i" * 1025}))
    done = run_py(local_repo, *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not _running_in(local_repo), "bad input started something"
    assert not (local_repo / ".local" / "state.json").exists()


@pytest.mark.slow
def test_local_run_fetches_outputs_from_the_bucket_they_went_to(local_repo: Path) -> None:
    """DCP's DESTINATION_BUCKET: the emulator has the bucket, the workers write there, and the
    outputs come back under _buckets/<bucket>/ (AWS_BUCKET keeps only the outcome records)."""
    spec = json.loads((local_repo / "tool" / "spec.json").read_text())
    spec.update(output_bucket="config.DESTINATION_BUCKET", config_keys=["ECHO_MODE", "DESTINATION_BUCKET"])
    (local_repo / "tool" / "spec.json").write_text(json.dumps(spec))
    with (local_repo / "config.py").open("a") as config:
        config.write("DESTINATION_BUCKET = 'local-results'\n")
    done = run_py(local_repo, "localRun", "files/job.json", "--fleet", "files/fleet.json", "--outputs", "out")
    assert done.returncode == 0, done.stdout + done.stderr
    _check_outputs(local_repo / "out" / "_buckets" / "local-results")
    assert not (local_repo / "out" / "projects").exists()


@pytest.mark.slow
def test_local_run_stops_when_every_worker_task_failed_its_startup(local_repo: Path) -> None:
    spec = json.loads((local_repo / "tool" / "spec.json").read_text())
    spec["startup"] = [{"run": [sys.executable, "-c", "raise SystemExit(5)"]}]
    (local_repo / "tool" / "spec.json").write_text(json.dumps(spec))
    done = run_py(local_repo, "localRun", "files/job.json", "--fleet", "files/fleet.json", "--outputs", "out")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"all 2 local worker task(s) exited with {JOBS} job(s) left" in done.stdout
    logs = sorted((local_repo / ".local" / "workers").glob("task-*.log"))
    assert len(logs) == 2 and all("startup[0] failed: " in log.read_text() for log in logs)
    assert not _running_in(local_repo), "run.py, a worker or the emulator is still running"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_a_task_that_has_exited_counts_as_stopped_before_anyone_collects_it() -> None:
    """A task an earlier command started is init's child once that command ends; some inits collect
    an exited child seconds late, and a stop must not wait for that."""
    code = "import subprocess, time; child = subprocess.Popen(['true']); print(child.pid, flush=True); time.sleep(60)"
    holder = [sys.executable, "-c", code]
    parent = subprocess.Popen(holder, stdout=subprocess.PIPE, text=True)  # never collects its child
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        stat = Path(f"/proc/{pid}/stat")
        deadline = time.monotonic() + 10
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":  # exited, not collected
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.05)
        assert not alive(pid)
        assert alive(parent.pid)
    finally:
        parent.kill()
        parent.wait()
