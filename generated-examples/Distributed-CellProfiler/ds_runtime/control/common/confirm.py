"""Asking before spending or deleting: one policy for startCluster and cleanup.

A command that costs money or deletes things asks "go on? [y/N]" in a terminal.
`--yes` answers for the user. Without a terminal (a script, a pipe, CI) and
without `--yes` the command refuses before doing anything: nobody is there to
read the plan, so nothing is spent by accident. A backend that spends no money (local mode) never asks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from .context import CommandError, Context

Confirm = Callable[[str], bool]  # the question -> go on?


def always(question: str) -> bool:
    return True


def confirm_policy(ctx: Context, yes: bool, command: str, is_tty: Callable[[], bool] | None = None) -> Confirm | None:
    """How `command` confirms: None (never ask: nothing is billed), `always` (--yes) or a prompt.

    Raises CommandError when a prompt is needed but stdin is not a terminal.
    """
    if not ctx.backend.spends_money:
        return None
    if yes:
        return always
    if not (is_tty or sys.stdin.isatty)():
        raise CommandError(
            f"{command} spends money or deletes things and asks first, but there is no terminal to ask in; "
            f"run it in a terminal, or add --yes to go on without asking (python run.py {command} ... --yes)"
        )

    def ask(question: str) -> bool:
        answer = ctx.console.input(f"{question} [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    return ask
