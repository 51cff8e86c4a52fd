"""`run.py cleanup [--dry-run] [--yes]`: find everything of this app left in AWS and remove it.

For when a monitor was stopped half way, a laptop closed, or a run is long
forgotten. It looks for this app's resources by tag (`ds:app` = APP_NAME) and by
the names config.py gives them: EC2 Fleets (and earlier versions' Spot Fleets) and every
machine, the runs' launch templates, queue and dead-letter queue, ECS service, task definitions,
cluster (never 'default'), alarms, dashboard, log groups, the auto-monitor Lambda
and its cap schedule, and monitor files in files/. It lists them, then deletes after a yes (`--yes`
or typing y); `--dry-run` only lists. The deleting is teardown's own steps, with
the dead-letter queue deleted even when it holds failed jobs, and the log groups
deleted once they are exported to the bucket. The IAM roles of setupAccount are
left: `undoAccount` removes them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..common.confirm import confirm_policy
from ..common.context import AWS_ERRORS, Context
from ..common.run_record import app_monitor_files
from ..resources.catalogue import KINDS, Fleets, Found, LogGroups, Machines, Resource, Scope, delete_steps
from ..resources.teardown import Step, report, run_steps
from .cluster import app_plan

# Teardown takes one run's fleet and on-demand machines; cleanup takes every fleet and machine of the app.
OTHER_KINDS = tuple(kind for kind in KINDS if kind not in (Fleets, Machines))


@dataclass
class Inventory:
    scope: Scope
    items: list[Found]  # everything, in deletion order, monitor files last
    monitor_files: list[Path]

    def named(self, kind: type[Resource]) -> list[str]:
        return [f.name for f in self.items if f.kind == kind.kind]

    @property
    def empty(self) -> bool:
        return not self.items


def _scope(ctx: Context, known_fleets: frozenset[str]) -> Scope:
    """Teardown's scope over the whole app: its tag alone, config.py's names, every log to export."""
    plan = app_plan(
        ctx,
        f"cleanup-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}",
        "",  # no one fleet: cleanup cancels every fleet it found
        start_time_ms=0,  # export everything the groups still hold
        dashboard=ctx.dashboard_name,
        function_name=ctx.monitor_function,
        schedule_rule=ctx.cap_rule,
    )
    return Scope(plan, ctx.session, keep_failed=False, known_fleets=known_fleets)


def find(ctx: Context, files: Path = Path("files")) -> Inventory:
    records = app_monitor_files(files, ctx.config.APP_NAME)
    scope = _scope(ctx, frozenset(filter(None, records.values())))
    items = [found for kind in KINDS for found in kind(scope).find()]
    items += [Found("monitor file", str(p)) for p in records]
    return Inventory(scope, items, list(records))


def delete(ctx: Context, inventory: Inventory) -> list[Step]:
    scope = inventory.scope
    fleets = Fleets(scope)
    machines: list[tuple[str, Callable[[], str]]] = [
        (f"delete fleet {f}", lambda f=f: fleets.cancel(f)) for f in inventory.named(Fleets)
    ]
    if inventory.named(Machines):
        # Listed again: cancelling a fleet has terminated its own machines already.
        machines.append(("terminate machines", Machines(scope).terminate_found))
    results = run_steps(machines)  # first: they are what bills
    others = run_steps(delete_steps(scope, OTHER_KINDS))
    results += others
    groups = inventory.named(LogGroups)
    if others[OTHER_KINDS.index(LogGroups)].ok:
        results += run_steps([("delete log groups", lambda: LogGroups(scope).delete_groups(groups))])
    elif groups:
        results.append(Step("delete log groups", False, "kept: their export to S3 failed; run cleanup again"))
    results += run_steps([("delete monitor files", lambda: _delete_files(inventory.monitor_files))])
    return results


def _delete_files(paths: list[Path]) -> str:
    for path in paths:
        path.unlink(missing_ok=True)
    return f"{len(paths)} deleted" if paths else "none"


def cleanup(
    ctx: Context,
    dry_run: bool = False,
    yes: bool = False,
    files: Path = Path("files"),
    is_tty: Callable[[], bool] | None = None,
) -> int:
    inventory = find(ctx, files)
    if inventory.empty:
        ctx.console.print(f"nothing of {ctx.config.APP_NAME} found in {ctx.config.AWS_REGION}")
        return 0
    ctx.console.print(f"{ctx.config.APP_NAME} in {ctx.config.AWS_REGION}: {len(inventory.items)} thing(s) found")
    for item in inventory.items:
        ctx.console.print(f"  {item.kind}: {item.name}" + (f"  ({item.note})" if item.note else ""), highlight=False)
    if dry_run:
        ctx.console.print("dry run: nothing deleted")
        return 0
    confirm = confirm_policy(ctx, yes, "cleanup", is_tty)
    if confirm is not None and not confirm(f"Delete these {len(inventory.items)} thing(s)?"):
        ctx.console.print("not confirmed: nothing deleted")
        return 1
    try:
        steps = delete(ctx, inventory)
    except AWS_ERRORS as exc:  # the listing itself failed half way: say so, as teardown would
        steps = [Step("cleanup", False, f"{type(exc).__name__}: {exc}")]
    for line in report(steps):
        ctx.console.print(line, highlight=False)
    return 0 if all(s.ok for s in steps) else 1


def run_cleanup(ctx: Context, args: argparse.Namespace) -> int:
    return cleanup(ctx, dry_run=args.dry_run, yes=args.yes, files=args.files)
