"""Rendering a Distributed-X repository with copier, all or nothing.

copier renders the answers given, each other question at its default, and checks each answer's
shape (copier.yml's inline validators); `dsgen new` asks its own questions (interview.py). This
module adds what a one-command generator needs around it: answers from a file, a staging folder
so that a refused answer leaves nothing behind, the render's own runtime check of what the
answers made (runtime_check.py), and errors that name the question.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from copier._main import Worker

from .runtime_check import Refusal, check_render
from .source import TEMPLATE_ROOT, TemplateSource

ANSWERS_FILE = ".copier-answers.yml"  # copier's default, which copier.yml keeps

_VALIDATION = re.compile(r"Validation error for question '([^']+)': (.*)", re.S)
_BAD_CHOICE = re.compile(r"Invalid choice for '([^']+)': (.*)", re.S)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


class _FreshCopy(Worker):
    """copier's copy (`copier.run_copy` builds this same Worker), into a new empty staging folder,
    less two steps that cost two fifths of a render and change nothing there.

    copier's Worker is internal (its top-level name is deprecated), so the lock pins the copier
    these overrides were measured on, and tests/test_source.py fails when copier drops either step.
    """

    def _sync_git_index_executable_bit(self, dst_relpath: Path, src_mode: int) -> None:
        # After each file copier asks git for the destination's core.fileMode, to re-mark the
        # executable bit of a file already in the destination's git index. A new staging folder
        # has no index: about 160 git processes that can change nothing.
        return None

    def _render_string(self, string: str, extra_context: dict[str, Any] | None = None) -> str:
        # Most strings copier renders are path parts ("ds_runtime", "loop.py"): Jinja compiles each
        # and builds the whole context, to return the string unchanged when it holds no Jinja and no
        # line break (the only text Jinja would alter: trailing newlines and newline style).
        env = self.jinja_env
        markers = (env.variable_start_string, env.block_start_string, env.comment_start_string, "\n", "\r")
        by_line = env.line_statement_prefix or env.line_comment_prefix
        if not by_line and not any(m in string for m in markers):
            return string
        return super()._render_string(string, extra_context)

    def _render_template(self) -> None:
        # copier renders the answers file's path (a template) again for every path part it renders,
        # about 500 times a render and a third of its time; the answers are settled before the first file.
        self._settled_answers_relpath = super().answers_relpath
        super()._render_template()

    @property
    def answers_relpath(self) -> Path:
        return getattr(self, "_settled_answers_relpath", None) or super().answers_relpath


class AnswerError(ValueError):
    """An answer was refused; the message names the question and the fix.

    `kept_in`: the file that keeps the answers typed at the terminal, so that they need not be typed again.
    """

    def __init__(self, message: str, kept_in: Path | None = None):
        super().__init__(message)
        self.kept_in = kept_in


def load_answers(path: Path) -> dict[str, Any]:
    """An answers file: a YAML mapping of question name to answer."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise AnswerError(f"{path}: answers file not found") from None
    except yaml.YAMLError as exc:
        raise AnswerError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise AnswerError(f"{path}: must be a YAML mapping of question: answer")
    # Copier's own keys (_src_path, _commit) in a copied .copier-answers.yml are not answers.
    return {k: v for k, v in data.items() if not str(k).startswith("_")}


def parse_data_pairs(pairs: list[str]) -> dict[str, str]:
    """`--data key=value` pairs; copier casts each value to its question's type."""
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AnswerError(f"--data {pair!r}: write it as question=value, e.g. --data tool_name=Fiji")
        data[key.strip()] = value
    return data


def _record_source(answers_file: Path, recorded: dict[str, str]) -> None:
    """Write the template's `_commit` and `_src_path` where copier wrote the snapshot's folder.

    copier writes `_src_path: <folder it rendered>` and no `_commit` for a folder that is not a
    repository; a clone of the ref would have written these two lines, as tests/test_source.py checks.
    """
    lines = answers_file.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("_src_path: "))
    lines[at] = yaml.safe_dump(recorded, sort_keys=False, allow_unicode=True, width=float("inf"))
    answers_file.write_text("".join(lines))


def _refusal_text(refused: list[Refusal]) -> str:
    """One line per problem, naming the answer that made it (the runtime's own words after it)."""
    return "\n".join(
        f"answer to {r.question!r} refused: {r.problem}" if r.question else f"refused: {r.problem}" for r in refused
    )


def known_questions(template: Path = TEMPLATE_ROOT) -> set[str]:
    config = yaml.safe_load((template / "copier.yml").read_text())
    return {k for k in config if not k.startswith("_")}


def _refuse_nonempty(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise AnswerError(f"{dest} exists and is not empty; choose a new folder")


def render(
    dest: Path | None,
    answers: Mapping[str, Any],
    *,
    source: TemplateSource,
    quiet: bool = True,
) -> Path:
    """Render into `dest` (which must not exist or be empty), or, when None, into the repository
    name the answers give (Distributed-<tool_name>) in the current folder; nothing is written on error."""
    parent = Path(dest).resolve().parent if dest is not None else Path.cwd()
    if dest is not None:
        dest = Path(dest).resolve()
        _refuse_nonempty(dest)
    if source.local_folder is not None:
        unknown = set(answers) - known_questions(source.local_folder)
        if unknown:
            raise AnswerError(f"unknown question(s) {', '.join(sorted(unknown))}; see copier.yml for the questions")
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name if dest else 'dsgen-new'}.", dir=parent))
    try:
        with (
            source.checkout() as checkout,
            _FreshCopy(
                src_path=checkout.path,
                dst_path=staging,
                data=dict(answers),
                defaults=True,  # nothing is asked here: an unanswered question takes its default
                vcs_ref=checkout.vcs_ref,
                quiet=quiet,
                unsafe=False,
                overwrite=True,
            ) as worker,
        ):
            worker.run_copy()
            refused = check_render(staging, same_runtime=source.runtime_is_this_checkouts())
            if refused:
                raise AnswerError(_refusal_text(refused))
            if checkout.recorded:
                _record_source(staging / ANSWERS_FILE, checkout.recorded)
            if dest is None:
                dest = parent / str(worker.answers.combined["repo_name"])
                _refuse_nonempty(dest)
        if dest.exists():
            dest.rmdir()
        staging.chmod(0o777 & ~_umask())  # mkdtemp made it private; give it a normal folder's mode
        staging.rename(dest)
    except ValueError as exc:
        match = _VALIDATION.search(str(exc))
        if match:
            raise AnswerError(f"answer to {match.group(1)!r} refused: {match.group(2).strip()}") from None
        choice = _BAD_CHOICE.search(str(exc))
        if choice:  # copier checks `choices` itself, with its own wording
            raise AnswerError(f"answer to {choice.group(1)!r} refused: {choice.group(2).strip()}") from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest
