"""copier.yml's validators check answers against the runtime's own tables, written by `dsgen tables`.

includes/runtime_tables.jinja is generated from template/ds_runtime; a change to a runtime table
(a DS key reaching the worker, a filter, a field type, a spec key, an upload flag) must come with
the regenerated file, or this test fails. includes/ is the template's own: never in a generated repo.
"""

from __future__ import annotations

from pathlib import Path

from dsgen.cli import main
from dsgen.render import render
from dsgen.rules_tables import TABLES_FILE, runtime_tables, tables_text, write_tables
from dsgen.source import WORKING_TREE


def test_the_committed_tables_are_the_runtimes() -> None:
    assert TABLES_FILE.read_text() == tables_text(), "includes/runtime_tables.jinja is stale: run `dsgen tables`"
    assert main(["tables", "--check"]) == 0


def test_the_tables_are_read_from_the_runtime() -> None:
    tables = runtime_tables()  # puts template/ on sys.path, as the generator does
    from ds_runtime.placeholders import FILTERS
    from ds_runtime.spec import DS_WORKER_CONFIG_KEYS
    from ds_runtime.upload_flags import FLAGS

    assert tables["DS_WORKER_CONFIG_KEYS"] == list(DS_WORKER_CONFIG_KEYS)
    assert tables["FILTERS"] == list(FILTERS)
    assert tables["UPLOAD_FLAGS"] == list(FLAGS)
    assert tables["FIELD_TYPES"] == ["string", "integer", "number", "boolean", "s3_key", "s3_prefix", "mapping"]
    assert tables["LOCAL_FOLDERS"] == ["input_dir", "output_dir", "work_dir"]


def test_check_reports_a_stale_file_and_changes_nothing(tmp_path: Path) -> None:
    stale = tmp_path / "runtime_tables.jinja"
    stale.write_text(tables_text().replace('"stem"', '"stem", "upper"'))
    before = stale.read_text()
    assert write_tables(check=True, path=stale) is False
    assert stale.read_text() == before
    assert write_tables(check=False, path=stale) is False  # it was stale: rewritten
    assert stale.read_text() == tables_text()
    assert write_tables(check=True, path=stale) is True


def test_includes_stay_out_of_the_generated_repository(tmp_path: Path) -> None:
    dest = render(tmp_path / "out", {}, source=WORKING_TREE)
    assert (dest / "tool" / "spec.json").is_file()
    assert not (dest / "includes").exists()
    names = {path.name for path in dest.rglob("*")}
    assert not names & {path.name for path in TABLES_FILE.parent.iterdir()}
