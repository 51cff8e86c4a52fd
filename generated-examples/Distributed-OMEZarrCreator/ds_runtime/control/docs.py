"""The docs pages that list commands and config keys, written from the code so they cannot drift.

    python -m ds_runtime.control.docs           # rewrite docs/commands.md and docs/config.md
    python -m ds_runtime.control.docs --check   # exit 1 if they are stale (the tests do this)

commands.md comes from run.py's argparse parser (every command, argument and option,
with its help and default) plus an example of each command's output; config.md from
config.py's checked keys (`config_keys()`: the one place to point at another table of keys).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from ..config import FIXES, DSConfig
from .cli import parser

GENERATED = "<!-- Written by `python -m ds_runtime.control.docs` from the code: do not edit by hand. -->\n"

# What each command prints: real output of the demo tool (Distributed-ObjectCounter) in local mode, shortened.
EXAMPLES: dict[str, str] = {
    "setup": "queue DistributedObjectCounterDeadMessages: created\n"
    "queue DistributedObjectCounterQueue: created\n"
    "cluster default: created\n"
    "task definition DistributedObjectCounterTask: registered revision 1\n"
    "service DistributedObjectCounterService: created (0 tasks until startCluster)",
    "submitJob": "sent 9 of 9 job(s) from files/exampleJob.json to DistributedObjectCounterQueue",
    "startCluster": "startCluster plan for DistributedObjectCounter in us-east-1:\n"
    "jobs: 9; at once: 2 (CLUSTER_MACHINES x TASKS_PER_MACHINE x DOCKER_CORES)\n"
    "...\n"
    "spot fleet sfr-88cc186d41f6f6638 requested: 2 x c5.large\n"
    "2 machine(s) running\n"
    "service DistributedObjectCounterService: 2 task(s) wanted\n"
    "monitor file: files/DistributedObjectCounterSpotFleetRequestId.json\n"
    "next: python run.py monitor files/DistributedObjectCounterSpotFleetRequestId.json",
    "monitor": "run report: files/reports/DistributedObjectCounter-20261203T060200Z-9bc6.html\n"
    "queue empty: tearing the run down\n"
    "ok  cancel spot fleet: sfr-88cc186d41f6f6638 cancelled, its instances terminating\n"
    "ok  delete queue: DistributedObjectCounterQueue deleted\n"
    "...\n"
    "ok  export logs to S3: DistributedObjectCounter -> s3://your-bucket-name/exportedlogs/",
    "estimate": "jobs: 9; at once: 2 (CLUSTER_MACHINES x TASKS_PER_MACHINE x DOCKER_CORES)\n"
    "price: $0.0312 per machine-hour, spot price now of c5.large in us-east-1a (cheapest type)\n"
    "while running: 2 machine(s) = $0.0624 per hour\n"
    "time per job: 30 s (given)\n"
    "run time: 0.04 h; machine-hours: 0.07; cost: about $0.00",
    "status": "queued: 0  running: 0  done: 9  failed: 0  dead-lettered: 0  skipped: 0  interrupted: 0\n"
    "(with failures, a table: job id, state, key fields, attempts, exit code, last lines, log stream)",
    "report": "report: /home/me/Distributed-ObjectCounter/report.html",
    "retryFailed": "1 job(s) put back on DistributedObjectCounterQueue",
    "cleanup": "DistributedObjectCounter in us-east-1: 11 thing(s) found\n"
    "  spot fleet: sfr-88cc186d41f6f6638  (cancelled with its machines)\n"
    "  queue: DistributedObjectCounterQueue\n"
    "  ...\n"
    "dry run: nothing deleted",
    "setupAccount": "role DistributedObjectCounter-instance: created\n"
    "...\n"
    "instance profile DistributedObjectCounter-instance: ready\n"
    "bucket your-bucket-name: policy lets CloudWatch Logs export into exportedlogs/ "
    "(0 statement(s) already there kept)",
    "undoAccount": "role DistributedObjectCounter-instance: deleted\n...",
    "uploadInputs": "3 file(s) from demo-inputs uploaded to s3://your-bucket-name/inputs",
    "downloadOutputs": "18 file(s) from s3://your-bucket-name/results/ downloaded to my-results",
    "localRun": "9 job(s) on 2 local worker task(s) x 1 worker(s)\n"
    "jobs ━━━━━━━━━━━━━━━━━━━━ 9/9 queued 0  running 0  done 9  skipped 0  failed 0 (+0 retrying)\n"
    "(a summary table, each failed job's reason)\n"
    "run report: /home/me/Distributed-ObjectCounter/files/reports/DistributedObjectCounter-....html",
    "localStop": "local mode: bucket saved to local-outputs (40 files)\nlocal mode: workers and emulator stopped",
    "buildImage": "building myorg/distributed-objectcounter:1.0 from Dockerfile\n"
    "built myorg/distributed-objectcounter:1.0 (412 MB) in 95.2 s\n"
    "push it with `python run.py buildImage --push` (or `docker push myorg/distributed-objectcounter:1.0`)",
}


@dataclass(frozen=True)
class ConfigKey:
    name: str
    default: str  # '' = required
    help: str


def config_keys() -> list[ConfigKey]:
    """DS's config.py keys this repository checks, with their defaults and what to write."""
    found = []
    for name, info in DSConfig.model_fields.items():
        if name == "extra":
            continue
        default = "" if info.is_required() else repr(info.default)
        kind = "True or False" if info.annotation is bool else "a text value in quotes"
        found.append(ConfigKey(name, default, FIXES.get(name, kind)))
    return found


