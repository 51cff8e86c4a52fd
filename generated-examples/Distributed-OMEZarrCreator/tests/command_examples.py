"""The commands page's example outputs, from a real run: run.py's commands in local mode on a toy tool
(DistributedEcho), one session sharing one emulator, in the order a user runs them.

    python -m tests.command_examples   # run it; rewrite ds_runtime/control/examples.json and docs/commands.md

tests/test_docs.py runs the same session and fails when what a command prints has changed. What
differs from run to run (times, ids, durations, the temporary folder) is replaced by fixed text.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from ds_runtime.control.cli import COMMANDS
from ds_runtime.control.docs import EXAMPLES_FILE, PAGES, read_examples

from ._control_support import APP, fleet_data, write_config, write_job_file

REPO = Path(__file__).resolve().parents[1]
TOY_TOOL = Path(__file__).with_name("toy_tool.py")
JOBS = 4
MONITOR_FILE = f"files/{APP}SpotFleetRequestId.json"
WAIT_SECONDS = 180  # for the run's jobs to finish before `status` is shown

# (the command whose output is shown, or None for a step only the next ones need; run.py's arguments)
SESSION: list[tuple[str | None, list[str]]] = [
    ("check", ["--local", "check", "files/exampleJob.json", "files/exampleFleet.json"]),
    (
        "makeJobs",
        [
            "makeJobs",
            "table",
            "samples.csv",
            "--set",
            "input=projects/echo/inputs/",
            "--set",
            "output=projects/echo/outputs",
            "--out",
            "files/fromTable.json",
        ],
    ),
    ("setupAccount", ["--local", "setupAccount"]),
    ("setup", ["--local", "setup"]),
    ("uploadInputs", ["--local", "uploadInputs", "inputs", "projects/echo/inputs"]),
    ("estimate", ["--local", "estimate", "files/exampleJob.json", "--job-seconds", "30"]),
    ("submitJob", ["--local", "submitJob", "files/exampleJob.json"]),
    ("startCluster", ["--local", "startCluster", "files/exampleFleet.json", "--yes"]),
    ("status", ["--local", "status"]),  # once every job is done (wait_for_jobs)
    ("retryFailed", ["--local", "retryFailed"]),
    ("report", ["--local", "report"]),
    ("export", ["--local", "export", "--ro-crate", "crate", "--job-file", "files/exampleJob.json"]),
    ("downloadOutputs", ["--local", "downloadOutputs", "projects/echo/outputs/", "my-results"]),
    ("cleanup", ["--local", "cleanup", "--dry-run"]),
    ("monitor", ["--local", "monitor", MONITOR_FILE, "--interval", "1"]),
    (None, ["--local", "setup"]),  # an emulator again (local mode makes the roles), for the next two
    ("undoAccount", ["--local", "undoAccount"]),
    ("localStop", ["localStop"]),
    ("localRun", ["localRun", "files/exampleJob.json", "--fleet", "files/exampleFleet.json"]),
]
# Commands the session cannot run, with the output shown typed by hand, and why.
TYPED = {"buildImage": "needs a Docker engine, which the test suite does not have"}
MOST_LINES = 14  # a longer output is shown as its first and last lines
WIDTH = 100  # the page's code blocks wrap lines as a terminal this wide would

# Run-specific text -> what the page shows instead (applied in order; a function keeps a table cell's width).
STABLE: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
    (r"\d{8}T\d{6}Z-[0-9a-f]{4}\b", "20261203T060200Z-9bc6"),  # a run id: its start and a random part
    (r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?", "2026-12-03 06:02"),
    (r"\b(fleet|sfr)-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", r"\1-7c3a9d52-1b4e-4f0a-9e21-5d8f6a0b3c44"),
    (r"\b(i|sg|subnet|vpc|lt|ami)-[0-9a-f]{8,17}\b", r"\1-0a1b2c3d4e5f60718"),
    (r"\b\d+:\d\d:\d\d\b", "0:00:05"),  # rich's elapsed time
    (r"\(\d[\d,]* bytes\)", "(61,234 bytes)"),  # a crate's size: its records' times and durations vary
    (r"local-process:python[\d.]+@", "local-process:python3.12.8@"),  # the Python that runs the tests
    (r"(?<=wall time)( +│ )[\d.]+ s +", lambda m: m.group(1) + f"{'5.2 s':<{len(m.group(0)) - len(m.group(1))}}"),
]


def example_repo(folder: Path) -> Path:
    """A repository as `copier copy` makes it, for the toy tool: this ds_runtime, config.py, Job and Fleet files."""
    from ._control_support import SPEC

    repo = folder / "Distributed-Echo"
    (repo / "tool").mkdir(parents=True)
    (repo / "ds_runtime").symlink_to(REPO / "ds_runtime")
    (repo / "run.py").write_text((REPO / "run.py").read_text())
    command = [sys.executable, str(TOY_TOOL), "{output_dir}", "--files", "2", "--echo", "--", "{sample}"]
    (repo / "tool" / "spec.json").write_text(json.dumps({**SPEC, "command": command}))
    # Every key set, so that no command notes a default.
    keys = {"MAX_COST": "0", "MAX_HOURS": "0", "MACHINE_IDLE_SECONDS": "120", "JOB_TIMEOUT": "None"}
    keys |= {"ON_DEMAND_AFTER_INTERRUPTIONS": "0", "AWS_BUCKET": "'your-bucket-name'"}
    write_config(repo, CLUSTER_MACHINES="1", TASKS_PER_MACHINE="2", **keys)
    (repo / "files").mkdir()
    write_job_file(repo / "files", JOBS, "exampleJob.json")
    (repo / "files" / "exampleFleet.json").write_text(json.dumps(fleet_data()))  # stand-in ids: local mode keeps them
    (repo / "samples.csv").write_text("sample\n" + "".join(f"sample-{i}\n" for i in range(JOBS)))
    (repo / "inputs").mkdir()
    for i in range(JOBS):
        (repo / "inputs" / f"sample-{i}.txt").write_text(f"input {i}\n")
    (folder / "tmp").mkdir()
    return repo


def run_py(repo: Path, argv: list[str], stderr: bool = True) -> str:
    """What `python run.py ARGV` prints (stdout and stderr, in the order a terminal shows them), unwrapped:
    rich would wrap a line at a place that depends on the length of the temporary folder's path."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env |= {"TMPDIR": str(repo.parent / "tmp"), "COLUMNS": "1000", "TERM": "dumb", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "run.py", *argv],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if stderr else subprocess.DEVNULL,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"run.py {' '.join(argv)} exited {done.returncode}:\n{done.stdout}")
    return done.stdout


