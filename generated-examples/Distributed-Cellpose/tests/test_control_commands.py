"""The command table: every command the parser offers runs its own function, an unknown name is an
error, and `run.py --help` imports no command's module (nor boto3 or rich), so it answers at once."""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ds_runtime.control.cli import COMMANDS, Runs, command, parser
from ds_runtime.control.common.run_record import RunRecord, write_monitor_file
from ds_runtime.entry import main, run

from ._control_support import APP, fleet_data, write_config, write_job_file, write_spec

REPO = Path(__file__).resolve().parents[1]


def _subcommands() -> list[str]:
    found = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return list(found[0].choices)


def test_help_imports_no_command_module() -> None:
    script = (
        "import sys\nfrom ds_runtime.entry import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    imported = set(done.stderr.split())
    assert "retryFailed" in done.stdout  # the help was printed
    command_modules = {f"ds_runtime.{c.module}" for c in COMMANDS.values()}
    assert not imported & command_modules
    assert not imported & {"boto3", "botocore", "rich", "moto", "ds_runtime.control.common.context"}


def test_the_parser_offers_exactly_the_table_and_each_command_has_a_function_of_its_own() -> None:
    assert _subcommands() == list(COMMANDS)
    functions = [(c.module, c.function) for c in COMMANDS.values()]
    assert len(set(functions)) == len(functions)
    for c in COMMANDS.values():
        assert callable(getattr(importlib.import_module(f"ds_runtime.{c.module}"), c.function)), c.name


def test_an_unknown_command_is_an_error_never_another_command(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no command 'undoEverything'"):
        command("undoEverything")
    args = argparse.Namespace(command="undoEverything", config=tmp_path / "config.py", spec=tmp_path / "spec.json")
    with pytest.raises(LookupError):
        run(args)
    with pytest.raises(SystemExit) as refused:
        main(["undoEverything"])
    assert refused.value.code == 2


def _argv(name: str, folder: Path) -> list[str]:
    """Arguments that get `name` past the entry point's checks to its function."""
    jobs = str(write_job_file(folder, 2))
    fleet = folder / "fleet.json"
    fleet.write_text(json.dumps(fleet_data("subnet-0a1b2c3d", "sg-0a1b2c3d")))
    plan = RunRecord(APP, "us-east-1", "run", "sfr-1", "c", "s", "t", "q", "d", "b", ["g"], 0)
    monitor = folder / "monitor.json"
    write_monitor_file(monitor, plan)
    (folder / "inputs").mkdir(exist_ok=True)
    given = {
        "submitJob": [jobs],
        "export": ["--ro-crate", str(folder / "crate")],
        "estimate": [jobs],
        "localRun": [jobs],
        "startCluster": [str(fleet)],
        "monitor": [str(monitor)],
        "makeJobs": ["table", "rows.csv", "--out", "out.json"],
        "uploadInputs": [str(folder / "inputs")],
        "downloadOutputs": ["results/", str(folder / "down")],
    }
    return [name, *given.get(name, [])]


@pytest.mark.parametrize("name", _subcommands())
def test_every_command_runs_its_own_function(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = COMMANDS[name]
    called: list[tuple[Any, ...]] = []
    monkeypatch.setattr(importlib.import_module(f"ds_runtime.{c.module}"), c.function, lambda *a: called.append(a) or 7)
    options = ["--config", str(write_config(tmp_path)), "--spec", str(write_spec(tmp_path))]
    assert main([*options, *_argv(name, tmp_path)]) == 7
    assert len(called) == 1
    if c.runs is not Runs.CHECK:
        assert called[0][-1].command == name  # with its own arguments


def test_a_command_added_to_the_registry_is_offered_run_and_documented(tmp_path: Path) -> None:
    """A Command entry in the table and a function in its module are all a new command needs: `run.py
    --help` lists it, `run.py NAME` runs that function, and the commands page gets its section."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "ds_runtime", copy / "ds_runtime", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "run.py", copy)
    module = copy / "ds_runtime" / "control" / "commands" / "hello.py"
    module.write_text('def run_hello(found):\n    print("hello from a new command")\n    return 0\n')
    cli = copy / "ds_runtime" / "control" / "cli.py"
    table = "COMMANDS: dict[str, Command] = {\n    c.name: c\n    for c in (\n"
    entry = 'Command("hello", "say hello, a new command", "control.commands.hello", "run_hello", runs=Runs.CHECK)'
    entry = f"        {entry},\n"
    assert table in cli.read_text()
    cli.write_text(cli.read_text().replace(table, table + entry))

    def run_in_copy(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *argv], cwd=copy, capture_output=True, text=True, timeout=120)

    listed = run_in_copy("run.py", "--help")
    assert "hello" in listed.stdout and "say hello, a new command" in listed.stdout, listed.stdout + listed.stderr
    said = run_in_copy("run.py", "hello")
    assert said.returncode == 0 and "hello from a new command" in said.stdout, said.stdout + said.stderr
    (copy / "docs").mkdir()
    written = run_in_copy("-m", "ds_runtime.control.docs", "--docs", "docs")
    assert written.returncode == 0, written.stderr
    page = (copy / "docs" / "commands.md").read_text()
    assert "## hello\n\nsay hello, a new command\n" in page
