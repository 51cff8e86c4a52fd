"""Where a render's template comes from: a git ref of a template repository, or this
checkout's working tree exactly as it is.

Every render names its source explicitly. copier's own default (no ref) means "the latest
tag" for a git repository, which would silently render an old template once this
repository is tagged; the working tree is therefore rendered from a plain snapshot copy,
which copier cannot resolve to any tag.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# The dsgen checkout this package belongs to: copier.yml beside template/ and includes/ (its validators' macros).
TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
_SNAPSHOT_PARTS = ("copier.yml", "includes", "template")
_NOT_TEMPLATE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache")


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

    @contextmanager
    def checkout(self) -> Iterator[tuple[str, str | None]]:
        """(src_path, vcs_ref) to hand to copier for the duration of one render."""
        if self.ref is not None:
            yield self.location, self.ref
            return
        folder = self.local_folder
        if folder is None:
            raise ValueError(f"{self.location}: a working tree must be a local folder")
        with tempfile.TemporaryDirectory(prefix="dsgen-template-") as snap:
            for part in _SNAPSHOT_PARTS:
                if (folder / part).is_dir():
                    shutil.copytree(folder / part, Path(snap) / part, ignore=_NOT_TEMPLATE)
                else:
                    shutil.copy2(folder / part, Path(snap) / part)
            yield snap, None


WORKING_TREE = TemplateSource.working_tree()