def wait_for_jobs(repo: Path) -> None:
    """Until the local workers have done every job (status --json), so that `status` shows a finished run."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        counts = json.loads(run_py(repo, ["--local", "status", "--json"], stderr=False))["counts"]
        if counts.get("done") == JOBS:
            return
        time.sleep(1)
    raise TimeoutError(f"the example run's {JOBS} jobs were not done in {WAIT_SECONDS} s")


def stable(text: str, repo: Path) -> str:
    """The output with what differs between runs replaced, and shortened to MOST_LINES lines."""
    text = text.replace(str(repo.parent / "tmp"), "/tmp").replace(str(repo), "/home/me/Distributed-Echo")
    text = text.replace(sys.executable, "python").replace(sys.prefix, "/home/me/.venv")  # a local process's image
    for pattern, fixed in STABLE:
        text = re.sub(pattern, fixed, text)
    lines = [part for line in text.strip("\n").splitlines() for part in _wrapped(line.rstrip())]
    if len(lines) > MOST_LINES:
        lines = [*lines[: MOST_LINES - 5], "...", *lines[-4:]]
    return "\n".join(lines)


def _wrapped(line: str) -> list[str]:
    """A long line as a 100-column terminal shows it (its indent kept on the lines it wraps onto)."""
    if len(line) <= WIDTH:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    return textwrap.wrap(line, WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def run_session(folder: Path) -> dict[str, dict[str, str]]:
    """Each command's example (how it was run, what it printed, made stable), by name: the session run in `folder`."""
    repo = example_repo(folder)
    found: dict[str, dict[str, str]] = {}
    try:
        for name, argv in SESSION:
            if name == "status":
                wait_for_jobs(repo)
            printed = run_py(repo, argv)
            if name:
                found[name] = {"run": shlex.join(["python", "run.py", *argv]), "output": stable(printed, repo)}
    finally:
        subprocess.run([sys.executable, "run.py", "localStop"], cwd=repo, capture_output=True, timeout=120)
    return found


def examples_now(folder: Path) -> dict[str, dict[str, str]]:
    """Every command's example: from the session, or typed (TYPED), in the registry's order."""
    ran = run_session(folder)
    stored = read_examples()
    return {name: ran[name] if name in ran else stored[name] for name in COMMANDS}


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        examples = examples_now(Path(folder))
    EXAMPLES_FILE.write_text(json.dumps(examples, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {EXAMPLES_FILE}")
    docs = REPO / "docs"
    for name, page in PAGES.items():
        (docs / name).write_text(page(), encoding="utf-8")
        print(f"wrote {docs / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
