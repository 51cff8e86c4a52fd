"""Filling templates as the worker does: argv items from templates, config keys as its environment has them.

Shared by the per-job view (job_view.py) and the startup steps (worker/startup.py).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from ..placeholders import render
from .shapes import SplitArg


def expand_args(args: Sequence[str | SplitArg], env: Mapping[str, Any], where: str) -> list[str]:
    """Arguments from templates: one per text, as many as its words per `split` item."""
    argv: list[str] = []
    for arg in args:
        if isinstance(arg, SplitArg):
            text = render(arg.split, env)
            try:
                argv.extend(shlex.split(text))
            except ValueError as exc:
                raise ValueError(f"{where}: cannot split {text!r} into arguments: {exc}") from None
        else:
            argv.append(render(arg, env))
    return argv


def config_value(config: Mapping[str, str] | None, key: str) -> str:
    """A config key's value as the worker's environment has it (None: every key reads as empty)."""
    if config is None:
        return ""
    if key not in config:
        raise ValueError(f"config key {key} is not in the worker's environment; run `python run.py setup` again")
    return str(config[key])
