"""The update story: a repo generated from template v1 takes v2's fixes and keeps its user's edits.

A scratch copy of this template is tagged v1, a repo is generated from it and edited
as a user would (config.py, the example Job file), the template changes and is
tagged v2, and `copier update` runs without --trust. Template-owned files must then
equal a fresh v2 render, and the user's edits must survive with no conflict.
"""

from __future__ import annotations

import re
from pathlib import Path

import copier

from dsgen.examples import differences
from dsgen.hooks.post_generate import init_git
from dsgen.render import TEMPLATE_ROOT, load_answers, render
from dsgen.source import TemplateSource

from .conftest import commit_and_tag, git, template_repo

ANSWERS = load_answers(TEMPLATE_ROOT / "examples" / "fiji.yml")
USER_OWNED = {"config.py", "files/exampleJob.json", ".copier-answers.yml"}


def _user_edits(repo: Path) -> None:
    config = repo / "config.py"
    text, count = re.subn(r"(?m)^AWS_BUCKET\s*=.*$", "AWS_BUCKET = 'my-lab-bucket'", config.read_text())
    assert count == 1, "config.py has no AWS_BUCKET line to edit"
    config.write_text(text)
    job = repo / "files" / "exampleJob.json"
    job.write_text(job.read_text().replace("projects/demo/fiji_output/", "projects/my-screen/fiji_output/"))
    git(repo, "commit", "--quiet", "-am", "my settings")


def _all_text(repo: Path) -> str:
    return "\n".join(p.read_text() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts)


def test_update_brings_template_fixes_and_keeps_user_edits(tmp_path: Path) -> None:
    tpl = template_repo(tmp_path)
    repo = render(tmp_path / "Distributed-Fiji", ANSWERS, source=TemplateSource.git("v1", tpl))
    init_git(repo)
    _user_edits(repo)

    # v2: a fix in a template-owned file and a new setting in the user-owned config.py
    spec_module = tpl / "template" / "ds_runtime" / "spec" / "rules.py"
    spec_module.write_text(spec_module.read_text() + "\n# fixed in v2\n")
    config_template = tpl / "template" / "config.py.jinja"
    config_template.write_text(config_template.read_text() + "\n# Added in v2.\nNEW_SETTING = 1\n")
    commit_and_tag(tpl, "v2")

    copier.run_update(str(repo), vcs_ref="v2", defaults=True, overwrite=True, unsafe=False, quiet=True)

    fresh = render(tmp_path / "fresh", ANSWERS, source=TemplateSource.git("v2", tpl))
    differing = set(differences(repo, fresh))
    assert differing <= USER_OWNED, f"template-owned files differ from a fresh v2 render: {differing - USER_OWNED}"
    config = (repo / "config.py").read_text()
    assert "AWS_BUCKET = 'my-lab-bucket'" in config and "NEW_SETTING = 1" in config
    assert "projects/my-screen/fiji_output/" in (repo / "files" / "exampleJob.json").read_text()
    assert "# fixed in v2" in (repo / "ds_runtime" / "spec" / "rules.py").read_text()
    assert "<<<<<<<" not in _all_text(repo) and ">>>>>>>" not in _all_text(repo)
    assert not list(repo.rglob("*.rej"))


def test_renamed_file_follows_with_a_migration(tmp_path: Path) -> None:
    """v2 renames the example Job file; a copier migration moves the user's edited copy along."""
    tpl = template_repo(tmp_path)
    repo = render(tmp_path / "Distributed-Fiji", ANSWERS, source=TemplateSource.git("v1", tpl))
    init_git(repo)
    _user_edits(repo)

    files = tpl / "template" / "files"
    (files / "exampleJob.json.jinja").rename(files / "job_example.json.jinja")
    copier_yml = tpl / "copier.yml"
    copier_yml.write_text(
        copier_yml.read_text()
        # copier merges per path, so the user's copy is parked before the update and put in place after it.
        + "\n_migrations:\n"
        + "  - version: v2\n    when: \"{{ _stage == 'before' }}\"\n"
        + "    command: [mv, files/exampleJob.json, files/.exampleJob.json.moving]\n"
        + "  - version: v2\n    when: \"{{ _stage == 'after' }}\"\n"
        + "    command: [mv, -f, files/.exampleJob.json.moving, files/job_example.json]\n"
    )
    commit_and_tag(tpl, "v2")

    # Migrations run commands, so copier rightly asks for trust: the update test above runs without it.
    copier.run_update(str(repo), vcs_ref="v2", defaults=True, overwrite=True, unsafe=True, quiet=True)

    assert not (repo / "files" / "exampleJob.json").exists()
    moved = repo / "files" / "job_example.json"
    assert "projects/my-screen/fiji_output/" in moved.read_text()
    assert "<<<<<<<" not in _all_text(repo)
    assert not list(repo.rglob("*.rej"))


def test_plain_copier_copy_needs_no_trust(tmp_path: Path) -> None:
    tpl = template_repo(tmp_path)
    copier.run_copy(str(tpl), str(tmp_path / "plain"), data=ANSWERS, defaults=True, vcs_ref="v1", unsafe=False)
    assert (tmp_path / "plain" / "tool" / "spec.json").exists()
