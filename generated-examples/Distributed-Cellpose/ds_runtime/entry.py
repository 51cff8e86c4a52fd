"""`python run.py COMMAND ...`: the entry point, and the one place that picks the backend.

Every command runs on AWS (AwsBackend) or, with --local, on the local emulator
(local.LocalBackend); localRun and localStop are local mode's own. The layers below
(.importlinter) let nothing else import ds_runtime.local.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from botocore.exceptions import ProfileNotFound
from rich.console import Console

from .aws import make_session
from .config import ConfigError, DSConfig
from .control.check import preflight, report
from .control.cli import parser, run_on
from .control.context import AWS_ERRORS, AwsBackend, CommandError, Context
from .control.image import build_image, parse_build_args
from .jobs import JobFileError
from .spec import SpecError, ToolSpec

LOCAL_ONLY = ("localRun", "localStop")


def _complain(kind: str, text: str) -> None:
    # Plain print, not rich: no wrapping inside file paths a user may copy.
    print(f"{kind}: {text}", file=sys.stderr)


def _run_local(args: argparse.Namespace, config: DSConfig, spec: ToolSpec, console: Console) -> int:
    """localRun, localStop, or any command on the local backend (the emulator daemon and local workers)."""
    # Imported here: the emulator (moto) takes a second to load, and AWS runs never need it.
    from .local.backend import LocalBackend, stop_local
    from .local.oneshot import LocalRunRequest, local_run

    repo = Path.cwd()
    # What plays the ECS tasks: worker processes, or containers of the worker image.
    workers = "docker" if args.docker or getattr(args, "localrun_docker", False) else "process"
    if args.command == "localRun":
        request = LocalRunRequest(
            args.jobfile, args.fleet, args.inputs, args.input_prefix, args.outputs, args.inputs_bucket
        )
        return local_run(config, spec, repo, request, console, workers=workers)
    if args.command == "localStop":
        return stop_local(config, spec, repo, console)
    return run_on(LocalBackend(repo, workers), args, config, spec, console)


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    args = parser().parse_args(argv)
    # Markup off: what the commands print holds values from users' files and from AWS (a job value may
    # hold `[/]`); styled labels are Text objects (context.warning).
    console = console or Console(markup=False)
    local = args.command in LOCAL_ONLY or args.local
    found = preflight(
        args.spec,
        args.config,
        getattr(args, "jobfile", None),
        getattr(args, "fleetfile", None),  # localRun reads its --fleet itself (a missing one is fine there)
        aws=not local and args.command != "buildImage",
        allow_stand_ins=local or args.command == "estimate",
        fit=args.command == "check",  # startCluster asks AWS itself (machine_fit.require_fit)
    )
    if args.command == "check":
        return report(found)
    for note in found.notes:
        _complain("note", note)
    for problem in found.problems:
        _complain("error", problem)
    if found.problems or found.spec is None or found.config is None:
        return 2
    spec, config = found.spec, found.config
    try:
        if args.command == "buildImage":  # Docker only: no AWS session, profile or emulator
            ctx = Context(config, spec, make_session(None, config.AWS_REGION), console)
            build_args = parse_build_args(args.build_args)
            return build_image(
                ctx, args.push, build_args, network=args.network, platform=args.platform, nocache=args.no_cache
            )
        if local:
            return _run_local(args, config, spec, console)
        return run_on(AwsBackend(found.profile), args, config, spec, console)
    except (SpecError, ConfigError, JobFileError, CommandError, ProfileNotFound, FileNotFoundError) as exc:
        _complain("error", str(exc))
        return 2
    except AWS_ERRORS as exc:
        _complain("AWS error", str(exc))
        return 3
    except KeyboardInterrupt:
        _complain("stopped", "what runs in AWS keeps running (run monitor to watch it and tear it down)")
        return 130
