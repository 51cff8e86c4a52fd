"""`dsgen new` on a terminal: a short interview a person can answer at 80 columns.

Driven as a person drives it, through a pseudo-terminal 80 columns wide: the command first, its
{placeholders} proposed as job fields and asked one at a time, every help line wrapped (never
cut), the answers written to a file for `--data-file`, and Ctrl-C a one-line message.
"""

from __future__ import annotations

import os
import pty
import re
import select
import sys
import time
from pathlib import Path

import pytest
import yaml

from dsgen.interview import guess_type, interview, placeholders, tool_name_from

from .conftest import ROOT, git

WIDTH = 80
# Terminal control sequences: a cursor move starts drawing elsewhere (a redrawn question starts anew);
# the others (colours, modes) take no column.
_MOVE = re.compile(r"\x1b\[[0-9;]*[ABCDEFGHJKf]")
_CONTROL = re.compile(r"\x1b(?:\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][A-Z0-9]|[=>78])")
DOWN = "\x1b[B"
CLEAR = "\x15"  # Ctrl-U: clears the proposed answer shown in the line


class Terminal:
    """`dsgen new` in a child process on a pseudo-terminal of WIDTH columns, run from this worktree."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.started = time.monotonic()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(cwd)
            os.environ.update(COLUMNS=str(WIDTH), LINES="24", PYTHONPATH=str(ROOT), TERM="xterm")
            os.execv(sys.executable, [sys.executable, "-m", "dsgen.cli", "new", *args])
        self.screen = ""
        self.seen = 0  # where the screen stood when the last answer was typed

    def _read(self, timeout: float) -> bool:
        """Whatever the child wrote within `timeout` (False: it wrote nothing, or it has exited)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # the child closed the terminal
            return False
        text = chunk.decode(errors="replace")
        for _ in range(text.count("\x1b[6n")):  # where is the cursor? a terminal answers (prompt_toolkit waits)
            os.write(self.fd, b"\x1b[1;1R")
        self.screen += text
        return bool(chunk)

    def answer(self, question: str, keys: str) -> None:
        """Wait for `question` drawn after the last answer, and quiet, then type `keys`."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = self._read(0.3)
            if not got and question in self.screen[self.seen :]:
                os.write(self.fd, keys.encode())
                self.seen = len(self.screen)
                return
        pytest.fail(f"question {question!r} never came; the screen ends:\n{self.screen[-3000:]}")

    def exit_code(self) -> int:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                while self._read(0.1):
                    pass
                return os.waitstatus_to_exitcode(status)
            self._read(0.3)
        os.kill(self.pid, 9)
        pytest.fail(f"dsgen new did not finish (another question?); the screen ends:\n{self.screen[-3000:]}")

    def lines(self, cwd: Path) -> list[str]:
        """The lines drawn, the folder's path written as "." (a user's path is as long as it is)."""
        drawn = _CONTROL.sub("", _MOVE.sub("\n", self.screen)).replace(str(cwd), ".")
        return re.split(r"\r\n|\n|\r", drawn)


# A simple tool: one input file per job, one output file. (question drawn, keys typed)
SAMTOOLS = [
    ("Command", "samtools flagstat {bam} -o {output_dir}/stats.txt\r"),
    ("Tool name", "\r"),  # proposed from the program: Samtools
    ("Docker image", CLEAR + "quay.io/biocontainers/samtools:1.21--h50ea8bc_0\r"),
    ("bam: one value per job, or shared?", "\r"),  # job
    ("bam: type", DOWN * 4 + "\r"),  # string, integer, number, boolean, s3_key
    ("bam: example values", "inputs/a.bam\r"),
    ("bam: default", "\r"),
    ("Output prefix", "\r"),
    ("Files a job must write", CLEAR + "1\r"),
    ("CPU units per container", CLEAR + "1024\r"),
    ("Memory per container", CLEAR + "3000\r"),
]


@pytest.mark.slow
def test_a_simple_tool_takes_at_most_12_questions_each_line_within_80_columns(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path)
    for question, keys in SAMTOOLS:
        terminal.answer(question, keys)
    code = terminal.exit_code()
    wall = time.monotonic() - terminal.started
    assert code == 0, terminal.screen[-3000:]
    rendered = re.search(r"rendered in ([0-9.]+ s)", terminal.screen)
    print(f"\n{len(SAMTOOLS)} questions; {wall:.1f} s from start to a committed repository (the scripted typing")
    print(f"waits for each question to be drawn and quiet); the render and its check: {rendered and rendered[1]}")
    assert len(SAMTOOLS) <= 12
    too_wide = [line for line in terminal.lines(tmp_path) if len(line) > WIDTH]
    assert not too_wide, f"lines over {WIDTH} columns (a terminal cuts them): {too_wide}"

    repo = tmp_path / "Distributed-Samtools"
    assert git(repo, "status", "--porcelain") == "", "the first commit left files out"
    kept = tmp_path / "Samtools-answers.yml"
    assert f"dsgen new --data-file {kept.name}" in terminal.screen.replace("\r\n", " ")
    answers = yaml.safe_load(kept.read_text())
    assert answers["fields"] == [{"name": "bam", "scope": "job", "type": "s3_key", "example": "inputs/a.bam"}]
    assert answers["input_fields"] == ["bam"] and answers["memory_mb"] == 3000
    assert "extra_config_help" not in answers, "asked about config keys the command does not read"


def test_ctrl_c_says_nothing_was_written(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path)
    terminal.answer("Command", "\x03")
    assert terminal.exit_code() == 130
    assert "interrupted: nothing was written" in terminal.screen
    assert "Traceback" not in terminal.screen
    assert list(tmp_path.iterdir()) == []


def test_the_commands_placeholders_are_proposed_as_fields_and_config_keys() -> None:
    found = placeholders(
        ["tool", "{plate}", "--in={input_dir}/{image|basename}", "{meta.Well}", "{config.MODEL}", "{config.AWS_BUCKET}"]
    )
    assert found.fields == ["plate", "image", "meta"]  # built-ins ({input_dir}) are the worker's
    assert found.config_keys == ["MODEL"]  # DS's own keys need no default


@pytest.mark.parametrize(
    ("name", "expected"),
    [("input_folder", "s3_prefix"), ("image_file", "s3_key"), ("input", "s3_key"), ("threshold", "string")],
)
def test_a_type_is_proposed_from_the_fields_name(name: str, expected: str) -> None:
    assert guess_type(name) == expected


def test_the_tool_name_is_proposed_from_the_program() -> None:
    assert tool_name_from(["/usr/bin/bwa-mem2", "mem"]) == "Bwamem2"
    assert tool_name_from(["2pass"]) == ""  # not a valid name: nothing proposed
    assert tool_name_from(["python3", "-u", "/opt/segment.py"]) == "Segment"  # the script, not its interpreter


class Scripted:
    """Answers in order; '' takes the proposed answer. Records what was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def text(self, message: str, help: str, default: str = "", check=None) -> str:
        self.asked.append(message)
        return self.answers.pop(0) or default

    def choose(self, message: str, help: str, choices: dict[str, str], default: str) -> str:
        self.asked.append(message)
        return self.answers.pop(0) or default


def test_config_keys_the_command_reads_are_asked_with_their_meaning() -> None:
    ask = Scripted("run {config.MODEL}", "Run", "", "cyto2", "The model to segment with", "", "", "", "")
    answers = interview(ask)
    assert answers["extra_config"] == {"MODEL": "cyto2"}
    assert answers["extra_config_help"] == {"MODEL": "The model to segment with"}
    assert not ask.answers


def test_a_shared_field_with_several_examples_keeps_one_and_a_default_makes_it_optional() -> None:
    ask = Scripted("tool {n}", "", "", "shared", "integer", "3, 4", "5", "", "", "", "")
    field = interview(ask)["fields"][0]
    assert field == {"name": "n", "scope": "shared", "type": "integer", "required": False, "default": 5, "example": 3}
