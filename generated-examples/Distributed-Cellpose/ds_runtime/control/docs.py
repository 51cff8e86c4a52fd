"""The docs pages that list commands and config keys, written from the code so they cannot drift.

    python -m ds_runtime.control.docs           # rewrite docs/commands.md and docs/config.md
    python -m ds_runtime.control.docs --check   # exit 1 if they are stale (the tests do this)

commands.md comes from run.py's argparse parser (every command, argument and option,
with its help and default) plus an example of each command's output; config.md from
the DS family's key table (config_keys.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config_keys import key_table_markdown
from .cli import parser

GENERATED = "<!-- Written by `python -m ds_runtime.control.docs` from the code: do not edit by hand. -->\n"

# What each command prints: real output of the demo tool (Distributed-ObjectCounter) in local mode, shortened.
EXAMPLES: dict[str, str] = {
    "setup": "image myorg/distributed-objectcounter:1.0: myorg/distributed-objectcounter@sha256:5f0c7e3b...\n"
    "  (the registry's digest of the tag)\n"
    "queue DistributedObjectCounterDeadMessages: created\n"
    "queue DistributedObjectCounterQueue: created\n"
    "cluster default: created\n"
    "task definition DistributedObjectCounterTask: registered revision 1\n"
    "service DistributedObjectCounterService: created (0 tasks until startCluster)",
    "submitJob": "sent 9 of 9 job(s) from files/exampleJob.json to DistributedObjectCounterQueue",
    "startCluster": "startCluster plan for DistributedObjectCounter in us-east-1:\n"
    "jobs: 9; at once: 2 (CLUSTER_MACHINES x TASKS_PER_MACHINE x DOCKER_CORES)\n"
    "...\n"
    "EC2 Fleet fleet-7c3a9d52-1b4e-4f0a-9e21-5d8f6a0b3c44 requested: 2 x c5.large\n"
    "2 machine(s) running\n"
    "service DistributedObjectCounterService: 2 task(s) wanted\n"
    "monitor file: files/DistributedObjectCounterSpotFleetRequestId.json\n"
    "next: python run.py monitor files/DistributedObjectCounterSpotFleetRequestId.json",
    "monitor": "run report: files/reports/DistributedObjectCounter-20261203T060200Z-9bc6.html\n"
    "queue empty: tearing the run down\n"
    "ok  delete fleet: fleet-7c3a9d52-1b4e-4f0a-9e21-5d8f6a0b3c44 deleted, its instances terminating\n"
    "ok  delete queue: DistributedObjectCounterQueue deleted\n"
    "...\n"
    "ok  export logs to S3: DistributedObjectCounter -> s3://your-bucket-name/exportedlogs/",
    "estimate": "jobs: 9; at once: 2 (CLUSTER_MACHINES x TASKS_PER_MACHINE x DOCKER_CORES)\n"
    "price: $0.0312 per machine-hour, spot price now of c5.large in us-east-1a (cheapest type)\n"
    "while running: 2 machine(s) = $0.0624 per hour\n"
    "time per job: 30 s (given)\n"
    "run time: 0.04 h; machine-hours: 0.07; cost: about $0.00",
    "status": "image: myorg/distributed-objectcounter@sha256:5f0c7e3b...\n"
    "queued: 0  running: 0  done: 9  failed: 0  dead-lettered: 0  skipped: 0  interrupted: 0\n"
    "(with CHECK_IF_DONE_BOOL, why the latest finished jobs were skipped or ran again, e.g.\n"
    "  0c1d2e3f4a5b6c7d ran again: changed since attempt 1 (done 2026-01-05T10:12:03): input\n"
    "  s3://my-bucket/pipelines/analysis.cppipe changed (ETag 5d41... -> 7d79...))\n"
    "(with failures, a table: each job by its key fields, state, tries, exit code, job id; below it each\n"
    "reason, last lines and log stream)",
    "check": "image: myorg/distributed-objectcounter:1.0; pushed as sha256:5f0c7e3b... at 2026-12-06T10:12:31+00:00: "
    "setup pins that unless the registry has moved it\n"
    "check: ok, the run can start",
    "makeJobs": "3 job(s); the first 3:\n"
    '  {"image": "inputs/coins.png", "method": "otsu"}\n'
    '  {"image": "inputs/coins.png", "method": "li"}\n'
    '  {"image": "inputs/hubble_deep_field.png", "method": "otsu"}\n'
    "wrote files/fromTable.json; send it with: python run.py submitJob files/fromTable.json",
    "report": "report: /home/me/Distributed-ObjectCounter/report.html",
    "export": "RO-Crate of 3456 attempt(s): crate/ro-crate-metadata.json (7,210,113 bytes)",
    "retryFailed": "1 job(s) put back on DistributedObjectCounterQueue",
    "cleanup": "DistributedObjectCounter in us-east-1: 12 thing(s) found\n"
    "  fleet: fleet-7c3a9d52-1b4e-4f0a-9e21-5d8f6a0b3c44  (deleted with its machines)\n"
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


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """A parser's commands with their one-line help."""
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not found:
        return {}
    helps = {c.dest: c.help or "" for c in found[0]._choices_actions}
    return {name: (command, helps.get(name, "")) for name, command in found[0].choices.items()}


def _section(title: str, command: argparse.ArgumentParser, help_text: str) -> list[str]:
    usage = command.format_usage().removeprefix("usage: ").strip()
    return [title, "", help_text, "", "```", usage, "```", "", *_table(command._actions), ""]


def commands_page() -> str:
    p = parser()
    lines = [GENERATED, "# Commands", "", p.description or "", "", p.epilog or "", ""]
    lines += ["Options before the command, for every command:", "", *_table(p._actions), ""]
    for name, (command, help_text) in _subcommands(p).items():
        lines += _section(f"## {name}", command, help_text)
        for source, (one, one_help) in _subcommands(command).items():  # e.g. makeJobs loaddata | listing | table
            lines += _section(f"### {name} {source}", one, one_help)
        lines += ["Example output:", "", "```", EXAMPLES[name], "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def config_page() -> str:
    lines = [GENERATED, "# config.py keys", ""]
    lines += [
        "A config.py from Distributed-Something, -CellProfiler, -Fiji or -OMEZarrCreator works as it is:",
        "a key it lacks takes the default below, listed once in a note (`python run.py check` shows them).",
        "A wrong value is refused before any AWS call, naming the key and what to write.",
        "The tool's own keys are on [the tool's page](tool.md#its-own-config-keys).",
        "",
        key_table_markdown(),
    ]
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
