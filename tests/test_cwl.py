"""`dsgen new --from-cwl`: answers drafted from a CWL CommandLineTool generate a repository whose check passes.

The CWL files in tests/cwl/ were written for these tests, one kind of tool each: a File input given
with a prefix and output files the command names (fastp), an optional flag, an optional option and
stdout capture (flagstat), array inputs (cut), and what has no place in a tool spec (segment).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dsgen.cwl import Draft, draft_from_cwl, draft_text
from dsgen.render import AnswerError, load_answers, render
from dsgen.source import WORKING_TREE

from .conftest import ROOT

CWL = ROOT / "tests" / "cwl"


def _draft(name: str) -> Draft:
    return draft_from_cwl(CWL / f"{name}.cwl")


@pytest.mark.parametrize("name", ["fastp", "flagstat", "cut", "segment"])
def test_each_drafted_answers_file_generates_a_repository_whose_check_passes(tmp_path: Path, name: str) -> None:
    answers_file = tmp_path / "answers.yml"
    answers_file.write_text(draft_text(_draft(name), CWL / f"{name}.cwl"))
    # render runs the repository's own `run.py check files/exampleJob.json` and refuses on any problem
    repo = render(tmp_path / "repo", load_answers(answers_file), source=WORKING_TREE)
    assert (repo / "tool" / "spec.json").exists()


def test_a_file_input_with_a_prefix_is_downloaded_and_named_by_its_local_path() -> None:
    draft = _draft("fastp")
    assert draft.answers["command"][-2:] == ["-i", "{input_dir}/{reads}"]
    assert draft.answers["input_fields"] == ["reads"]
    reads = next(f for f in draft.answers["fields"] if f["name"] == "reads")
    assert reads == {"name": "reads", "scope": "job", "help": "The reads, FASTQ", "type": "s3_key"}
    assert draft.answers["docker_image"] == "quay.io/biocontainers/fastp:0.23.4--hadf994f_2"  # from hints
    assert (draft.answers["cpu_shares"], draft.answers["memory_mb"]) == (4096, 8000)


def test_output_files_the_command_names_go_to_the_output_folder_and_make_the_done_rule() -> None:
    draft = _draft("fastp")
    command = draft.answers["command"]
    assert command[:5] == ["fastp", "-o", "{output_dir}/trimmed.fastq.gz", "--json", "{output_dir}/report.json"]
    assert draft.answers["done_min_files"] == 2
    assert draft.unmapped == []


def test_options_follow_cwl_order_with_prefixes_joined_or_apart_and_defaults_kept() -> None:
    command = _draft("fastp").answers["command"]
    # arguments first (position 0, by index), then inputs by name: adapter, min_length, reads
    assert command[5:] == [
        {"when": "adapter", "args": ["--adapter_sequence{adapter}"]},  # separate: false
        "--length_required",
        "{min_length}",
        "-i",
        "{input_dir}/{reads}",
    ]
    fields = {f["name"]: f for f in _draft("fastp").answers["fields"]}
    assert fields["min_length"] == {
        "name": "min_length",
        "scope": "job",
        "type": "integer",
        "required": False,
        "default": 15,
    }
    assert fields["adapter"]["required"] is False


def test_an_optional_flag_is_added_only_when_true_and_stdout_is_listed_as_not_mapped() -> None:
    draft = _draft("flagstat")
    assert {"when": "verbose", "matches": "(?i)^true$", "args": ["-v"]} in draft.answers["command"]
    assert {"when": "threads", "args": ["--threads", "{threads}"]} in draft.answers["command"]
    assert any(note.startswith("stdout 'flagstat.tsv'") for note in draft.unmapped)
    assert any("output 'stats' is the command's stdout" in note for note in draft.unmapped)


def test_array_inputs_are_text_fields_or_listed_when_no_field_type_holds_them() -> None:
    flagstat, cut = _draft("flagstat"), _draft("cut")
    assert {"when": "regions", "args": ["-r", {"split": "{regions}"}]} in flagstat.answers["command"]
    assert cut.answers["command"] == ["cut", "-f", "{columns}", "{input_dir}/{table}"]
    columns = next(f for f in cut.answers["fields"] if f["name"] == "columns")
    assert columns["type"] == "string" and "separated by ','" in columns["help"]
    assert "input 'more_tables' of type an array of File: no field type holds it; left out" in cut.unmapped
    assert any(note.startswith("output 'logs' (glob '*.log')") for note in cut.unmapped)


def test_what_cannot_map_is_listed_in_the_drafted_file_not_guessed() -> None:
    draft = _draft("segment")
    assert draft.answers["tool_name"] == "Segment"
    assert draft.answers["command"] == [
        "python3",
        "/opt/segment.py",
        "--images",
        "{input_dir}/{images}",
        "--min-size",
        "{min_size}",
    ]
    assert "docker_image" not in draft.answers
    assert [f["name"] for f in draft.answers["fields"]] == ["images", "min_size"]
    text = draft_text(draft, CWL / "segment.cwl")
    for listed in (
        "$(runtime.cores)",
        "'min-size' is the field 'min_size'",
        "valueFrom '$(self).csv'",
        "$(inputs.sample).csv",
        "no DockerRequirement",
        "InitialWorkDirRequirement",
    ):
        assert listed in text
    assert "TODO" not in text
    assert yaml.safe_load(text) == draft.answers  # the notes are comments: the file is the answers


def test_a_workflow_or_a_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    workflow = tmp_path / "wf.cwl"
    workflow.write_text("cwlVersion: v1.2\nclass: Workflow\ninputs: []\noutputs: []\nsteps: []\n")
    with pytest.raises(AnswerError, match="a Workflow, not a CommandLineTool"):
        draft_from_cwl(workflow)
    with pytest.raises(AnswerError, match="CWL file not found"):
        draft_from_cwl(tmp_path / "nope.cwl")


def test_dsgen_new_from_cwl_writes_the_answers_file_and_renders_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "dsgen.cli", "new", "--from-cwl", str(CWL / "cut.cwl")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["Cut-answers.yml"]
    assert "dsgen new --data-file Cut-answers.yml" in done.stdout and "more_tables" in done.stdout


def test_from_cwl_with_other_answers_is_refused(tmp_path: Path) -> None:
    from dsgen.cli import main

    assert main(["new", "--from-cwl", str(CWL / "cut.cwl"), "--defaults"]) == 2
