"""Files named inside a LoadData CSV or a file list: this job's rows, their keys, the list re-pointed locally."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ds_runtime.metadata_values import column_kind, measured_text
from ds_runtime.worker.listing import Listing, ListingError, stage_listing

ROOT = "/home/ubuntu/bucket"
LISTING = Listing(root=ROOT, input_dir="/job/input")
IMAGES = f"{ROOT}/projects/demo/images"


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _row(plate: str, well: str) -> dict[str, str]:
    return {
        "Metadata_Plate": plate,
        "Metadata_Well": well,
        "FileName_DNA": f"{well}_dna.tif",
        "PathName_DNA": f"{IMAGES}/{plate}",
        "ObjectsFileName_Nuclei": f"{well}_nuclei.png",
        "ObjectsPathName_Nuclei": f"{IMAGES}/{plate}/labels/",
        "URL_Illum": f"file://{IMAGES}/illum/{plate}.npy",
    }


def test_a_csv_keeps_this_jobs_rows_and_names_exactly_their_files(tmp_path: Path) -> None:
    data = _csv(tmp_path / "load_data.csv", [_row("P1", "A01"), _row("P1", "A02"), _row("P2", "A01")])
    keys = stage_listing(data, LISTING, {"Metadata_Plate": "P1", "Metadata_Well": "A02"})
    assert keys == [
        "projects/demo/images/P1/A02_dna.tif",
        "projects/demo/images/P1/labels/A02_nuclei.png",
        "projects/demo/images/illum/P1.npy",
    ]
    (row,) = _read(data)  # the list now names only the local copies of this job's files
    assert row["PathName_DNA"] == "/job/input/projects/demo/images/P1"
    assert row["ObjectsPathName_Nuclei"] == "/job/input/projects/demo/images/P1/labels"
    assert row["URL_Illum"] == "file:///job/input/projects/demo/images/illum/P1.npy"
    assert (row["Metadata_Well"], row["FileName_DNA"]) == ("A02", "A02_dna.tif")


def test_shared_files_are_fetched_once_and_no_selector_keeps_every_row(tmp_path: Path) -> None:
    rows = [{**_row("P1", "A01"), "Metadata_Site": str(site)} for site in (1, 2)]
    data = _csv(tmp_path / "load_data.csv", rows)
    keys = stage_listing(data, LISTING, {"Metadata_Plate": "P1", "Metadata_Site": 2})
    assert keys.count("projects/demo/images/illum/P1.npy") == 1
    assert [r["Metadata_Site"] for r in _read(data)] == ["2"]
    # Without a selector every row is kept: a batch of the whole list.
    data = _csv(tmp_path / "all.csv", rows)
    assert len(stage_listing(data, LISTING, None)) == 3 and len(_read(data)) == 2


def test_a_file_list_is_one_path_per_line(tmp_path: Path) -> None:
    listed = tmp_path / "files.txt"
    listed.write_text(f"{IMAGES}/P1/a.tif\n\nfile://{IMAGES}/P1/b.tif\n")
    assert stage_listing(listed, LISTING, None) == ["projects/demo/images/P1/a.tif", "projects/demo/images/P1/b.tif"]
    expected = "/job/input/projects/demo/images/P1/a.tif\nfile:///job/input/projects/demo/images/P1/b.tif\n"
    assert listed.read_text() == expected


def test_other_files_name_nothing_and_are_left_alone(tmp_path: Path) -> None:
    batch = tmp_path / "Batch_data.h5"
    batch.write_bytes(b"\x89HDF")
    assert stage_listing(batch, LISTING, {"Metadata_Plate": "P1"}) == []
    assert batch.read_bytes() == b"\x89HDF"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/elsewhere/P1", "is not under /home/ubuntu/bucket"),
        ("relative/P1", "is not under /home/ubuntu/bucket"),
        (f"{ROOT}/../etc", "'..' segment"),
    ],
)
def test_paths_outside_the_bucket_root_are_refused(tmp_path: Path, path: str, message: str) -> None:
    data = _csv(tmp_path / "load_data.csv", [{**_row("P1", "A01"), "PathName_DNA": path}])
    with pytest.raises(ListingError, match=message):
        stage_listing(data, LISTING, {"Metadata_Plate": "P1"})


def test_metadata_that_selects_nothing_is_named(tmp_path: Path) -> None:
    data = _csv(tmp_path / "load_data.csv", [_row("P1", "A01")])
    with pytest.raises(ListingError, match="no row matches Metadata_Plate=P9"):
        stage_listing(data, LISTING, {"Metadata_Plate": "P9"})
    with pytest.raises(ListingError, match="no column Metadata_Site"):
        stage_listing(data, LISTING, {"Metadata_Site": "1"})


def _sites(tmp_path: Path, column: str, values: list[str]) -> Path:
    rows = [{**_row("P1", "A01"), column: value, "FileName_DNA": f"s{i}.tif"} for i, value in enumerate(values)]
    return _csv(tmp_path / "load_data.csv", rows)


# What CellProfiler 4.2.8's own `-g` ran, measured with the real cellprofiler on this kind of CSV
# (see the module's comment): the job's text against the CSV's values as CellProfiler types them.
@pytest.mark.parametrize(
    ("column", "values", "asked", "kept"),
    [
        ("Metadata_Site", ["001", "002", "010"], 2, ["002"]),  # an integer column: 002 is 2
        ("Metadata_Site", ["001", "002", "010"], "2", ["002"]),
        ("Metadata_Site", ["001", "002", "010"], "002", []),  # CellProfiler runs nothing for =002
        ("Metadata_Site", ["1", "02", "x"], "02", ["02"]),  # one text value: the column is text
        ("Metadata_Dose", ["2.50", "3", "1e1"], "2.5", ["2.50"]),  # a float column: str(float)
        ("Metadata_Dose", ["2.50", "3", "1e1"], "10.0", ["1e1"]),
        ("Metadata_Dose", ["2.50", "3", "1e1"], "2.50", []),
        ("Metadata_Col", ["01", "02"], "01", ["01"]),  # a well-column name is always text
        ("Metadata_Col", ["01", "02"], 1, []),
        ("Metadata_Big", ["04294967296", "7"], "04294967296", ["04294967296"]),  # beyond 32 bits: text
    ],
)
def test_rows_are_chosen_as_cellprofilers_group_option_chooses_them(
    tmp_path: Path, column: str, values: list[str], asked: object, kept: list[str]
) -> None:
    data = _sites(tmp_path, column, values)
    if not kept:
        with pytest.raises(ListingError, match=f"no row matches {column}="):
            stage_listing(data, LISTING, {column: asked})
        return
    stage_listing(data, LISTING, {column: asked})
    assert [row[column] for row in _read(data)] == kept  # the rewritten CSV keeps the values as written


def test_column_kinds_follow_cellprofilers_loaddata_types() -> None:
    assert column_kind("Metadata_Site", ["1", "-2", " 3 "]) == "int"
    assert column_kind("Metadata_Site", ["1", "2.0"]) == "float"
    assert column_kind("Metadata_Site", ["1", ""]) == "text"  # an empty cell is text
    assert column_kind("Metadata_WellColumn", ["1"]) == "text"
    assert (measured_text("007", "int"), measured_text("7.10", "float"), measured_text("007", "text")) == (
        "7",
        "7.1",
        "007",
    )
