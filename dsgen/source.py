"""Where a render's template comes from: a git ref of a template repository, or this
checkout's working tree exactly as it is.

Every render names its source explicitly. copier's own default (no ref) means "the latest
tag" for a git repository, which would silently render an old template once this
repository is tagged; the working tree is therefore rendered from a plain snapshot copy,
which copier cannot resolve to any tag.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# The dsgen checkout this package belongs to: copier.yml beside template/.
TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
# includes/ held the validators' macros of earlier versions: a ref that has it renders with it.
_SNAPSHOT_PARTS = ("copier.yml", "includes", "template")
_NOT_TEMPLATE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".hypothesis")


@dataclass(frozen=True)
class TemplateSource:
    """A template repository (path or git URL) and the git ref to render; ref None = its working tree."""

    location: str
    ref: str | None

    @classmethod
    def git(cls, ref: str = "HEAD", location: str | Path = TEMPLATE_ROOT) -> TemplateSource:
        """A committed state: what `dsgen new` publishes and what `copier update` can later diff against."""
        return cls(str(location), ref)

    @classmethod
    def working_tree(cls, location: Path = TEMPLATE_ROOT) -> TemplateSource:
        """The files as they are now, committed or not: for examples and tests of a change in progress."""
        return cls(str(location), None)

    @property
    def local_folder(self) -> Path | None:
        """The template's folder when it is on this machine (so its questions can be read)."""
        path = Path(self.location)
        return path if path.is_dir() else None

    def runtime_is_this_checkouts(self) -> bool:
        """Whether a render holds this checkout's template/ds_runtime as it is now (so it may run here)."""
        folder = self.local_folder
        if folder is None or folder.resolve() != TEMPLATE_ROOT.resolve():
            return False
        if self.ref is None:
            return True
        same_commit = _git(folder, "rev-parse", self.ref) == _git(folder, "rev-parse", "HEAD")
        return same_commit and _git(folder, "status", "--porcelain", "--", "template/ds_runtime") == ""

    @contextmanager
    def checkout(self) -> Iterator[Checkout]:
        """What to hand to copier for the duration of one render."""
        folder = self.local_folder
        if folder is None:
            if self.ref is None:
                raise ValueError(f"{self.location}: a working tree must be a local folder")
            yield Checkout(self.location, self.ref, {})  # a remote template: copier clones it
            return
        with tempfile.TemporaryDirectory(prefix="dsgen-template-") as snap:
            if self.ref is None:
                for part in (p for p in _SNAPSHOT_PARTS if (folder / p).exists()):
                    if (folder / part).is_dir():
                        shutil.copytree(folder / part, Path(snap) / part, ignore=_NOT_TEMPLATE)
                    else:
                        shutil.copy2(folder / part, Path(snap) / part)
                yield Checkout(snap, None, {})
                return
            # A local repository: its template parts at the ref, extracted from git. copier's own
            # clone would check out the whole repository (generated-examples/ too: four fifths of
            # the files, a third of a render), and at HEAD would add uncommitted changes under a
            # commit that exists nowhere, which `copier update` could never find.
            _extract(folder, self.ref, Path(snap))
            recorded = {"_commit": _git(folder, "describe", "--tags", "--always", self.ref), "_src_path": self.location}
            yield Checkout(snap, None, recorded)


@dataclass(frozen=True)
class Checkout:
    """A template ready for copier: its folder, the ref copier should clone (None: render the folder as it is),
    and the `_commit` and `_src_path` a copy records when copier rendered a snapshot of a git ref."""

    path: str
    vcs_ref: str | None
    recorded: dict[str, str]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if done.returncode:
        raise ValueError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout.strip()


def _extract(repo: Path, ref: str, into: Path) -> None:
    """The template's parts as committed at `ref`, modes included (an executable stays executable)."""
    _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")  # a ref, not an option
    present = [p for p in _SNAPSHOT_PARTS if _git(repo, "ls-tree", "--name-only", ref, "--", p)]
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "--", *present], cwd=repo, capture_output=True)
    if archive.returncode:
        raise ValueError(f"git archive {ref} failed in {repo}: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # Python before 3.10.12: our own repository's archive, no links outside it
            tar.extractall(into)


WORKING_TREE = TemplateSource.working_tree()
