"""The committed example renders: generated-examples/<repo name>/ from examples/<name>.yml.

Examples are rendered from the working tree (not a git ref), so a template change
and its regenerated examples land in one commit. Their .copier-answers.yml names
the template as `../..` (this checkout, seen from the example) and carries no
`_commit`, so a render does not change with every commit.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from .render import load_answers, render
from .source import TEMPLATE_ROOT, WORKING_TREE

ANSWERS_DIR = TEMPLATE_ROOT / "examples"
OUTPUT_DIR = TEMPLATE_ROOT / "generated-examples"
ANSWERS_FILE = ".copier-answers.yml"


@dataclass(frozen=True)
class Example:
    answers_file: Path

    @property
    def answers(self) -> dict:
        return load_answers(self.answers_file)

    @property
    def folder(self) -> Path:
        return OUTPUT_DIR / f"Distributed-{self.answers['tool_name']}"


def all_examples() -> list[Example]:
    return [Example(p) for p in sorted(ANSWERS_DIR.glob("*.yml"))]


def render_example(example: Example, dest: Path) -> Path:
    render(dest, example.answers, source=WORKING_TREE)
    answers_path = dest / ANSWERS_FILE
    recorded = yaml.safe_load(answers_path.read_text())
    recorded.pop("_commit", None)
    recorded["_src_path"] = "../.."
    header = "# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY\n"
    answers_path.write_text(header + yaml.safe_dump(recorded, sort_keys=True))
    return dest


IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".venv", ".git"}


def _files(root: Path) -> dict[str, Path]:
    return {
        p.relative_to(root).as_posix(): p
        for p in root.rglob("*")
        if p.is_file() and not IGNORED_PARTS & set(p.relative_to(root).parts)
    }


def differences(left: Path, right: Path) -> list[str]:
    """Relative paths whose bytes differ between two trees, or that only one has."""
    a, b = _files(left), _files(right)
    return sorted(n for n in a.keys() | b.keys() if n not in a or n not in b or a[n].read_bytes() != b[n].read_bytes())


def regenerate(check: bool) -> dict[str, list[str]]:
    """Re-render every example; with check, change nothing. Returns differing files per example."""
    report: dict[str, list[str]] = {}
    for example in all_examples():
        with tempfile.TemporaryDirectory(prefix="dsgen-example-") as tmp:
            fresh = render_example(example, Path(tmp) / example.folder.name)
            diff = differences(fresh, example.folder) if example.folder.exists() else ["(missing)"]
            report[example.folder.name] = diff
            if diff and not check:
                shutil.rmtree(example.folder, ignore_errors=True)
                shutil.copytree(fresh, example.folder)
    return report
