"""One rule for metadata values, and one reader for users' tables, shared by makeJobs and the worker.

A LoadData CSV with zero-padded sites goes through makeJobs and real worker processes: every
job runs, on exactly its own rows, and CellProfiler's `-g` gets the value it matches. CSVs with
a byte-order mark (Excel's "CSV UTF-8") read alike on both sides; Latin-1, duplicate headers
and giant cells are refused naming the file, the line and the fix.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ds_runtime.control.commands.job_sources import loaddata_rows, table_rows
from ds_runtime.entry import main
from ds_runtime.jobs import JobFileError, read_job_file
from ds_runtime.outcomes import app_attribute
from ds_runtime.worker.listing import Listing, ListingError, stage_listing

from ._control_support import write_config
from .test_worker_process import BUCKET, TOY, Rig, finish

ROOT = "/home/ubuntu/bucket"
SITES = ["001", "002", "003"]


def _dcp_rig(tmp_path: Path) -> Rig:
    """DCP's shape: a shared LoadData CSV, one Metadata group per job, its rows picked as CellProfiler's -g picks."""
    rig = Rig(tmp_path, visibility=5, retries=1)
    command = [sys.executable, TOY, "{output_dir}", "--files", "1", "--echo", "--ls", "{input_dir}", "--", "-g"]
    rig.use_spec(
        [*command, "{Metadata}"],
        output_prefix="results/{Metadata|values}",
        shared_fields=[{"name": "data_file", "type": "s3_key"}],
        job_fields=[{"name": "Metadata", "type": "mapping"}],
        input_fields=[{"key": "data_file", "lists_files": {"path_root": ROOT, "rows_matching": "Metadata"}}],
    )
    (tmp_path / "spec.json").write_text(rig.spec.model_dump_json())
    return rig


def _loaddata(sites: list[str], bom: bool = False) -> bytes:
    rows = ["Metadata_Plate,Metadata_Site,FileName_DNA,PathName_DNA"]
    rows += [f"P1,{site},s{site}.tif,{ROOT}/images" for site in sites]
    return (b"\xef\xbb\xbf" if bom else b"") + "\n".join(rows).encode() + b"\n"


def _put_inputs(rig: Rig, csv_bytes: bytes) -> None:
    rig.s3.put_object(Bucket=BUCKET, Key="ws/load_data.csv", Body=csv_bytes)
    for site in SITES:
        rig.s3.put_object(Bucket=BUCKET, Key=f"images/s{site}.tif", Body=f"pixels {site}".encode())


def _run_jobs(rig: Rig, job_file: Path) -> dict[str, dict]:
    """Send the Job file's jobs as submitJob does, run a worker until the queue is empty; outputs by folder."""
    for job in read_job_file(job_file, rig.spec):
        body = job.message_body()
        rig.sqs.send_message(QueueUrl=rig.queue_url, MessageBody=body, MessageAttributes=app_attribute("Test"))
    finish(rig.start(), timeout=90)
    found = {}
    for key in rig.keys("results/"):
        folder, _, name = key.removeprefix("results/").partition("/")
        found.setdefault(folder, {})[name] = json.loads(rig.text(key)) if name.endswith(".json") else None
    return found


def test_a_zero_padded_loaddata_csv_runs_every_job_through_make_jobs_and_the_worker(
    moto_server: str, tmp_path: Path
) -> None:
    rig = _dcp_rig(tmp_path)
    csv_bytes = _loaddata(SITES)
    _put_inputs(rig, csv_bytes)
    (tmp_path / "load_data.csv").write_bytes(csv_bytes)
    job_file = tmp_path / "jobs.json"
    args = ["makeJobs", "loaddata", str(tmp_path / "load_data.csv"), "--group-by", "Metadata_Plate,Metadata_Site"]
    config = write_config(tmp_path, AWS_BUCKET=f"'{BUCKET}'")
    args += ["--set", "data_file=ws/load_data.csv", "--out", str(job_file)]
    assert main(["--config", str(config), "--spec", str(tmp_path / "spec.json"), *args]) == 0
    # Written as CellProfiler reads the column (integers): what the worker and -g will match.
    groups = json.loads(job_file.read_text())["groups"]
    assert groups == [{"Metadata": f"Metadata_Plate=P1,Metadata_Site={n}"} for n in (1, 2, 3)]

    outputs = _run_jobs(rig, job_file)
    assert {o.state for o in rig.outcomes().values()} == {"done"}, [o.error for o in rig.outcomes().values()]
    assert sorted(outputs) == ["P1-1", "P1-2", "P1-3"]
    argv, staged = outputs["P1-2"]["argv.json"], outputs["P1-2"]["ls.json"]
    assert argv[-2:] == ["-g", "Metadata_Plate=P1,Metadata_Site=2"]  # CellProfiler runs the row written 002
    assert staged["images/s002.tif"] == "pixels 002" and not any(k.startswith("images/s001") for k in staged)
    assert staged["ws/load_data.csv"].splitlines()[1].startswith("P1,002,s002.tif,")  # only its row, as written


