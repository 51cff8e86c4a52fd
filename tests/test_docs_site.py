"""Every generated repository has a docs site: one example's builds with `mkdocs build --strict`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "generated-examples" / "Distributed-ObjectCounter"
PAGES = [
    "index",
    "getting-started",
    "aws-account",
    "tool",
    "commands",
    "config",
    "costs",
    "export",
    "resume",
    "troubleshooting",
    "updating",
    "glossary",
]


def _build(repo: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(repo / "mkdocs.yml"), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_the_demo_repositorys_docs_build_strictly(tmp_path: Path) -> None:
    done = _build(EXAMPLE, tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    built = sorted(p.parent.name for p in (tmp_path / "site").glob("*/index.html"))
    assert built == sorted(p for p in PAGES if p != "index")
    tool = (tmp_path / "site" / "tool" / "index.html").read_text()
    assert "dsgen-count-objects" in tool and "summary.json" in tool and "inputs/coins.png" in tool
    assert "python run.py report" in (tmp_path / "site" / "getting-started" / "index.html").read_text()


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """--strict is on: the check above can fail."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE / "docs", repo / "docs")
    shutil.copy(EXAMPLE / "mkdocs.yml", repo)
    with (repo / "docs" / "costs.md").open("a") as page:
        page.write("\nSee [the missing page](missing.md) and [a missing heading](tool.md#no-such-heading).\n")
    done = _build(repo, tmp_path / "site")
    assert done.returncode != 0
    assert "missing.md" in done.stderr and "no-such-heading" in done.stderr
