"""makeJobs: a Job file built from a LoadData CSV, a listing of files, or a table, checked as submitJob checks it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ds_runtime.control.commands.job_sources import listing_rows
from ds_runtime.control.commands.setup import setup
from ds_runtime.control.resources.account import setup_account
from ds_runtime.entry import main
from ds_runtime.local import fast_sqs

from ._control_support import APP, make_ctx, put_objects, queue_counts, write_config, write_spec

QUEUE = f"{APP}Queue"
BUCKET = "echo-bucket"  # AWS_BUCKET of the test config.py
# A tool whose jobs are groups of metadata, as DCP's (one mapping job field, matched against a LoadData
# CSV's rows as CellProfiler's -g matches them).
PLATE_TOOL: dict[str, Any] = {
    "shared_fields": [
        {"name": "input", "type": "s3_prefix"},
        {"name": "output", "type": "s3_prefix"},
        {"name": "data_file", "type": "s3_key", "required": False},
    ],
    "job_fields": [{"name": "Metadata", "type": "mapping"}],
    "command": ["echo", "-g", "{Metadata}", "{output_dir}"],
    "input_fields": [
        {"key": "data_file", "lists_files": {"path_root": "/home/ubuntu/bucket", "rows_matching": "Metadata"}}
    ],
    "output_prefix": "{output}/{Metadata|values}",
}
# A tool like the demo (ObjectCounter): an image and a threshold method per job.
COUNTER_TOOL: dict[str, Any] = {
    "shared_fields": [
        {"name": "output", "type": "s3_prefix"},
        {"name": "min_area", "type": "integer", "required": False, "default": 20},
    ],
    "job_fields": [{"name": "image", "type": "s3_key"}, {"name": "method", "type": "string"}],
    "command": ["count", "{image}", "{output_dir}", "--threshold", "{method}", "--min-area", "{min_area}"],
    "input_fields": ["image"],
    "output_prefix": "{output}/{image|stem}/{method}",
}
WELLS = [f"{row}{col:02d}" for row in "ABCDEFGHIJKLMNOP" for col in range(1, 25)]  # a 384-well plate
SITES = range(1, 10)


@pytest.fixture
def ready(tmp_path: Path) -> Iterator[Path]:
    """An emulated account after setupAccount and setup, with moto's SQS made fast for thousands of jobs."""
    patched = fast_sqs.install()
    with mock_aws():
        ctx = make_ctx(tmp_path)
        setup_account(ctx)
        setup(ctx)
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield tmp_path
    if patched:
        fast_sqs.uninstall()


def run(folder: Path, tool: dict[str, Any], *args: str) -> int:
    return main(["--config", str(write_config(folder)), "--spec", str(write_spec(folder, **tool)), *args])


