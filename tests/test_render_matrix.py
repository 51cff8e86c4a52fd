"""Every answers file renders into a complete repository whose own tests pass.

The matrix is the committed examples (examples/*.yml) plus edge cases
(tests/answers/*.yml): odd field names, no shared fields, many fields, a job
list that is not called `groups`, and copier's defaults.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from dsgen.render import load_answers, render
from dsgen.source import WORKING_TREE

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yml"))
EDGE_CASES = sorted((ROOT / "tests" / "answers").glob("*.yml"))
# The runtime tests read no rendered file and are the same in every repo: the root pytest runs them where
# they live (template/tests). Each render runs the tests of its rendered files (tests/test_this_repo.py:
# spec, config, Job and Fleet files, docs, setup + submitJob on moto); one render collects the whole suite,
# which proves that it imports as laid out in a generated repository.
DATA_TESTS = ["tests/test_this_repo.py"]
CASES = (
    [pytest.param(load_answers(p), id=p.stem) for p in EXAMPLES]
    + [pytest.param(load_answers(p), id=p.stem) for p in EDGE_CASES]
    + [pytest.param({}, id="defaults")]
)


@pytest.fixture(scope="module", params=CASES)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("render") / "repo", request.param, source=WORKING_TREE)


def _text_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]


def test_no_jinja_left(rendered: Path) -> None:
    for path in _text_files(rendered):
        text = path.read_text()
        assert "{%" not in text and "{#" not in text, f"{path} still holds Jinja"
        assert not path.name.endswith(".jinja"), f"{path} was not rendered"
        if path.suffix not in (".json", ".yml", ".py", ".md"):
            assert "{{" not in text, f"{path} still holds Jinja"


def test_every_structured_file_parses(rendered: Path) -> None:
    parsers = {
        ".py": lambda t: ast.parse(t),
        ".json": json.loads,
        ".yml": yaml.safe_load,
        ".yaml": yaml.safe_load,
        ".toml": tomllib.loads,
    }
    checked = 0
    for path in _text_files(rendered):
        if path.suffix in parsers:
            parsers[path.suffix](path.read_text())
            checked += 1
    assert checked >= 10


PYTEST_HERE = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


@pytest.mark.slow
def test_rendered_repo_passes_its_own_tests(rendered: Path) -> None:
    done = subprocess.run([*PYTEST_HERE, "-rs", *DATA_TESTS], cwd=rendered, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " skipped" not in done.stdout, done.stdout[-4000:]


@pytest.mark.slow
def test_the_whole_suite_collects_as_a_generated_repository_lays_it_out(tmp_path: Path) -> None:
    """conftest, relative imports, ds_runtime from the repository root. The runtime's test files are the same
    in every render, so one render (copier's defaults) shows it for all."""
    repo = render(tmp_path / "repo", {}, source=WORKING_TREE)
    every = subprocess.run([*PYTEST_HERE, "--collect-only"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert every.returncode == 0, every.stdout[-4000:] + every.stderr[-2000:]
    collected = re.search(r"^(\d+) tests collected", every.stdout, re.MULTILINE)
    in_place = len(list((ROOT / "template" / "tests").glob("test_*.py")))
    assert collected and int(collected.group(1)) > 10 * in_place, every.stdout[-2000:]