def test_a_loaddata_csv_with_a_byte_order_mark_stages_its_images_in_the_worker(
    moto_server: str, tmp_path: Path
) -> None:
    rig = _dcp_rig(tmp_path)
    _put_inputs(rig, _loaddata(SITES, bom=True))  # Excel's "CSV UTF-8"
    job_file = tmp_path / "jobs.json"
    groups = [{"Metadata": {"Metadata_Plate": "P1", "Metadata_Site": "3"}}]
    job_file.write_text(json.dumps({"data_file": "ws/load_data.csv", "groups": groups}))
    outputs = _run_jobs(rig, job_file)
    (record,) = rig.outcomes().values()
    assert record.state == "done", record.error
    staged = outputs["P1-3"]["ls.json"]
    assert staged["images/s003.tif"] == "pixels 003"
    assert staged["ws/load_data.csv"].startswith("Metadata_Plate,")  # the mark is not part of the first column


def test_a_job_that_writes_a_padded_number_is_told_the_value_cellprofiler_matches(tmp_path: Path) -> None:
    data = tmp_path / "load_data.csv"
    data.write_bytes(_loaddata(SITES))
    with pytest.raises(ListingError, match=r"no row matches Metadata_Site=002.*write Metadata_Site=2"):
        stage_listing(data, Listing(ROOT, "/job/input"), {"Metadata_Site": "002"})


LATIN_1 = "Metadata_Plate,Metadata_Well\nP1,A01\nPlaque_\xe9t\xe9,A02\n".encode("latin-1")


def test_latin_1_is_refused_naming_the_file_the_line_and_the_fix(tmp_path: Path) -> None:
    data = tmp_path / "load_data.csv"
    data.write_bytes(LATIN_1)
    with pytest.raises(JobFileError, match=r"load_data.csv line 3: byte 0xe9 .* not UTF-8.*save it as UTF-8"):
        loaddata_rows(data, ["Metadata_Plate"])
    with pytest.raises(ListingError, match=r"load_data.csv line 3: byte 0xe9 .*save it as UTF-8"):
        stage_listing(data, Listing(ROOT, "/job/input"), {"Metadata_Plate": "P1"})
    listed = tmp_path / "files.txt"
    listed.write_bytes(f"{ROOT}/a.tif\n{ROOT}/\xe9.tif\n".encode("latin-1"))
    with pytest.raises(ListingError, match=r"files\.txt line 2: byte 0xe9 is not UTF-8"):
        stage_listing(listed, Listing(ROOT, "/job/input"), None)


def test_a_duplicate_header_is_refused_on_both_sides(tmp_path: Path) -> None:
    data = tmp_path / "load_data.csv"
    data.write_text("Metadata_Plate,FileName_DNA,Metadata_Plate\nP1,a.tif,P2\n")
    with pytest.raises(JobFileError, match=r"column 'Metadata_Plate' appears twice \(columns 1 and 3\)"):
        loaddata_rows(data, ["Metadata_Plate"])
    with pytest.raises(ListingError, match="column 'Metadata_Plate' appears twice"):
        stage_listing(data, Listing(ROOT, "/job/input"), {"Metadata_Plate": "P2"})


def test_a_giant_cell_is_refused_naming_its_line(tmp_path: Path) -> None:
    table = tmp_path / "jobs.csv"
    table.write_text("image,method\ninputs/a.png,otsu\ninputs/b.png," + "x" * 200_000 + "\n")
    with pytest.raises(JobFileError, match=r"jobs\.csv line 3: field larger than field limit"):
        table_rows(table)
    open_quote = tmp_path / "quote.csv"
    open_quote.write_text('image,method\n"inputs/a.png,otsu\n' + "inputs/b.png,li\n" * 20_000)
    with pytest.raises(JobFileError, match="a quote left open"):
        table_rows(open_quote)


def test_a_file_list_naming_a_doubled_slash_is_refused_not_read_as_another_key(tmp_path: Path) -> None:
    listed = tmp_path / "files.txt"
    listed.write_text(f"{ROOT}/in//a.txt\n")
    with pytest.raises(ListingError, match="empty part"):
        stage_listing(listed, Listing(ROOT, "/job/input"), None)
