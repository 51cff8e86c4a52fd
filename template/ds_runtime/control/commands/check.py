"""`run.py check [JOBFILE] [FLEETFILE]`, and the same checks before every other command.

Offline and creating nothing: the tool spec, config.py (with a note for each default it
takes), the AWS profile it names, and the Job and Fleet files when given. Every problem
is collected, so one run of `check` lists all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...aws import ProfileError, resolve_profile
from ...config import ConfigError, DSConfig, load_config
from ...jobs import Job, JobFileError, read_run_jobs
from ...spec import SpecError, ToolSpec, load_spec
from ..machines.fleet_file import FleetFileError, load_fleet_file
from ..machines.machine_fit import offline_fit
from ..machines.pinned_image import check_line

LOCAL_FIT = "local mode runs the containers on this computer, but on AWS: "
LOCAL_IMAGE = (
    "image: in local mode setup pins what this computer's workers run (the built image's id with --docker, "
    "else this Python environment); on AWS: "
)


@dataclass
class Preflight:
    spec: ToolSpec | None = None
    config: DSConfig | None = None
    profile: str | None = None  # the profile to open sessions with (None: the default chain)
    local: bool = False  # checked for local mode (`--local`, localRun)
    jobs: list[Job] | None = None  # the Job file's jobs, read and checked (the command uses them: read once)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def preflight(
    spec_path: Path,
    config_path: Path,
    jobfile: Path | None = None,
    fleetfile: Path | None = None,
    *,
    aws: bool = True,
    allow_stand_ins: bool = False,
    fit: bool = False,
    local: bool = False,
) -> Preflight:
    """Check everything a command will read; `aws` False skips the profile (local mode, buildImage).

    `allow_stand_ins`: the example Fleet file's stand-in subnet and group are fine (local mode, estimate).
    `fit`: also whether the containers fit each MACHINE_TYPE (`check`): a problem on AWS, a note
    in local mode (its containers run on this computer, where Docker refuses none).
    """
    found = Preflight(local=local)
    try:
        found.spec = load_spec(spec_path)
    except SpecError as exc:
        found.problems.append(str(exc))
        return found
    try:
        found.config = load_config(config_path, found.spec, warn=found.notes.append)
    except ConfigError as exc:
        found.problems += exc.problems
        found.notes.append("AWS_PROFILE and the Job file are checked once config.py has no problems")
    if found.config is not None and aws:
        try:
            found.profile = resolve_profile(found.config.AWS_PROFILE, found.notes.append)
        except ProfileError as exc:
            found.problems.append(f"{config_path}: {exc}")
    if fit and found.config is not None:
        machines = offline_fit(found.config, found.spec.gpus)
        found.notes += machines.notes
        if aws:
            found.problems += [f"{config_path}: {problem}" for problem in machines.problems]
        else:
            found.notes += [f"{config_path}: {LOCAL_FIT}{problem}" for problem in machines.problems]
    if jobfile is not None and found.config is not None:  # jobs are checked against config's buckets
        try:
            found.jobs = read_run_jobs(jobfile, found.spec, found.config)
        except JobFileError as exc:
            found.problems.append(str(exc))
    if fleetfile is not None:
        try:
            load_fleet_file(fleetfile, allow_stand_ins=allow_stand_ins, gpus=found.spec.gpus)
        except FleetFileError as exc:
            found.problems.append(str(exc))
    return found


def report(found: Preflight) -> int:
    """Print every note and problem; 0 when the run can start, 1 otherwise."""
    for note in found.notes:
        print(f"note: {note}")
    for problem in found.problems:
        print(f"problem: {problem}")
    if found.config is not None:
        line = check_line(found.config.DOCKERHUB_TAG)
        print(LOCAL_IMAGE + line.removeprefix("image: ") if found.local else line)
    if found.problems:
        print(f"check: {len(found.problems)} problem(s); fix them and run check again (nothing was created)")
        return 1
    print("check: ok, the run can start")
    return 0
