"""The README's commands are the ones CI runs."""

from __future__ import annotations

from .conftest import ROOT


def _readme_commands() -> list[str]:
    return [
        line.strip() for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("    python3 -m venv")
    ]


def test_ci_runs_the_readme_test_command() -> None:
    commands = _readme_commands()
    assert len(commands) == 2, "the README shows the main command and the test command"
    test_command = next(c for c in commands if "pytest" in c)
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    # verbatim, its exit status kept for the end (the canary runs after it)
    assert f"{test_command} || tests=$?" in ci_lines


def test_both_readme_commands_install_from_the_lock() -> None:
    for command in _readme_commands():
        assert ".venv/bin/pip install -q -r requirements.txt && .venv/bin/pip install -q --no-deps -e ." in command
