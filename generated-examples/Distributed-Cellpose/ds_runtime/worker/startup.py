"""The tool spec's startup steps: run once per container, in order, before any job is taken.

A step fetches one file ({fetch: URL, into: folder}) or runs one program ({run: argv});
either may hold only when a config key is set (when/matches). Templates read the
tool's config keys as the worker's environment has them, and every step is rendered
and checked before the first one runs, so a wrong config value stops the container
before it changes anything. A failure is logged with the step, the reason and the
config keys to look at; the entry point then exits without taking a message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..placeholders import config_name, placeholders, render
from ..spec import FetchStep, RunStep, ToolSpec, config_value, expand_args
from .context import WorkerContext
from .fetch import FetchError, fetch, file_name
from .lines import SHOWN_BYTES, Lines
from .runner import REAPER_PROCESS, run_tool

log = logging.getLogger(__name__)

RUN_TIMEOUT_SECONDS = 3600  # room for a large `pip install`; a hung step still ends


@dataclass(frozen=True)
class Fetch:
    where: str  # startup[i], for messages
    config_keys: tuple[str, ...]  # what to fix when it fails
    url: str
    into: str


@dataclass(frozen=True)
class Run:
    where: str
    config_keys: tuple[str, ...]
    argv: tuple[str, ...]
    cwd: str | None


Action = Fetch | Run


def plan_startup(spec: ToolSpec, config: Mapping[str, str]) -> list[Action]:
    """The steps whose condition holds, rendered from `config`; ValueError names the step and its keys."""
    actions: list[Action] = []
    for index, step in enumerate(spec.startup):
        if not step.holds({}, config):
            continue
        where, keys = f"startup[{index}]", tuple(step.config_keys())
        try:
            actions.append(_action(step, config, where, keys))
        except (ValueError, FetchError) as exc:
            raise ValueError(f"{where}: {exc}{_fix(keys)}") from None
    return actions


def _action(step: FetchStep | RunStep, config: Mapping[str, str], where: str, keys: tuple[str, ...]) -> Action:
    env = {
        name.strip(): config_value(config, config_name(name) or "")
        for _, text in step.templates()
        for name, _ in placeholders(text)
    }
    if isinstance(step, FetchStep):
        url = render(step.fetch, env)
        file_name(url)  # a URL without a file name is refused now, before any step runs
        return Fetch(where, keys, url, _folder(render(step.into, env), "into"))
    argv = expand_args(step.run, env, "run")
    if not argv or not argv[0]:
        raise ValueError("run renders to no program")
    cwd = _folder(render(step.cwd, env), "cwd") if step.cwd is not None else None
    return Run(where, keys, tuple(argv), cwd)


def run_startup(ctx: WorkerContext) -> bool:
    """Run every startup step that applies; False (logged) when one fails or a stop is asked."""
    if not ctx.spec.startup:
        return True
    try:
        actions = plan_startup(ctx.spec, ctx.tool_config)
    except ValueError as exc:
        log.error("startup: %s", exc)
        return False
    log.info("startup: %d of %d step(s) apply", len(actions), len(ctx.spec.startup))
    for action in actions:
        problem = _fetch(ctx, action) if isinstance(action, Fetch) else _run(ctx, action)
        if ctx.stop.is_set():  # SIGTERM: ECS stops the task; not the step's failure
            log.info("startup: stopped during %s", action.where)
            return False
        if problem:
            log.error("%s failed: %s%s", action.where, problem, _fix(action.config_keys))
            return False
    log.info("startup: done")
    return True


def _fetch(ctx: WorkerContext, action: Fetch) -> str:
    log.info("%s: fetching %s into %s", action.where, action.url, action.into)
    try:
        path = fetch(action.url, Path(action.into), ctx.s3)
    except FetchError as exc:
        return str(exc)
    log.info("%s: wrote %s (%d bytes)", action.where, path, path.stat().st_size)
    return ""


def _run(ctx: WorkerContext, action: Run) -> str:
    cwd = action.cwd or os.getcwd()
    if not os.path.isdir(cwd):
        return f"its folder {cwd} does not exist"
    log.info("%s: running %r in %s", action.where, list(action.argv), cwd)
    lines = Lines(lambda line: log.info("%s | %s", action.where, line), lambda _whole: None, SHOWN_BYTES)
    try:
        run = run_tool(list(action.argv), cwd, lines.feed, ctx.stop, RUN_TIMEOUT_SECONDS)
    finally:
        lines.finish()
        REAPER_PROCESS.close()  # the workers each start their own; this process only supervises them now
    if run.timed_out:
        return f"it did not finish within {RUN_TIMEOUT_SECONDS} s"
    if run.exit_code is None:
        return run.problem
    if run.exit_code != 0:
        return f"{run.ending(action.argv[0])} (its output is above)"
    return ""


def _folder(path: str, what: str) -> str:
    if not os.path.isabs(path):
        raise ValueError(f"{what} is {path!r}, not an absolute folder")
    return path


def _fix(keys: tuple[str, ...]) -> str:
    if not keys:
        return " (the step reads no config key: fix it in tool/spec.json, from the `startup` answer)"
    return f" (check config.py's {', '.join(keys)}, then `python run.py setup` again)"