def _option(action: argparse.Action) -> str:
    names = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.metavar or action.dest}`"
    text = (action.help or "").replace("|", "\\|")
    shown = action.default not in (None, False, [], argparse.SUPPRESS) and "default" not in text
    if action.option_strings and shown:
        text += f" (default: `{action.default}`)"
    return f"| {names} | {text} |"


def _table(actions: list[argparse.Action]) -> list[str]:
    rows = [_option(a) for a in actions if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)]
    return ["| argument | what it does |", "| --- | --- |", *rows] if rows else []


def commands_page() -> str:
    p = parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    lines = [GENERATED, "# Commands", "", p.description or "", "", p.epilog or "", ""]
    lines += ["Options before the command, for every command:", "", *_table(p._actions), ""]
    for name, command in sub.choices.items():
        usage = command.format_usage().removeprefix("usage: ").strip()
        lines += [f"## {name}", "", helps.get(name) or "", "", "```", usage, "```", ""]
        lines += [*_table(command._actions), ""]
        lines += ["Example output:", "", "```", EXAMPLES[name], "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def config_page() -> str:
    lines = [GENERATED, "# config.py keys", ""]
    lines += [
        "DS's settings, checked before any AWS call (a wrong value is refused with the key and the fix).",
        "The tool's own keys are on [the tool's page](tool.md#its-own-config-keys).",
        "",
        "| key | default | what to write |",
        "| --- | --- | --- |",
    ]
    for key in config_keys():
        default = f"`{key.default}`" if key.default else "required"
        lines.append(f"| `{key.name}` | {default} | {key.help.replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


PAGES = {"commands.md": commands_page, "config.md": config_page}


def stale_pages(docs: Path) -> list[str]:
    """The generated pages whose file differs from what the code says now."""
    return [name for name, page in PAGES.items() if not (docs / name).is_file() or (docs / name).read_text() != page()]


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(prog="python -m ds_runtime.control.docs", description=__doc__)
    args.add_argument("--docs", type=Path, default=Path("docs"), help="the docs folder (default: docs)")
    args.add_argument("--check", action="store_true", help="only say which pages are stale; exit 1 if any")
    options = args.parse_args(argv)
    stale = stale_pages(options.docs)
    if options.check:
        for name in stale:
            print(f"{options.docs / name} is stale: run python -m ds_runtime.control.docs", file=sys.stderr)
        return 1 if stale else 0
    for name in stale:
        (options.docs / name).write_text(PAGES[name](), encoding="utf-8")
        print(f"wrote {options.docs / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
