"""The runtime is the one validator of a tool spec: dsgen runs a render's own `run.py check` on it.

copier.yml checks only the shape of single answers, inline (what the templates need to render at
all, and what only the Dockerfile or the repository's name reads). Every rule across answers is the
runtime's (template/ds_runtime: the spec's rules, config.py's loader, the Job file reader), written
once. After copier renders into a staging folder, the render's own `run.py check` runs there on its
example Job file, exactly as a user of a plain `copier copy` would run it, and each problem it prints
is traced back to the question whose answer made it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .source import TEMPLATE_ROOT

# The spec key (tool/spec.json, written by template/tool/spec.json.jinja) each question's answer becomes.
SPEC_KEY_QUESTIONS = {
    "tool_name": "tool_name",
    "app_name": "tool_name",
    "docker_image": "docker_image",
    "job_list_key": "job_list_key",
    "shared_fields": "fields",
    "job_fields": "fields",
    "fields": "fields",
    "field": "fields",  # the rules on all fields say "field names ..."
    "command": "command",
    "input_fields": "input_fields",
    "output_prefix": "output_prefix",
    "own_output_folder": "own_output_folder",
    "output_bucket": "output_bucket",
    "upload_flags": "upload_flags",
    "output_exclude": "output_exclude",
    "done.min_files": "done_min_files",
    "done.required_file": "done_required_file",
    "done.required_content": "done_required_content",
    "done.content_match": "done_content_match",
    "bucket_view": "bucket_view",
    "needs_fuse": "needs_fuse",
    "gpus": "gpus",
    "config_keys": "extra_config",
    "config_defaults": "extra_config",
    "startup": "startup",
}
# The config.py key (template/config.py.jinja) each question sets; any other key is one of extra_config's.
CONFIG_KEY_QUESTIONS = {
    "APP_NAME": "tool_name",
    "AWS_REGION": "aws_region",
    "MACHINE_TYPE": "machine_types",
    "MACHINE_PRICE": "machine_price",
    "CLUSTER_MACHINES": "cluster_machines",
    "TASKS_PER_MACHINE": "tasks_per_machine",
    "DOCKER_CORES": "docker_cores",
    "CPU_SHARES": "cpu_shares",
    "MEMORY": "memory_mb",
    "EBS_VOL_SIZE": "ebs_vol_size",
}
EXAMPLE_JOB_FILE = Path("files") / "exampleJob.json"

_SPEC_HEADER = re.compile(r"^\S*spec\.json: invalid tool spec:$")
_SPEC_KEY = re.compile(r"^([a-z_]+(?:\.[a-z_]+)?)")
_JOB_KEY = re.compile(r"\w+\[\d+\]: (\w+):")
_CONFIG_LINE = re.compile(r"^\S*config\.py(?::\d+)?: ([A-Z][A-Z0-9_]*)\b")


@dataclass(frozen=True)
class Refusal:
    question: str  # the question whose answer made the problem ("" when none can be named)
    problem: str  # as the runtime says it


class CheckFailed(RuntimeError):
    """The render's `run.py check` could not run at all (its output says why)."""


def check_render(repo: Path, same_runtime: bool = False) -> list[Refusal]:
    """What the render's own `run.py check` refuses in it (tool spec, config.py, example Job file); [] if none.

    `same_runtime`: the render's ds_runtime is this checkout's `template/ds_runtime`, as it is now; the check
    then runs in this process (a third of a render saved: no interpreter, no second import of the runtime).
    """
    args = ["check", *([str(EXAMPLE_JOB_FILE)] if (repo / EXAMPLE_JOB_FILE).exists() else [])]
    ran = _check_here(repo, args) if same_runtime else None
    if ran is None:
        ran = subprocess.run([sys.executable, "run.py", *args], cwd=repo, capture_output=True, text=True, check=False)
    if ran.returncode not in (0, 1):  # 0: ok, 1: problems printed; anything else: the check itself broke
        raise CheckFailed(f"`python run.py check` failed in the render (exit {ran.returncode}):\n{ran.stderr}")
    return [Refusal(question_of(problem), problem) for problem in printed_problems(ran.stdout)]


def _check_here(repo: Path, args: list[str]) -> subprocess.CompletedProcess[str] | None:
    """`run.py check` run in this process, in `repo`, as if a process of its own; None when this process has
    loaded another copy of the runtime (then only a process of its own can run the render's)."""
    runtime = TEMPLATE_ROOT / "template"
    loaded = sys.modules.get("ds_runtime")
    if loaded is not None and Path(loaded.__file__ or "").resolve().parent.parent != runtime.resolve():
        return None
    if loaded is None:
        sys.path.append(str(runtime))  # last: it must not shadow anything this process imports later
    from ds_runtime.entry import main

    printed, complained, here = io.StringIO(), io.StringIO(), Path.cwd()
    try:
        os.chdir(repo)  # as run.py runs: config.py, tool/spec.json and the Job file by their relative paths
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(complained):
            code = main(args)
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(args, code, printed.getvalue(), complained.getvalue())


def printed_problems(output: str) -> list[str]:
    """The problems `run.py check` printed, one per rule broken: a spec's problems each on its own."""
    problems: list[list[str]] = []
    for line in output.splitlines():
        if line.startswith("problem: "):
            problems.append([line.removeprefix("problem: ")])
        elif problems and not line.startswith(("note: ", "check: ")):
            problems[-1].append(line)  # a problem of several lines
    found = []
    for lines in problems:
        if _SPEC_HEADER.match(lines[0]):
            found += [line.strip() for line in lines[1:]]
        elif lines[0].startswith(f"{EXAMPLE_JOB_FILE}:") and len(lines) > 1:  # "N problem(s)", then each
            found += [f"{EXAMPLE_JOB_FILE}: {line.strip()}" for line in lines[1:]]
        else:
            found.append("\n".join(lines))
    return found


def question_of(problem: str) -> str:
    """The question whose answer the problem is about, from the spec key, config.py key or file it names."""
    if problem.startswith(f"{EXAMPLE_JOB_FILE}:"):  # "<list>[N]: <spec key or job field>: ..."
        job_key = _JOB_KEY.search(problem)
        return SPEC_KEY_QUESTIONS.get(job_key.group(1), "example_jobs") if job_key else "example_jobs"
    config = _CONFIG_LINE.match(problem)
    if config:
        return CONFIG_KEY_QUESTIONS.get(config.group(1), "extra_config")
    key = _SPEC_KEY.match(problem)
    if key:
        name = key.group(1)
        return SPEC_KEY_QUESTIONS.get(name) or SPEC_KEY_QUESTIONS.get(name.split(".")[0], "")
    return ""
