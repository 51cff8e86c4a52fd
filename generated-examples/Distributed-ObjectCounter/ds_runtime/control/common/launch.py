"""A command on its backend: its files checked first, then the session and what the backend prepares."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from rich.console import Console

from ...config import DSConfig
from ...spec import ToolSpec
from .context import Backend, CommandError, Context
from .run_record import load_monitor_file


def run_on(
    backend: Backend,
    run: Callable[[Context, argparse.Namespace], int],
    args: argparse.Namespace,
    config: DSConfig,
    spec: ToolSpec,
    console: Console,
) -> int:
    """`run` (a command's function, cli.BACKEND) with a Context on this backend."""
    check_files_first(args)  # bad input starts nothing, not even the local emulator
    if args.command == "startCluster":
        backend.check_tasks(config)  # nor does a missing Docker engine or image
    ctx = Context(config, spec, backend.session(config.AWS_REGION), console, backend)
    backend.prepare(ctx)
    return run(ctx, args)


def check_files_first(args: argparse.Namespace) -> None:
    # Job and Fleet files were checked by `preflight`, as `check` does.
    if args.command == "monitor":
        load_monitor_file(args.monitorfile)
    elif args.command == "uploadInputs" and not args.folder.is_dir():
        raise CommandError(f"{args.folder}: input folder not found; give a folder of files to upload")
