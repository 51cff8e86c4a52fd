"""The docs site (mkdocs.yml, docs/): the pages listing commands and config keys cannot drift from the code."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ds_runtime.config import DSConfig
from ds_runtime.config_keys import KEYS
from ds_runtime.control.cli import parser
from ds_runtime.control.docs import PAGES, main, read_examples, stale_pages

from .command_examples import SESSION, TYPED, examples_now, stable

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_generated_pages_match_the_code() -> None:
    assert stale_pages(DOCS) == [], "run: python -m ds_runtime.control.docs (then commit docs/)"


def test_every_command_and_option_has_its_entry_and_an_example() -> None:
    assert set(read_examples()) == set(_commands()), "a command without an example: python -m tests.command_examples"
    page = PAGES["commands.md"]()
    for name, command in _commands().items():
        assert f"## {name}\n" in page
        for action in command._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}`" in page.split(f"## {name}\n", 1)[1], f"{name} {option}"
        sub = next((a for a in command._actions if isinstance(a, argparse._SubParsersAction)), None)
        for source, one in (sub.choices if sub else {}).items():  # makeJobs loaddata, listing, table
            section = page.split(f"### {name} {source}\n", 1)[1]
            options = [o for a in one._actions for o in a.option_strings if o not in ("-h", "--help")]
            assert all(f"`{o}`" in section for o in options), f"{name} {source}"


def test_every_ds_family_config_key_has_its_entry() -> None:
    page = PAGES["config.md"]()
    assert {k for k in DSConfig.model_fields if k != "extra"} <= set(KEYS)
    assert [name for name in KEYS if f"| `{name}` |" not in page] == []


def test_the_check_fails_when_a_page_is_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, page in PAGES.items():
        (tmp_path / name).write_text(page())
    assert main(["--docs", str(tmp_path), "--check"]) == 0
    (tmp_path / "config.md").write_text(PAGES["config.md"]().replace("| `MAX_HOURS` |", "| `OLD_KEY` |"))
    assert main(["--docs", str(tmp_path), "--check"]) == 1
    assert "config.md is stale: run python -m ds_runtime.control.docs" in capsys.readouterr().err
    assert main(["--docs", str(tmp_path)]) == 0 and stale_pages(tmp_path) == []


def test_every_command_is_run_for_its_example_unless_it_cannot_be() -> None:
    shown = [name for name, _ in SESSION if name]
    assert sorted(shown + list(TYPED)) == sorted(_commands()), "add the command to tests/command_examples.py SESSION"


def test_what_differs_between_runs_is_made_stable(tmp_path: Path) -> None:
    repo = tmp_path / "Distributed-Echo"
    printed = (
        f"run report: {repo}/files/reports/DistributedEcho-20270101T235959Z-0f1e.html\n"
        "EC2 Fleet fleet-0f6b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d requested: 1 x m5.large\n"
        "  machine: i-0123456789abcdef0  (terminated)\n"
        "expected finish: about 2027-01-01 23:59 (UTC)\n"
        "sending jobs ━━━━ 4/4 0:01:07\n"
        "│ wall time              │ 12.3 s                         │\n"
    )
    assert stable(printed, repo) == (
        "run report: /home/me/Distributed-Echo/files/reports/DistributedEcho-20261203T060200Z-9bc6.html\n"
        "EC2 Fleet fleet-7c3a9d52-1b4e-4f0a-9e21-5d8f6a0b3c44 requested: 1 x m5.large\n"
        "  machine: i-0a1b2c3d4e5f60718  (terminated)\n"
        "expected finish: about 2026-12-03 06:02 (UTC)\n"
        "sending jobs ━━━━ 4/4 0:00:05\n"
        "│ wall time              │ 5.2 s                          │"
    )
    long = "\n".join(f"line {i}" for i in range(30))
    assert stable(long, repo).splitlines() == [
        *(f"line {i}" for i in range(9)),
        "...",
        *(f"line {i}" for i in range(26, 30)),
    ]


@pytest.mark.slow
def test_the_example_outputs_are_what_the_commands_print_now(tmp_path: Path) -> None:
    """One local run of the toy tool, every command of it: the commands page shows what they print."""
    assert examples_now(tmp_path) == read_examples(), "stale examples: run python -m tests.command_examples"
