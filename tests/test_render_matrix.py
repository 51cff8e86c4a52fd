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
# The runtime tests read no rendered file and are the same in every repo, so they run once,
# in the demo's render (the whole suite). Every other render runs the tests of its rendered
# files (tests/test_this_repo.py: spec, config, Job and Fleet files, setup + submitJob on moto).
WHOLE_SUITE: list[str] = []
DATA_TESTS = ["tests/test_this_repo.py"]
WHOLE_SUITE_EXAMPLE = "objectcounter"
CASES = (
    [
        pytest.param((load_answers(p), WHOLE_SUITE if p.stem == WHOLE_SUITE_EXAMPLE else DATA_TESTS), id=p.stem)
        for p in EXAMPLES
    ]
    + [pytest.param((load_answers(p), DATA_TESTS), id=p.stem) for p in EDGE_CASES]
    + [pytest.param(({}, DATA_TESTS), id="defaults")]
)


@pytest.fixture(scope="module", params=CASES)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    answers, tests = request.param
    return render(tmp_path_factory.mktemp("render") / "repo", answers, source=WORKING_TREE), tests


def _text_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]


def test_no_jinja_left(rendered: tuple[Path, list[str]]) -> None:
    for path in _text_files(rendered[0]):
        text = path.read_text()
        assert "{%" not in text and "{#" not in text, f"{path} still holds Jinja"
        assert not path.name.endswith(".jinja"), f"{path} was not rendered"
        if path.suffix not in (".json", ".yml", ".py", ".md"):
            assert "{{" not in text, f"{path} still holds Jinja"


def test_every_structured_file_parses(rendered: tuple[Path, list[str]]) -> None:
    parsers = {
        ".py": lambda t: ast.parse(t),
        ".json": json.loads,
        ".yml": yaml.safe_load,
        ".yaml": yaml.safe_load,
        ".toml": tomllib.loads,
    }
    checked = 0
    for path in _text_files(rendered[0]):
        if path.suffix in parsers:
            parsers[path.suffix](path.read_text())
            checked += 1
    assert checked >= 10


# tests/test_least_privilege.py: IAM rows moto 5 does not evaluate, each skipped with this reason.
HONEST_SKIPS = {"moto 5 authorises EC2, ECS and ECR calls with resource '*' and ignores Condition"}


@pytest.mark.slow
def test_rendered_repo_passes_its_own_tests(rendered: tuple[Path, list[str]]) -> None:
    repo, tests = rendered
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-x", *tests],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    # A generated repo has all it needs: the only skips allowed are rows the emulator cannot decide.
    reasons = set(re.findall(r"^SKIPPED \[\d+\] [^:]+:\d+: (.+)$", done.stdout, re.MULTILINE))
    assert reasons <= HONEST_SKIPS, done.stdout[-4000:]
    assert (" skipped" in done.stdout) == bool(reasons)  # every skip was listed with its reason
