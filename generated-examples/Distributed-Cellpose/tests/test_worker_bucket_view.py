"""A read-only view of the job's inputs at the path a tool's scripts read the bucket from (DF, DCP)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ds_runtime.job_values import check_job
from ds_runtime.spec import ToolSpec
from ds_runtime.worker.bucket_view import ViewError, bucket_view

REPO = Path(__file__).resolve().parents[1]


def _inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "job" / "input"
    (folder / "projects" / "input" / "Plate_1").mkdir(parents=True)
    (folder / "projects" / "input" / "Plate_1" / "A1.tif").write_text("pixels")
    return folder


def test_the_view_shows_exactly_the_jobs_inputs_read_only_while_the_tool_runs(tmp_path: Path) -> None:
    inputs, view = _inputs(tmp_path), tmp_path / "home" / "ubuntu" / "bucket"
    with bucket_view(str(view), inputs):
        seen = sorted(p.relative_to(view).as_posix() for p in view.rglob("*") if p.is_file())
        assert seen == ["projects/input/Plate_1/A1.tif"]
        mode = (view / "projects/input/Plate_1/A1.tif").stat().st_mode
        assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        assert not (view / "projects").stat().st_mode & stat.S_IWUSR  # no new files either
    assert not view.exists() and not view.is_symlink()
    assert (inputs / "projects").stat().st_mode & stat.S_IWUSR  # the job folder can be removed again


def test_a_stale_view_is_replaced_and_anything_else_is_refused(tmp_path: Path) -> None:
    inputs, view = _inputs(tmp_path), tmp_path / "bucket"
    view.symlink_to(tmp_path / "gone")  # left by a killed worker
    with bucket_view(str(view), inputs):
        assert view.resolve() == inputs.resolve()
    view.mkdir()
    (view / "mine.txt").write_text("a person's file")
    with pytest.raises(ViewError, match="exists and is not a link this worker made"), bucket_view(str(view), inputs):
        pass
    assert (view / "mine.txt").read_text() == "a person's file"


def _second_job(tmp_path: Path) -> Path:
    folder = tmp_path / "job2" / "input"
    (folder / "projects").mkdir(parents=True)
    (folder / "projects" / "B2.tif").write_text("other pixels")
    return folder


def test_a_view_the_tool_replaced_with_a_folder_is_made_again_for_the_next_job(tmp_path: Path) -> None:
    inputs, view = _inputs(tmp_path), tmp_path / "bucket"
    with bucket_view(str(view), inputs):  # the tool's doing: the link becomes a folder of its own
        view.unlink()
        (view / "sub").mkdir(parents=True)
        (view / "sub" / "junk.txt").write_text("left behind")
        (view / "sub").chmod(0o500)
    assert not view.exists() and not view.is_symlink()
    with bucket_view(str(view), _second_job(tmp_path)):
        assert sorted(p.name for p in view.rglob("*")) == ["B2.tif", "projects"]


def test_a_view_replaced_by_a_tool_whose_worker_was_killed_is_made_again(tmp_path: Path) -> None:
    inputs, view = _inputs(tmp_path), tmp_path / "bucket"
    killed = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from ds_runtime.worker.bucket_view import bucket_view\n"
        "with bucket_view(sys.argv[1], Path(sys.argv[2])):\n"
        "    os.unlink(sys.argv[1]); os.mkdir(sys.argv[1])\n"
        "    os._exit(9)  # killed while its tool runs: nothing is cleaned up\n"
    )
    done = subprocess.run([sys.executable, "-c", killed, str(view), str(inputs)], cwd=REPO, check=False)
    assert done.returncode == 9 and view.is_dir() and not view.is_symlink()
    with bucket_view(str(view), _second_job(tmp_path)):
        assert (view / "projects" / "B2.tif").read_text() == "other pixels"


def test_df_inputs_are_named_by_a_mapping_key_as_a_key_or_as_a_path_under_the_view() -> None:
    spec = ToolSpec.model_validate(
        {
            "tool_name": "Fiji",
            "app_name": "DistributedFiji",
            "docker_image": "fiji:1",
            "command": ["fiji", "{shared_metadata|pairs}"],
            "shared_fields": [{"name": "shared_metadata", "type": "mapping"}],
            "job_fields": [{"name": "Well"}],
            "output_prefix": "out/{Well}",
            "bucket_view": "/home/ubuntu/bucket/",
            "input_fields": ["{shared_metadata.input_file_location}/"],
        }
    )
    for written in ("projects/input", "/home/ubuntu/bucket/projects/input"):
        values = check_job(spec, {"shared_metadata": {"input_file_location": written}}, {"Well": "A1"}, "job")
        assert [i.key for i in spec.for_job(values, "id").inputs()] == ["projects/input/"]
    # A script that fetches its own images (DF's awsdownload) names no input folder: nothing is placed.
    assert spec.for_job(check_job(spec, {"shared_metadata": {"rows": "2"}}, {"Well": "A1"}, "job"), "id").inputs() == []
    with pytest.raises(ValueError, match="absolute folder"):
        ToolSpec.model_validate({**spec.model_dump(), "bucket_view": "home/ubuntu/bucket"})
