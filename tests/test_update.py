"""The update story: a repo generated from template v1 takes v2's fixes and keeps its user's edits.

A scratch copy of this template is tagged v1, a repo is generated from it and edited
as a user would (config.py, the example Job file), the template changes and is
tagged v2, and `copier update` runs without --trust. Template-owned files must then
equal a fresh v2 render, and the user's edits must survive with no conflict.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import copier
import pytest
import yaml

from dsgen.examples import differences
from dsgen.hooks.post_generate import init_git
from dsgen.render import TEMPLATE_ROOT, load_answers, render
from dsgen.source import WORKING_TREE, TemplateSource
from dsgen.update import conflicts

from .conftest import ROOT, commit_and_tag, git, replace_template, template_repo, template_repo_at

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


def test_update_brings_template_fixes_and_keeps_user_edits(tmp_path: Path) -> None:
    tpl = template_repo(tmp_path)
    repo = render(tmp_path / "Distributed-Fiji", ANSWERS, source=TemplateSource.git("v1", tpl))
    init_git(repo)
    _user_edits(repo)

    # v2: a fix in a template-owned file and a new setting in config.py, which is the user's after the first render
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
    assert "AWS_BUCKET = 'my-lab-bucket'" in config
    assert "NEW_SETTING" not in config, "config.py is the user's: a new key takes its default (run.py check notes it)"
    assert "projects/my-screen/fiji_output/" in (repo / "files" / "exampleJob.json").read_text()
    assert "# fixed in v2" in (repo / "ds_runtime" / "spec" / "rules.py").read_text()
    assert conflicts(repo) == []


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
    assert conflicts(repo) == []


def test_plain_copier_copy_needs_no_trust(tmp_path: Path) -> None:
    tpl = template_repo(tmp_path)
    copier.run_copy(str(tpl), str(tmp_path / "plain"), data=ANSWERS, defaults=True, vcs_ref="v1", unsafe=False)
    assert (tmp_path / "plain" / "tool" / "spec.json").exists()


# The template of 30 November 2026, before config.py was the user's: updating a repository made from it
# with a user's settings left config.py in conflict (3 hunks), with exit status 0 and no message.
BEFORE_USER_FILES = "a675136"


def _old_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A repository made from the template at BEFORE_USER_FILES, with a user's settings committed;
    the scratch template repository then holds this worktree's template, tagged v2."""
    tpl = template_repo_at(tmp_path, BEFORE_USER_FILES)
    old_fiji = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BEFORE_USER_FILES}:examples/fiji.yml"], capture_output=True, check=True
    ).stdout
    repo = tmp_path / "Distributed-Fiji"
    copier.run_copy(str(tpl), str(repo), data=yaml.safe_load(old_fiji), defaults=True, vcs_ref="v1", quiet=True)
    init_git(repo)
    config = repo / "config.py"
    text = config.read_text()
    for key, value in {
        "AWS_BUCKET": "'my-lab-bucket'",
        "SSH_KEY_NAME": "'lab-key.pem'",
        "CLUSTER_MACHINES": "8",
    }.items():
        text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert count == 1, f"config.py has no {key} line to edit"
    config.write_text(text)
    git(repo, "commit", "--quiet", "-am", "my settings")
    replace_template(tpl, "v2")
    return tpl, repo


def _dsgen_update(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "dsgen.cli", "update", str(repo), "--vcs-ref", "v2"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.mark.slow
def test_an_old_repository_updates_without_conflict_on_the_users_files(tmp_path: Path) -> None:
    _, repo = _old_repo(tmp_path)
    users_config = (repo / "config.py").read_text()
    done = _dsgen_update(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no conflict" in done.stdout
    assert (repo / "config.py").read_text() == users_config
    check = subprocess.run(
        [sys.executable, "run.py", "check", "files/exampleJob.json"], cwd=repo, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "note: using dsgen's default for MACHINE_IDLE_SECONDS" in check.stdout  # a key added since


@pytest.mark.slow
def test_a_conflict_in_a_template_owned_file_is_listed_with_exit_1(tmp_path: Path) -> None:
    _, repo = _old_repo(tmp_path)
    readme = repo / "README.md"
    changed_since = "`python run.py --help` lists every command. Install what run.py needs once:"
    assert changed_since in readme.read_text()
    readme.write_text(readme.read_text().replace(changed_since, "Our lab runs this with `python run.py`."))
    git(repo, "commit", "--quiet", "-am", "our README")
    done = _dsgen_update(repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 file(s) in conflict" in done.stderr and "  README.md\n" in done.stderr
    assert "<<<<<<<" in readme.read_text()


def test_conflicts_lists_unmerged_paths_rej_files_and_conflict_markers(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet", "--initial-branch=main")
    (tmp_path / "clean.py").write_text("x = 1\n")
    (tmp_path / "marked.py").write_text("x = 1\n")
    git(tmp_path, "add", "--all")
    git(tmp_path, "commit", "--quiet", "-m", "first")
    (tmp_path / "clean.py").write_text("x = 2  # <<<<<<< in a comment is no marker\n")
    (tmp_path / "marked.py").write_text("<<<<<<< before updating\nx = 1\n=======\nx = 2\n>>>>>>> after updating\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "tool.md.rej").write_text("@@ -1 +1 @@\n")
    assert conflicts(tmp_path) == ["docs/tool.md.rej", "marked.py"]


def test_a_generated_repository_documents_updating_with_flags_copier_has(tmp_path: Path) -> None:
    repo = render(tmp_path / "repo", ANSWERS, source=WORKING_TREE)
    readme = (repo / "README.md").read_text()
    section = readme[readme.index("## Updating from dsgen") :]
    page = (repo / "docs" / "updating.md").read_text()
    for text in (section, page):
        assert "dsgen update" in text and "_src_path" in text and "copier update --defaults --vcs-ref HEAD" in text
        assert "git status" in text, "plain copier's conflicts are silent: the docs say where to look"
    assert "--skip-answered" in page and "<<<<<<< before updating" in page
    assert "Updating from dsgen: updating.md" in (repo / "mkdocs.yml").read_text(), "the page is in the site's nav"
    flags = subprocess.run([sys.executable, "-m", "copier", "update", "--help"], capture_output=True, text=True)
    for flag in ("--defaults", "--skip-answered", "--vcs-ref", "--data"):
        assert flag in flags.stdout, f"the docs name {flag}, which copier update does not have"


def test_update_refuses_a_template_checkout_that_is_gone_and_uncommitted_changes(tmp_path: Path) -> None:
    from dsgen.render import AnswerError
    from dsgen.update import update

    git(tmp_path, "init", "--quiet", "--initial-branch=main")
    answers = tmp_path / ".copier-answers.yml"
    answers.write_text("_commit: v1\n_src_path: /nowhere/dsgen\ntool_name: Fiji\n")
    git(tmp_path, "add", "--all")
    git(tmp_path, "commit", "--quiet", "-m", "first")
    with pytest.raises(AnswerError, match=r"/nowhere/dsgen, is not on this computer: clone dsgen there"):
        update(tmp_path, "HEAD")
    answers.write_text(f"_commit: v1\n_src_path: {ROOT}\ntool_name: Fiji\n")
    with pytest.raises(AnswerError, match="has uncommitted changes: commit them first"):
        update(tmp_path, "HEAD")
    with pytest.raises(AnswerError, match=r"has no \.copier-answers\.yml"):
        update(tmp_path / "nested", "HEAD")
