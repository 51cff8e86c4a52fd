"""Submit-time refusals shared by submitJob and makeJobs: duplicates, clashing output folders,
and folders CHECK_IF_DONE_BOOL could mistake for another job's. Nothing is sent (the queue stays empty)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ds_runtime.control.commands.submit import submit
from ds_runtime.jobs import JobFileError

from ._control_support import APP, make_ctx, output, queue_counts, spec

QUEUE = f"{APP}Queue"
# Like the demo (ObjectCounter): each job's folder is {output}/{image|stem}/{method}.
COUNTER: dict[str, Any] = {
    "job_fields": [{"name": "image", "type": "s3_key"}, {"name": "method", "type": "string"}],
    "command": ["count", "{image}", "{output_dir}", "{method}"],
    "output_prefix": "{output}/{image|stem}/{method}",
}
# Like Fiji: every job writes under the one shared prefix, by design.
SHARED_PREFIX: dict[str, Any] = {"output_prefix": "{output}"}
# Like OMEZarrCreator: one shared prefix, and a folder in it each job alone writes.
OWN_FOLDER: dict[str, Any] = {"output_prefix": "{output}", "own_output_folder": "{sample}.zarr"}


def job_file(folder: Path, groups: list[dict[str, Any]], **shared: Any) -> Path:
    path = folder / "job.json"
    path.write_text(json.dumps({"input": "in/", "output": "out/", **shared, "groups": groups}))
    return path


def refused(folder: Path, groups: list[dict[str, Any]], tool: dict[str, Any] | None = None, **config: Any) -> str:
    """submitJob's refusal of these jobs; the queue is checked empty."""
    ctx = make_ctx(folder, spec(**(tool or {})), **config)
    with pytest.raises(JobFileError) as caught:
        submit(ctx, job_file(folder, groups))
    assert queue_counts(QUEUE) == (0, 0)
    return str(caught.value)


def test_a_duplicate_job_is_refused_naming_both(ready: Path) -> None:
    message = refused(ready, [{"sample": "a"}, {"sample": "b"}, {"sample": "a"}])
    assert "groups[2]: the same job as groups[0] (same values)" in message and "nothing was sent" in message


def test_two_images_of_one_stem_clash_in_the_demo_s_output_folders(ready: Path) -> None:
    groups = [
        {"image": "plate1/coins.png", "method": "otsu"},
        {"image": "plate2/coins.png", "method": "otsu"},
        {"image": "plate2/coins.png", "method": "li"},
    ]
    message = refused(ready, groups, COUNTER)
    assert "groups[1]: writes the same output folder as groups[0], s3://echo-bucket/out/coins/otsu/" in message
    assert "groups[2]" not in message  # another method: another folder


def test_a_folder_inside_another_job_s_is_refused(ready: Path) -> None:
    message = refused(ready, [{"sample": "a/b"}, {"sample": "c"}, {"sample": "a"}])
    assert "groups[0]: its output folder s3://echo-bucket/out/a/b/ is inside groups[2]'s" in message
    assert "CHECK_IF_DONE_BOOL" in message


def test_a_name_that_only_begins_another_is_no_clash(ready: Path) -> None:
    ctx = make_ctx(ready)
    assert submit(ctx, job_file(ready, [{"sample": "a"}, {"sample": "ab"}, {"sample": "a-1"}])) == 0
    assert queue_counts(QUEUE) == (3, 0)


@pytest.mark.parametrize("sample", ["", "/"], ids=["empty", "slash"])
def test_a_job_whose_own_part_of_the_prefix_is_empty_is_refused(ready: Path, sample: str) -> None:
    """out/{sample} with an empty or / sample would be out/ itself: every job's files look like its own."""
    message = refused(ready, [{"sample": sample}])
    assert "groups[0]: output_prefix:" in message and "empty" in message


def test_an_empty_own_output_folder_is_refused(ready: Path) -> None:
    tool = {"output_prefix": "{output}", "own_output_folder": "{sample}"}
    message = refused(ready, [{"sample": ""}, {"sample": "x"}], tool)
    assert "groups[0]: own_output_folder:" in message and "is empty for this job" in message


def test_jobs_sharing_one_prefix_by_design_still_submit(ready: Path) -> None:
    for tool in (SHARED_PREFIX, OWN_FOLDER):
        ctx = make_ctx(ready, spec(**tool))
        assert submit(ctx, job_file(ready, [{"sample": "a"}, {"sample": "b"}])) == 0, output(ctx)
    assert queue_counts(QUEUE) == (4, 0)


def test_own_folders_of_one_shared_prefix_may_not_clash(ready: Path) -> None:
    message = refused(ready, [{"sample": "a"}, {"sample": "a.zarr/b"}], OWN_FOLDER)
    assert "groups[1]: its output folder s3://echo-bucket/out/a.zarr/b.zarr/ is inside groups[0]'s" in message


def test_check_if_done_with_one_shared_folder_would_skip_jobs_and_is_refused(ready: Path) -> None:
    message = refused(ready, [{"sample": "a"}, {"sample": "b"}], SHARED_PREFIX, CHECK_IF_DONE_BOOL="'True'")
    assert "CHECK_IF_DONE_BOOL" in message and "set CHECK_IF_DONE_BOOL = False" in message


def test_outputs_in_different_buckets_do_not_clash(ready: Path) -> None:
    tool = {
        "shared_fields": [{"name": "output", "type": "s3_prefix"}, {"name": "input", "type": "s3_prefix"}],
        "job_fields": [{"name": "sample", "type": "string"}, {"name": "dest", "type": "string"}],
        "output_prefix": "{output}/{sample}",
        "output_bucket": "dest",
        "config_keys": ["ECHO_MODE", "JOB_BUCKETS"],
    }
    groups = [{"sample": "a", "dest": "bucket-one"}, {"sample": "a", "dest": "bucket-two"}]
    ctx = make_ctx(ready, spec(**tool), JOB_BUCKETS="'bucket-one bucket-two'")
    assert submit(ctx, job_file(ready, groups)) == 0
    assert queue_counts(QUEUE) == (2, 0)
