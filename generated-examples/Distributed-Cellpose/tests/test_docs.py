"""The docs site (mkdocs.yml, docs/): the pages listing commands and config keys cannot drift from the code."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ds_runtime.config import DSConfig
from ds_runtime.config_keys import KEYS
from ds_runtime.control.cli import parser
from ds_runtime.control.docs import EXAMPLES, PAGES, main, stale_pages

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_generated_pages_match_the_code() -> None:
    assert stale_pages(DOCS) == [], "run: python -m ds_runtime.control.docs (then commit docs/)"


def test_every_command_and_option_has_its_entry_and_an_example() -> None:
    assert set(EXAMPLES) == set(_commands()), "a command without an example output in ds_runtime/control/docs.py"
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
