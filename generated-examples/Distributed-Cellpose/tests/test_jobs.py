"""Job files in DS's format, and the messages made from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ds_runtime.jobs import JobFileError, job_from_message, jobs_from_data, read_job_file

from .test_spec import make_spec


def ds_job_file() -> dict:
    return {
        "_comment1": "DS job files carry comments like this one",
        "pipeline": "projects/x/analysis.cppipe",
        "output": "projects/x/analysis/",
        "groups": [
            {"Metadata": "Metadata_Plate=P1,Metadata_Well=A01"},
            {"Metadata": "Metadata_Plate=P1,Metadata_Well=A02"},
        ],
    }


def test_ds_job_file_gives_one_job_per_group_with_stable_ids(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(ds_job_file()))
    first = read_job_file(path, make_spec())
    again = read_job_file(path, make_spec())
    assert [j.job_id for j in first] == [j.job_id for j in again]
    assert len({j.job_id for j in first}) == 2
    assert first[0].values["Metadata"] == {"Metadata_Plate": "P1", "Metadata_Well": "A01"}


def test_message_round_trip_keeps_id_and_values() -> None:
    spec = make_spec()
    job = jobs_from_data(ds_job_file(), spec)[0]
    back = job_from_message(job.message_body(), spec)
    assert back == job


def test_every_problem_is_listed_by_job_and_field() -> None:
    data = ds_job_file()
    data["groups"] = [{"Metadata": "Metadata_Plate=P1"}, {"Metadata": "broken"}, {}, ["a list"]]
    with pytest.raises(JobFileError) as bad:
        jobs_from_data(data, make_spec(), source="job.json")
    text = str(bad.value)
    assert "job.json" in text and "nothing was sent" in text
    assert "groups[1]: Metadata" in text and "groups[2]: Metadata: required but missing" in text
    assert "groups[3]: must be an object" in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        ({"pipeline": "p"}, "no job list 'groups'"),
        ({"groups": []}, "non-empty list"),
    ],
)
def test_malformed_job_files_are_refused(data: object, message: str) -> None:
    with pytest.raises(JobFileError, match=message):
        jobs_from_data(data, make_spec())


def test_unreadable_job_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="not found"):
        read_job_file(tmp_path / "nope.json", make_spec())
    broken = tmp_path / "broken.json"
    broken.write_text('{"groups": [}')
    with pytest.raises(JobFileError, match=r"broken.json: not valid JSON \(line 1"):
        read_job_file(broken, make_spec())


def test_bare_values_fill_the_only_job_field() -> None:
    spec = make_spec(job_fields=[{"name": "plate"}], command=["t", "{plate}"], output_prefix="o/{plate}")
    jobs = jobs_from_data({**ds_job_file(), "groups": ["P1", "P2"]}, spec)
    assert [j.values["plate"] for j in jobs] == ["P1", "P2"]


def test_oversized_message_is_refused() -> None:
    data = ds_job_file()
    data["groups"] = [{"Metadata": {"k": "x" * 300_000}}]
    with pytest.raises(JobFileError, match="over SQS's"):
        jobs_from_data(data, make_spec(output_prefix="{output}"))  # not in an S3 key, which would be refused first


@pytest.mark.parametrize(
    ("group", "field"),
    [
        ({"Metadata": {"Metadata_Plate": "P1\x00"}}, "Metadata"),  # in a mapping's value
        ({"Metadata": {"K\x00": "1"}}, "Metadata"),  # in a mapping's key
    ],
)
def test_a_nul_byte_is_refused_naming_job_and_field(group: dict, field: str) -> None:
    data = {**ds_job_file(), "groups": [ds_job_file()["groups"][0], group]}
    with pytest.raises(JobFileError) as refused:
        jobs_from_data(data, make_spec(), source="job.json")
    assert f"groups[1]: {field}: holds a NUL byte" in str(refused.value)


def test_a_nul_byte_in_a_shared_text_field_is_refused() -> None:
    with pytest.raises(JobFileError, match=r"shared: pipeline: holds a NUL byte"):
        jobs_from_data({**ds_job_file(), "pipeline": "p/a\x00.cppipe"}, make_spec(), source="job.json")


def test_s3_keys_over_1024_bytes_are_refused_naming_job_and_field() -> None:
    long_well = "é" * 501 + "x"  # 1,003 bytes of UTF-8 in 502 characters: a 1,023-byte prefix
    data = {**ds_job_file(), "groups": [{"Metadata": {"Metadata_Well": long_well}}]}
    with pytest.raises(JobFileError) as refused:
        jobs_from_data(data, make_spec(), source="job.json")
    assert "groups[0]: output_prefix: output prefix is 1023 bytes; S3 keys under it would pass 1024" in str(
        refused.value
    )
    with pytest.raises(JobFileError, match=r"shared: pipeline: s3_key 'xxxx.*is 1025 bytes, over S3's 1024"):
        jobs_from_data({**ds_job_file(), "pipeline": "x" * 1025}, make_spec(), source="job.json")
    assert jobs_from_data({**ds_job_file(), "pipeline": "x" * 1024}, make_spec())  # the limit itself is fine
