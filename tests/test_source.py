"""A render names where its template comes from: a git ref, or the working tree as it is."""

from __future__ import annotations

import os
from pathlib import Path

import copier
from copier._main import Worker

from dsgen.render import _FreshCopy, load_answers, render
from dsgen.source import TEMPLATE_ROOT, TemplateSource

from .conftest import git, template_repo

ANSWERS = load_answers(TEMPLATE_ROOT / "examples" / "fiji.yml")
MARK = "# changed after v1, not committed\n"


def _edit_uncommitted(tpl: Path) -> None:
    run_py = tpl / "template" / "run.py"
    run_py.write_text(run_py.read_text() + MARK)


def test_working_tree_renders_uncommitted_changes_even_when_the_repository_is_tagged(tmp_path: Path) -> None:
    tpl = template_repo(tmp_path)  # tagged v1: copier's own default would render that tag
    _edit_uncommitted(tpl)
    repo = render(tmp_path / "out", ANSWERS, source=TemplateSource.working_tree(tpl))
    assert (repo / "run.py").read_text().endswith(MARK)
    # A working-tree render records no commit: it is not a state `copier update` can diff against.
    assert "_commit" not in (repo / ".copier-answers.yml").read_text()


def test_git_ref_renders_exactly_that_commit(tmp_path: Path) -> None:
    tpl = template_repo(tmp_path)
    _edit_uncommitted(tpl)
    repo = render(tmp_path / "out", ANSWERS, source=TemplateSource.git("v1", tpl))
    assert MARK not in (repo / "run.py").read_text()
    assert "_commit: v1" in (repo / ".copier-answers.yml").read_text()


def _tree(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file under root (bar .git): its bytes and whether it is executable."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), os.access(p, os.X_OK))
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_a_git_ref_renders_byte_for_byte_what_copiers_own_clone_renders(tmp_path: Path) -> None:
    """dsgen renders a local ref from its template parts alone, not a clone of the whole repository;
    the result, `_commit` and `_src_path` included, is exactly copier's."""
    tpl = template_repo(tmp_path)
    git(tpl, "commit", "--quiet", "--allow-empty", "-m", "after v1")  # _commit then reads v1-1-g<hash>
    ours = render(tmp_path / "ours", ANSWERS, source=TemplateSource.git("HEAD", tpl))
    copier.run_copy(str(tpl), tmp_path / "copiers", data=ANSWERS, defaults=True, vcs_ref="HEAD", quiet=True)
    assert "_commit: v1-1-g" in (ours / ".copier-answers.yml").read_text()
    assert _tree(ours) == _tree(tmp_path / "copiers")


def test_copier_still_has_the_steps_a_fresh_copy_overrides() -> None:
    """dsgen.render._FreshCopy overrides them; when copier drops or renames one, drop its override."""
    for step in ("_sync_git_index_executable_bit", "_render_string", "_render_template", "answers_relpath"):
        assert hasattr(Worker, step), step
        assert step in vars(_FreshCopy), step
