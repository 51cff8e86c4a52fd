"""The docs pages that list commands and config keys, written from the code so they cannot drift.

    python -m ds_runtime.control.docs           # rewrite docs/commands.md and docs/config.md
    python -m ds_runtime.control.docs --check   # exit 1 if they are stale (the tests do this)
    python -m tests.command_examples            # run every command again for its example output, then rewrite

commands.md comes from run.py's argparse parser (every command, argument and option,
with its help and default) plus an example of each command's output (examples.json); config.md from
the DS family's key table (config_keys.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config_keys import key_table_markdown
from .cli import parser

GENERATED = "<!-- Written by `python -m ds_runtime.control.docs` from the code: do not edit by hand. -->\n"

# What each command prints, shown under it: real output of a toy tool's run in local mode, written by
# `python -m tests.command_examples` (and checked by tests/test_docs.py) except where that cannot run it.
EXAMPLES_FILE = Path(__file__).with_name("examples.json")
EXAMPLES_NOTE = (
    "Each example output is what the command printed in local mode for a toy tool, DistributedEcho "
    "(`python run.py --local COMMAND ...`, one run from setupAccount to monitor), with ids and times "
    "fixed and long outputs shortened (`...`)."
)


def read_examples() -> dict[str, dict[str, str]]:
    """{command: {"run": how it was run, "output": what it printed}}."""
    return json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))


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
    examples = read_examples()
    lines = [GENERATED, "# Commands", "", p.description or "", "", p.epilog or "", ""]
    lines += ["Options before the command, for every command:", "", *_table(p._actions), ""]
    lines += [EXAMPLES_NOTE, ""]
    for name, (command, help_text) in _subcommands(p).items():
        lines += _section(f"## {name}", command, help_text)
        for source, (one, one_help) in _subcommands(command).items():  # e.g. makeJobs loaddata | listing | table
            lines += _section(f"### {name} {source}", one, one_help)
        if name in examples:  # a new command has none until the examples are run again
            example = examples[name]
            lines += [f"Example: `{example['run']}`", "", "```", example["output"], "```", ""]
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
