"""`dsgen update [REPO]`: copier's update of a generated repository, and never a silent conflict.

copier merges the template's changes into each file the template owns; where the user changed the
same lines it writes conflict markers (or a .rej file) and still exits 0 without a word. This runs
the update without asking the questions again (the recorded answers stand) and then lists every
file left in conflict: git's unmerged paths, .rej files, and files holding conflict markers.
config.py and the example Job and Fleet files are the user's after the first render (copier.yml's
_skip_if_exists): an update leaves them alone, and a key added since takes its default, with a note.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from .render import ANSWERS_FILE, AnswerError

_MARKER = re.compile(r"^(<{7}|>{7})( |$)", re.M)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AnswerError(f"{repo}: `git {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout


def recorded_source(repo: Path) -> tuple[str, str]:
    """The template's location and commit the repository was last rendered from (.copier-answers.yml)."""
    path = repo / ANSWERS_FILE
    if not path.is_file():
        raise AnswerError(f"{repo} has no {ANSWERS_FILE}: it was not made by dsgen new or copier copy")
    answers = yaml.safe_load(path.read_text()) or {}
    return str(answers.get("_src_path", "")), str(answers.get("_commit", ""))


def conflicts(repo: Path) -> list[str]:
    """Files an update left for the user to resolve, sorted: unmerged, .rej, or holding conflict markers."""
    found = set(_git(repo, "diff", "--name-only", "--diff-filter=U").split())
    changed = _git(repo, "status", "--porcelain", "--untracked-files=all", "-z").split("\0")
    for entry in filter(None, changed):
        name = entry[3:]
        path = repo / name
        if name.endswith(".rej"):
            found.add(name)
        elif path.is_file():
            try:
                if _MARKER.search(path.read_text()):
                    found.add(name)
            except UnicodeDecodeError:  # a binary file holds no markers
                pass
    return sorted(found)


def update(repo: Path, vcs_ref: str | None) -> list[str]:
    """Update `repo` to the template's `vcs_ref` with its recorded answers; the files left in conflict."""
    import copier
    from copier.errors import CopierError

    source, commit = recorded_source(repo)
    if source and not re.match(r"^[a-z+]+://|^git@", source) and not Path(source).exists():
        raise AnswerError(
            f"the template this repository was made from, {source}, is not on this computer: clone dsgen "
            f"there (or edit _src_path in {ANSWERS_FILE} to name your checkout), then run dsgen update again"
        )
    if _git(repo, "status", "--porcelain"):
        raise AnswerError(f"{repo} has uncommitted changes: commit them first, so the update's changes stand apart")
    print(f"updating {repo} from {source} ({commit or 'unknown commit'}) to {vcs_ref or 'its newest tag'}")
    try:
        copier.run_update(
            str(repo), vcs_ref=vcs_ref, defaults=True, overwrite=True, unsafe=False, quiet=True, conflict="inline"
        )
    except CopierError as exc:
        raise AnswerError(f"copier update refused: {exc}") from None
    return conflicts(repo)
