"""A render names where its template comes from: a git ref, or the working tree as it is."""

from __future__ import annotations

from pathlib import Path

from dsgen.render import load_answers, render
from dsgen.source import TEMPLATE_ROOT, TemplateSource

from .conftest import template_repo

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
