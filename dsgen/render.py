"""Rendering a Distributed-X repository with copier, all or nothing.

copier asks the questions and runs the validators in copier.yml; this module adds
what a one-command generator needs around it: answers from a file, a staging folder
so that a refused answer leaves nothing behind, and errors that name the question.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import copier
import yaml

from .source import TEMPLATE_ROOT, TemplateSource

_VALIDATION = re.compile(r"Validation error for question '([^']+)': (.*)", re.S)
_BAD_CHOICE = re.compile(r"Invalid choice for '([^']+)': (.*)", re.S)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


class _FreshCopy(copier.Worker):
    """copier's copy, into a new empty staging folder.

    After writing each file, copier asks git for the destination's core.fileMode so it can
    re-mark the executable bit of a file already in the destination's git index. A new
    staging folder has no index, so those git processes (one per file, about 160, a quarter
    of a render) can change nothing; this copy skips them. tests/test_cli.py checks that
    copier still has the step, so this override cannot outlive it unseen.
    """

    def _sync_git_index_executable_bit(self, dst_relpath: Path, src_mode: int) -> None:
        return None

    def _render_string(self, string: str, extra_context: dict[str, Any] | None = None) -> str:
        # Most strings copier renders are path parts with no Jinja in them ("ds_runtime", "loop.py"),
        # which Jinja returns unchanged after compiling each one and building the whole context.
        env = self.jinja_env
        starts = (env.variable_start_string, env.block_start_string, env.comment_start_string)
        plain = env.line_statement_prefix is None and env.line_comment_prefix is None
        if plain and not any(s in string for s in starts):
            return string
        return super()._render_string(string, extra_context)


class AnswerError(ValueError):
    """An answer was refused; the message names the question and the fix."""


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


def known_questions(template: Path = TEMPLATE_ROOT) -> set[str]:
    config = yaml.safe_load((template / "copier.yml").read_text())
    return {k for k in config if not k.startswith("_")}


def render(
    dest: Path,
    answers: Mapping[str, Any],
    *,
    source: TemplateSource,
    defaults: bool = True,
    quiet: bool = True,
) -> Path:
    """Render into `dest` (which must not exist or be empty); nothing is written on error."""
    dest = Path(dest).resolve()
    if dest.exists() and any(dest.iterdir()):
        raise AnswerError(f"{dest} exists and is not empty; choose a new folder")
    if source.local_folder is not None:
        unknown = set(answers) - known_questions(source.local_folder)
        if unknown:
            raise AnswerError(f"unknown question(s) {', '.join(sorted(unknown))}; see copier.yml for the questions")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with (
            source.checkout() as (src_path, vcs_ref),
            _FreshCopy(
                src_path=src_path,
                dst_path=staging,
                data=dict(answers),
                defaults=defaults,
                vcs_ref=vcs_ref,
                quiet=quiet,
                unsafe=False,
                overwrite=True,
            ) as worker,
        ):
            worker.run_copy()
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