def test_a_384_well_9_site_plate_listed_in_s3_makes_3456_jobs_that_submitJob_sends(ready: Path) -> None:
    put_objects(BUCKET, (f"projects/p/images/Plate1/{well}_s{site}.tif" for well in WELLS for site in SITES), b"")
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=BUCKET, Key="projects/p/images/Plate1/notes.txt", Body=b"not an image"
    )
    out = ready / "files" / "plate1.json"
    code = run(
        ready,
        PLATE_TOOL,
        "makeJobs",
        "listing",
        "projects/p/images/",
        "--pattern",
        "{plate}/{well}_s{site}.tif",
        "--map",
        "plate=Metadata.Metadata_Plate",
        "--map",
        "well=Metadata.Metadata_Well",
        "--map",
        "site=Metadata.Metadata_Site",
        "--set",
        "input=projects/p/images/",
        "--set",
        "output=projects/p/analysis/",
        "--out",
        str(out),
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert data["input"] == "projects/p/images/" and data["output"] == "projects/p/analysis/"
    groups = data["groups"]
    assert len(groups) == 3456  # notes.txt does not match the pattern
    assert groups[0] == {"Metadata": "Metadata_Plate=Plate1,Metadata_Well=A01,Metadata_Site=1"}
    assert len({g["Metadata"] for g in groups}) == 3456
    assert run(ready, PLATE_TOOL, "submitJob", str(out)) == 0
    assert queue_counts(QUEUE) == (3456, 0)


def test_grouping_by_fewer_fields_makes_one_job_per_well(ready: Path) -> None:
    folder = ready / "images"
    for well in WELLS[:5]:
        for site in SITES:
            for channel in (1, 2):
                (folder / "P1").mkdir(parents=True, exist_ok=True)
                (folder / "P1" / f"{well}_s{site}_w{channel}.tif").write_bytes(b"")
    out = ready / "wells.json"
    args = ["makeJobs", "listing", "projects/p/", "--folder", str(folder), "--pattern", "{plate}/{well}_s{site}_w*.tif"]
    sets = ["--set", "input=projects/p/", "--set", "output=out/"]
    assert run(ready, PLATE_TOOL, *args, "--group-by", "plate,well", *sets, "--out", str(out)) == 0
    groups = json.loads(out.read_text())["groups"]
    assert groups == [{"Metadata": f"plate=P1,well={well}"} for well in WELLS[:5]]


def test_one_job_per_file_with_its_whole_key(ready: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    for name in ("coins.png", "moon.png", "readme.md"):
        s3.put_object(Bucket=BUCKET, Key=f"inputs/{name}", Body=b"")
    out = ready / "otsu.json"
    args = ["makeJobs", "listing", "inputs/", "--pattern", "*.png", "--map", "key=image", "--set", "method=otsu"]
    assert run(ready, COUNTER_TOOL, *args, "--set", "output=results/", "--set", "min_area=5", "--out", str(out)) == 0
    data = json.loads(out.read_text())
    assert data == {
        "output": "results/",
        "min_area": 5,  # written in its type, as a user would
        "groups": [{"method": "otsu", "image": "inputs/coins.png"}, {"method": "otsu", "image": "inputs/moon.png"}],
    }
    printed = capsys.readouterr().out
    assert "2 job(s)" in printed and '"image": "inputs/coins.png"' in printed


def write_loaddata(path: Path, wells: list[str], sites: range) -> None:
    """A LoadData CSV as CellProfiler writes it: two channels per image set, sites zero-padded."""
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        metadata = ["Metadata_Plate", "Metadata_Well", "Metadata_Site"]
        out.writerow(["FileName_DNA", "FileName_Actin", "PathName_DNA", *metadata])
        folder = "/home/ubuntu/bucket/projects/p/images/Plate1"
        for well in wells:
            for site in sites:
                names = [f"{well}_s{site}_w{channel}.tif" for channel in (1, 2)]
                out.writerow([*names, folder, "Plate1", well, f"{site:03d}"])


def test_loaddata_csv_makes_one_job_per_group_in_the_metadata_form(ready: Path) -> None:
    load_data = ready / "load_data.csv"
    write_loaddata(load_data, WELLS, SITES)
    out = ready / "files" / "cp.json"
    group_by = "Metadata_Plate,Metadata_Well,Metadata_Site"
    args = ["makeJobs", "loaddata", str(load_data), "--group-by", group_by, "--set", "output=projects/p/analysis/"]
    assert run(ready, PLATE_TOOL, *args, "--set", "input=projects/p/images/", "--out", str(out)) == 0
    groups = json.loads(out.read_text())["groups"]
    assert len(groups) == 3456
    # As CellProfiler types the column (integers): 002 is written 2, which the worker and its -g match.
    assert groups[1] == {"Metadata": "Metadata_Plate=Plate1,Metadata_Well=A01,Metadata_Site=2"}
    assert run(ready, PLATE_TOOL, "submitJob", str(out)) == 0
    assert queue_counts(QUEUE) == (3456, 0)


def test_loaddata_grouping_column_must_exist_and_have_values(ready: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load_data = ready / "load_data.csv"
    write_loaddata(load_data, WELLS[:2], range(1, 3))
    out = ready / "cp.json"
    source = ["makeJobs", "loaddata", str(load_data), "--out", str(out), "--set", "input=i/", "--set", "output=o/"]
    assert run(ready, PLATE_TOOL, *source, "--group-by", "Metadata_Row") == 2
    err = capsys.readouterr().err
    assert "no column Metadata_Row" in err and "Metadata_Well" in err  # the columns it could be
    text = load_data.read_text().replace("Plate1,A02,001", "Plate1,,001")
    load_data.write_text(text)
    assert run(ready, PLATE_TOOL, *source, "--group-by", "Metadata_Plate,Metadata_Well") == 2
    err = capsys.readouterr().err
    assert f"{load_data} line 4: Metadata_Well is empty" in err
    assert not out.exists()


def test_table_maps_columns_to_job_fields(ready: Path) -> None:
    table = ready / "jobs.tsv"
    table.write_text("picture\tmethod\tnotes\ninputs/a.png\totsu\tgood\ninputs/b.png\tli\t\n")
    out = ready / "t.json"
    args = ["makeJobs", "table", str(table), "--map", "picture=image", "--map", "notes=", "--set", "output=res/"]
    assert run(ready, COUNTER_TOOL, *args, "--out", str(out)) == 0
    assert json.loads(out.read_text())["groups"] == [
        {"image": "inputs/a.png", "method": "otsu"},
        {"image": "inputs/b.png", "method": "li"},
    ]
    assert run(ready, COUNTER_TOOL, "submitJob", str(out)) == 0
    assert queue_counts(QUEUE) == (2, 0)


def test_bad_rows_are_refused_by_line_and_field_and_nothing_is_written(
    ready: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = ready / "jobs.csv"
    table.write_text("image,method\ninputs/a.png,otsu\ninputs/b.png,\n../escape.png,li\n")
    out = ready / "t.json"
    assert run(ready, COUNTER_TOOL, "makeJobs", "table", str(table), "--set", "output=res/", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "nothing was written" in err
    assert f"groups[1] ({table} line 3): method: required but missing" in err
    assert f"groups[2] ({table} line 4): image:" in err and "'..'" in err
    assert f"groups[0] ({table} line 2)" not in err
    assert not out.exists()


def test_a_column_no_field_takes_is_refused_with_the_fix(ready: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = ready / "jobs.csv"
    table.write_text("image,method,threshold\ninputs/a.png,otsu,3\n")
    out = ready / "t.json"
    assert run(ready, COUNTER_TOOL, "makeJobs", "table", str(table), "--set", "output=res/", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "column 'threshold' has no job field" in err and "--map threshold=" in err
    assert not out.exists()


def test_a_column_of_a_shared_field_is_refused_with_the_fix(ready: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = ready / "jobs.csv"
    table.write_text("image,method,min_area\ninputs/a.png,otsu,5\n")
    out = ready / "t.json"
    assert run(ready, COUNTER_TOOL, "makeJobs", "table", str(table), "--set", "output=res/", "--out", str(out)) == 2
    assert "min_area is a shared field" in capsys.readouterr().err and not out.exists()


def test_an_existing_file_is_never_replaced_without_force(ready: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = ready / "jobs.csv"
    table.write_text("image,method\ninputs/a.png,otsu\n")
    out = ready / "mine.json"
    out.write_text("my own notes")
    args = ["makeJobs", "table", str(table), "--set", "output=res/", "--out", str(out)]
    assert run(ready, COUNTER_TOOL, *args) == 2
    assert "mine.json exists" in capsys.readouterr().err and out.read_text() == "my own notes"
    assert run(ready, COUNTER_TOOL, *args, "--force") == 0
    assert json.loads(out.read_text())["groups"] == [{"image": "inputs/a.png", "method": "otsu"}]


def test_images_of_the_same_stem_clash_and_nothing_is_written(ready: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's output prefix is {output}/{image|stem}/{method}: a/coins.png and b/coins.tif share a folder."""
    folder = ready / "images"
    for name in ("a/coins.png", "b/coins.tif", "b/moon.png"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")
    out = ready / "clash.json"
    args = ["makeJobs", "listing", "inputs/", "--folder", str(folder), "--pattern", "{sub}/*", "--map", "key=image"]
    args += ["--map", "sub=", "--set", "method=otsu", "--set", "output=r/", "--out", str(out)]
    assert run(ready, COUNTER_TOOL, *args) == 2
    err = capsys.readouterr().err
    assert f"groups[1] ({folder / 'b' / 'coins.tif'}): writes the same output folder as groups[0]" in err
    assert "s3://echo-bucket/r/coins/otsu/" in err
    assert not out.exists()


def test_a_pattern_field_named_twice_must_match_the_same_text() -> None:
    keys = ["imgs/P1/P1_A01_w1.tif", "imgs/P1/P2_A02_w1.tif", "imgs/P1/P1_A03_w2.tif", "imgs/P1/sub/P1_A04_w1.tif"]
    rows = listing_rows(((k, k) for k in keys), "imgs/", "{plate}/{plate}_{well}_w*.tif", None, with_key=False)
    assert [row.values for row in rows] == [{"plate": "P1", "well": "A01"}, {"plate": "P1", "well": "A03"}]
    assert rows[1].origin == "imgs/P1/P1_A03_w2.tif"  # a {field} never crosses a /, so sub/ does not match
