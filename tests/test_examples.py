"""Staleness detection for generated-examples/: any changed, missing or extra file is reported."""

from __future__ import annotations

from pathlib import Path

from dsgen.examples import all_examples, differences


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_differences_lists_changed_missing_and_extra_files(tmp_path: Path) -> None:
    left = _tree(tmp_path / "a", {"same.txt": "x", "sub/changed.py": "1", "only_left": "", "__pycache__/x.pyc": "?"})
    right = _tree(tmp_path / "b", {"same.txt": "x", "sub/changed.py": "2", "only_right": ""})
    assert differences(left, right) == ["only_left", "only_right", "sub/changed.py"]
    assert differences(left, left) == []


def test_every_answers_file_has_its_committed_render() -> None:
    for example in all_examples():
        assert (example.folder / ".copier-answers.yml").is_file(), f"run `dsgen examples` for {example.answers_file}"
