"""Every question's validator refuses bad answers with a message naming the fix, and nothing is written.

The same checks run under `dsgen new` and plain `copier copy`: they live in copier.yml.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsgen.render import AnswerError, render

# (question, bad answer, words the message must contain)
BAD_ANSWERS = [
    ("tool_name", "1Tool", "letters and digits"),
    ("tool_name", "My Tool", "letters and digits"),
    ("docker_image", "Not An Image", "not an image reference"),
    ("job_list_key", "my-jobs", "letters, digits and _"),
    ("fields", "{name: x}", "must be a YAML list"),
    ("fields", "[{name: 9lives, scope: job}]", "use letters, digits and _"),
    ("fields", "[{name: a, scope: job}, {name: a, scope: shared}]", "declared twice"),
    ("fields", "[{name: job_id, scope: job}]", "reserved"),
    ("fields", "[{name: groups, scope: shared}]", "reserved"),
    ("fields", "[{name: a}]", "scope must be shared"),
    ("fields", "[{name: a, scope: job, type: float}]", "is not one of"),
    ("fields", "[{name: a, scope: job, colour: red}]", "unknown keys colour"),
    ("command", '"echo hello"', "non-empty list"),
    ("command", "[]", "non-empty list"),
    ("command", '["echo", "{nope}"]', "{nope} is neither a declared field nor a built-in"),
    ("command", '["echo", "{sample|upper}"]', "filter |upper is unknown"),
    ("command", "[echo, 3]", "must be text"),
    ("command", "[echo, {when: nope, args: [x]}]", "is not a declared field"),
    ("command", "[echo, {when: sample}]", "needs when (a field) and args"),
    ("input_fields", "[sample]", "not a declared field of type s3_key or s3_prefix"),
    ("output_prefix", "/abs/{job_id}", "relative to the bucket"),
    ("output_prefix", "{output}/../{job_id}", "relative to the bucket"),
    ("output_prefix", "{output_dir}", "local folders cannot appear here"),
    ("output_prefix", "", "must not be empty"),
    ("output_prefix", "{output}/{sample|lower}", "filter |lower is unknown"),
    ("done_min_files", "-1", "0 or more"),
    ("done_required_file", "{nope}.txt", "{nope} is not a declared field"),
    ("aws_region", "mars-1", "not a region name"),
    ("machine_types", "[]", "non-empty YAML list"),
    ("machine_types", "[big]", "not an instance type"),
    ("machine_price", "0", "above 0"),
    ("cluster_machines", "0", "at least 1"),
    ("tasks_per_machine", "0", "at least 1"),
    ("docker_cores", "0", "at least 1"),
    ("cpu_shares", "64", "at least 128"),
    ("memory_mb", "0", "at least 128"),
    ("ebs_vol_size", "8", "at least 22"),
    ("extra_config", "[A]", "YAML mapping"),
    ("extra_config", "{lower: 1}", "UPPER_CASE"),
    ("example_jobs", "[{nope: 1}]", "unknown fields nope"),
]


@pytest.mark.parametrize(("question", "answer", "message"), BAD_ANSWERS, ids=[f"{q}={a}" for q, a, _ in BAD_ANSWERS])
def test_bad_answer_is_refused_and_nothing_written(tmp_path: Path, question: str, answer: str, message: str) -> None:
    dest = tmp_path / "out"
    with pytest.raises(AnswerError) as refused:
        render(dest, {question: answer}, vcs_ref=None)
    assert f"'{question}'" in str(refused.value)
    assert message in str(refused.value)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == [], "a staging folder was left behind"


def test_unknown_question_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnswerError, match="unknown question"):
        render(tmp_path / "out", {"tool_nmae": "Fiji"}, vcs_ref=None)


def test_non_empty_destination_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(AnswerError, match="not empty"):
        render(tmp_path, {}, vcs_ref=None)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_every_question_has_help_and_a_validated_bad_case() -> None:
    """A new question needs help text and a line in BAD_ANSWERS (or a reason it needs none)."""
    import yaml

    from dsgen.render import TEMPLATE_ROOT

    config = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    asked = {k: v for k, v in config.items() if not k.startswith("_") and v.get("when") is not False}
    free_text = {"tool_description", "done_required_content", "needs_fuse"}  # any value is acceptable
    for name, question in asked.items():
        assert question.get("help"), f"question {name} has no help text"
        if name not in free_text:
            assert question.get("validator"), f"question {name} has no validator"
            assert any(q == name for q, _, _ in BAD_ANSWERS), f"no bad-answer test for {name}"
