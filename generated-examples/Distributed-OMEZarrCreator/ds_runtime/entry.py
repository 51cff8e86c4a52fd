"""`python run.py COMMAND ...`: the entry point, and the one place that picks the backend.

Every command runs on AWS (AwsBackend) or, with --local, on the local emulator
(local.LocalBackend); localRun and localStop are local mode's own. The layers below
(.importlinter) let nothing else import ds_runtime.local.

The commands come from one table (control/cli.py). What running one needs -- its module,
boto3, rich, the checks -- is imported only once a command is to run: `run.py --help`
imports none of it, and answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .control.cli import Command, Runs, command, parser

if TYPE_CHECKING:
    from rich.console import Console


def _complain(kind: str, text: str) -> None:
    # Plain print, not rich: no wrapping inside file paths a user may copy.
    print(f"{kind}: {text}", file=sys.stderr)


def handler(c: Command) -> Callable[..., int]:
    """The function that runs this command (its module imported now)."""
    return getattr(importlib.import_module(f"ds_runtime.{c.module}"), c.function)


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    return run(parser().parse_args(argv), console)


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    """The parsed command: checked offline first (every problem listed), then run where it runs."""
    from botocore.exceptions import ProfileNotFound
    from rich.console import Console

    from .aws import make_session
    from .config import ConfigError
    from .control.commands.check import preflight
    from .control.common.context import AWS_ERRORS, AwsBackend, CommandError, Context
    from .control.common.launch import run_on
    from .jobs import JobFileError
    from .spec import SpecError

    chosen = command(args.command)
    # Markup off: what the commands print holds values from users' files and from AWS (a job value may
    # hold `[/]`); styled labels are Text objects (context.warning).
    console = console or Console(markup=False)
    local = chosen.runs == Runs.LOCAL or args.local
    found = preflight(
        args.spec,
        args.config,
        getattr(args, "jobfile", None),
        getattr(args, "fleetfile", None),  # localRun reads its --fleet itself (a missing one is fine there)
        aws=not local and chosen.runs != Runs.IMAGE,
        allow_stand_ins=local or args.command == "estimate",
        fit=args.command == "check",  # startCluster asks AWS itself (machine_fit.require_fit)
        local=local,
    )
    if chosen.runs == Runs.CHECK:
        return handler(chosen)(found)
    for note in found.notes:
        _complain("note", note)
    for problem in found.problems:
        _complain("error", problem)
    if found.problems or found.spec is None or found.config is None:
        return 2
    spec, config = found.spec, found.config
    args.checked_jobs = found.jobs  # the Job file as preflight read and checked it: never read twice
    try:
        if chosen.runs == Runs.IMAGE:  # Docker only: no AWS session, profile or emulator
            return handler(chosen)(Context(config, spec, make_session(None, config.AWS_REGION), console), args)
        if chosen.runs == Runs.LOCAL:
            return handler(chosen)(config, spec, console, args)
        if local:
            # Imported here: the emulator (moto) takes a second to load, and AWS runs never need it.
            from .local.backend import LocalBackend

            # What plays the ECS tasks: worker processes, or containers of the worker image.
            backend: Any = LocalBackend(Path.cwd(), "docker" if args.docker else "process")
        else:
            backend = AwsBackend(found.profile)
        return run_on(backend, handler(chosen), args, config, spec, console)
    except (SpecError, ConfigError, JobFileError, CommandError, ProfileNotFound, FileNotFoundError) as exc:
        _complain("error", str(exc))
        return 2
    except AWS_ERRORS as exc:
        _complain("AWS error", str(exc))
        return 3
    except KeyboardInterrupt:
        _complain("stopped", "what runs in AWS keeps running (run monitor to watch it and tear it down)")
        return 130
