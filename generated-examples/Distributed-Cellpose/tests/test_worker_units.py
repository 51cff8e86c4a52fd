"""Fast checks of the worker's parts: done rule, skip-if-done arithmetic, backoff, tool runs, logs, outcomes."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ds_runtime.outcomes import Outcome, latest_keys, latest_outcomes, outcome_key, parse_key, write_outcome
from ds_runtime.provenance import enough_outputs
from ds_runtime.s3_files import output_files
from ds_runtime.spec import DoneRule
from ds_runtime.worker.done import done_problem
from ds_runtime.worker.joblog import TAIL_LINES, JobLog, stream_name
from ds_runtime.worker.runner import run_tool
from ds_runtime.worker.visibility import retry_delay

# ---------------------------------------------------------------- backoff


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay(n, 3600) for n in range(1, 9)] == [10, 20, 40, 80, 160, 320, 640, 900]
    assert retry_delay(3, visibility_timeout=30) == 30  # never longer than a silent worker's hold
    assert retry_delay(0, 3600) == 10


# ---------------------------------------------------------------- done rule


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "top.txt").write_text("header OK\nrest\n")
    (tmp_path / "deep" / "er" / "one.csv").write_text("x")
    return tmp_path


def test_done_rule(output_dir: Path) -> None:
    assert done_problem(DoneRule(), 0, output_dir) == ""
    assert "exited with code 1, expected 0" in done_problem(DoneRule(), 1, output_dir)
    assert "code None" in done_problem(DoneRule(), None, output_dir)
    assert done_problem(DoneRule(exit_code=3), 3, output_dir) == ""
    assert done_problem(DoneRule(min_files=2), 0, output_dir) == ""  # counted at any depth
    assert "wrote 2 output file(s), expected at least 3" in done_problem(DoneRule(min_files=3), 0, output_dir)
    from_config = DoneRule(min_files="config.EXPECTED_NUMBER_FILES")
    assert done_problem(from_config, 0, output_dir, min_files=2) == ""
    assert "expected at least 3" in done_problem(from_config, 0, output_dir, min_files=3)
    with pytest.raises(ValueError, match="needs the config"):
        done_problem(from_config, 0, output_dir)
    assert done_problem(DoneRule(), 0, output_dir, "deep/er/one.csv") == ""
    assert "missing" in done_problem(DoneRule(), 0, output_dir, "nope.txt")
    assert done_problem(DoneRule(required_content="OK"), 0, output_dir, "top.txt") == ""
    assert done_problem(DoneRule(required_content="rest"), 0, output_dir, "top.txt") == ""
    assert "does not contain 'absent'" in done_problem(DoneRule(required_content="absent"), 0, output_dir, "top.txt")
    with pytest.raises(ValueError, match=r"'\.\.'"):
        done_problem(DoneRule(), 0, output_dir, "../escape")


def test_done_rule_may_require_the_first_line_exactly(output_dir: Path) -> None:
    first_line = {"required_content": "header OK", "content_match": "first_line"}
    assert done_problem(DoneRule(**first_line), 0, output_dir, "top.txt") == ""
    later = DoneRule(required_content="rest", content_match="first_line")  # in the file, but not its first line
    assert "begins with 'header OK', not the line 'rest'" in done_problem(later, 0, output_dir, "top.txt")
    (output_dir / "empty.done").write_text("")
    assert "begins with ''" in done_problem(DoneRule(**first_line), 0, output_dir, "empty.done")


def test_excluded_outputs_are_neither_counted_nor_listed(output_dir: Path) -> None:
    assert [p.name for p in output_files(output_dir, ["top.txt"])] == ["one.csv"]
    assert [p.name for p in output_files(output_dir, ["*.csv"])] == ["top.txt"]  # * crosses folders
    assert "wrote 1 output file(s)" in done_problem(DoneRule(min_files=2), 0, output_dir, exclude=["top.txt"])
    # An excluded file can still be the done rule's required file (DCP's cp.is.done).
    rule = DoneRule(required_content="OK")
    assert done_problem(rule, 0, output_dir, "top.txt", exclude=["top.txt"]) == ""


# ---------------------------------------------------------------- skip-if-done arithmetic


def test_enough_outputs_counts_sizes_as_numbers() -> None:
    objects = [("p/a.csv", 100), ("p/b.csv", 100), ("p/c.csv", 9)]
    assert enough_outputs(objects, expected=2, min_size=10, necessary="")
    assert not enough_outputs(objects, expected=3, min_size=10, necessary="")
    assert enough_outputs(objects, expected=3, min_size=9, necessary="")
    # DS compared a size with the text of MIN_FILE_SIZE_BYTES; here both are numbers.
    assert enough_outputs(objects, expected="2", min_size="100", necessary="")  # type: ignore[arg-type]
    assert enough_outputs(objects, expected=1, min_size=0, necessary="b.csv")
    assert not enough_outputs(objects, expected=1, min_size=0, necessary="z.csv")
    assert not enough_outputs([], expected=0, min_size=0, necessary="")  # an empty prefix is never done


def test_enough_outputs_stops_listing_once_satisfied() -> None:
    read = []

    def objects() -> Iterator[tuple[str, int]]:
        for i in range(5000):
            read.append(i)
            yield f"k{i}", 1

    assert enough_outputs(objects(), expected=1500, min_size=1, necessary="")
    assert len(read) == 1500


# ---------------------------------------------------------------- running the tool


def _run(code: str, **kwargs: Any) -> tuple[Any, list[str], float]:
    chunks: list[bytes] = []
    start = time.monotonic()
    run = run_tool([sys.executable, "-c", code], ".", chunks.append, kwargs.pop("stop", threading.Event()), **kwargs)
    return run, b"".join(chunks).decode().splitlines(), time.monotonic() - start


def test_tool_output_and_exit_code() -> None:
    run, lines, _ = _run("import sys; print('a'); print('b', file=sys.stderr); sys.exit(4)")
    assert run.exit_code == 4 and not run.stopped and not run.timed_out
    assert sorted(line.strip() for line in lines) == ["a", "b"]


def test_tool_timeout_stops_it() -> None:
    run, _, took = _run("import time; time.sleep(30)", timeout=0.5)
    assert run.timed_out and run.exit_code is not None and run.exit_code < 0 and took < 5


def test_stop_request_stops_the_tool() -> None:
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    run, _, took = _run("import time; time.sleep(30)", stop=stop)
    assert run.stopped and took < 5


def test_leftover_children_do_not_hold_the_job() -> None:
    # The tool exits but leaves a child holding its output pipe open.
    code = "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print('x')"
    run, lines, took = _run(code)
    assert run.exit_code == 0 and took < 5 and [line.strip() for line in lines] == ["x"]


def test_missing_tool_is_a_failed_run_not_a_crash() -> None:
    run = run_tool(["/no/such/tool"], ".", lambda _: None, threading.Event())
    assert run.exit_code is None and "'/no/such/tool' could not be started: [Errno 2]" in run.ending()


# ---------------------------------------------------------------- job log


class FakeLogs:
    class exceptions:
        class ResourceAlreadyExistsException(Exception):
            pass

    def __init__(self, fail: bool = False):
        self.fail, self.batches = fail, []

    def create_log_stream(self, **_: Any) -> None:
        pass

    def put_log_events(self, logEvents: list[dict[str, Any]], **_: Any) -> None:
        if self.fail:
            raise ConnectionError("CloudWatch is down")
        self.batches.append(logEvents)


def test_job_log_batches_lines_and_keeps_a_tail(capsys: pytest.CaptureFixture[str]) -> None:
    logs = FakeLogs()
    joblog = JobLog(logs, "group", "stream", "job1")
    for i in range(50):
        joblog.line(f"line {i}\n")
    joblog.line("")
    joblog.close()
    events = [e["message"] for batch in logs.batches for e in batch]
    assert events == [f"line {i}" for i in range(50)] + [" "]  # CloudWatch refuses empty events
    assert len(logs.batches) <= 2 and len(joblog.tail) == TAIL_LINES
    assert "[job1] line 49" in capsys.readouterr().out


def test_job_log_failure_never_fails_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    joblog = JobLog(FakeLogs(fail=True), "group", "stream", "job1")
    joblog.line("still printed")
    joblog.close()
    captured = capsys.readouterr()
    assert "[job1] still printed" in captured.out and "CloudWatch logging stopped" in captured.err


# ---------------------------------------------------------------- outcome records


def _outcome(job_id: str, attempt: int, state: str, finished: str) -> Outcome:
    return Outcome(job_id, attempt, state, finished, finished, 1.0, "host")  # type: ignore[arg-type]


def test_outcome_keys_round_trip() -> None:
    record = _outcome("abc", 2, "failed", "2025-01-02T03:04:05.678+00:00")
    key = outcome_key("_ds_status/App/", record)
    assert key == "_ds_status/App/abc/20250102T030405.678000Z-002-failed.json"
    parsed = parse_key("_ds_status/App", key)
    assert parsed is not None and (parsed.job_id, parsed.attempt, parsed.state) == ("abc", 2, "failed")
    assert parse_key("_ds_status/App", "_ds_status/App/abc/notes.txt") is None
    assert Outcome.from_json(record.to_json().replace('"format": 1', '"format": 1, "future": 1')) == record


def test_latest_outcome_per_job(moto_server: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bucket")
    for record in (
        _outcome("j1", 1, "failed", "2025-01-01T00:00:00+00:00"),
        _outcome("j1", 2, "done", "2025-01-01T00:05:00+00:00"),
        _outcome("j2", 1, "interrupted", "2025-01-01T00:01:00+00:00"),
    ):
        write_outcome(s3, "bucket", "st", record)
    assert {k: v.state for k, v in latest_keys(s3, "bucket", "st").items()} == {"j1": "done", "j2": "interrupted"}
    latest = latest_outcomes(s3, "bucket", "st")
    assert latest["j1"].attempt == 2 and latest["j2"].state == "interrupted"


def test_log_streams_are_named_by_the_jobs_own_values_then_its_id() -> None:
    metadata = {"Metadata": {"Metadata_Plate": "Plate1", "Metadata_Well": "A01", "Metadata_Site": 1}}
    assert stream_name(metadata, "3f2a", 2) == "Plate1-A01-1-3f2a/attempt-2"  # DCP's Plate1-A01-1, then the id
    odd = {"name": "plate 1/img:*.tif", "dose": 2.0}
    assert stream_name(odd, "3f2a", 1) == "plate_1_img_.tif-2-3f2a/attempt-1"  # no ':' or '*' (CloudWatch)
    assert stream_name({}, "3f2a", 1) == "3f2a/attempt-1"  # a message that is not a valid job
    assert len(stream_name({"long": "x" * 600}, "3f2a", 1)) < 512


# ---------------------------------------------------------------- spot interruptions


def test_spot_notice_is_watched_only_on_ec2_or_where_told() -> None:
    from ds_runtime.worker.interruption import EC2_METADATA, METADATA_ENV, carried, metadata_url

    assert metadata_url({}) is None  # a laptop or local mode: nothing to poll
    assert metadata_url({"AWS_EXECUTION_ENV": "AWS_ECS_EC2"}) == EC2_METADATA
    assert metadata_url({METADATA_ENV: "http://127.0.0.1:9/"}) == "http://127.0.0.1:9"
    assert carried({}) == (0, 0)
    attributes = {"ds-interruptions": {"StringValue": "2"}, "ds-earlier-attempts": {"StringValue": "x"}}
    assert carried({"MessageAttributes": attributes}) == (2, 0)  # anyone may send: bad numbers count as 0


def test_spot_notice_is_looked_for_every_5_s_unless_told_another_interval() -> None:
    from ds_runtime.worker.interruption import POLL_ENV, poll_seconds

    assert poll_seconds({}) == 5.0 and poll_seconds({POLL_ENV: " "}) == 5.0
    assert poll_seconds({POLL_ENV: "0.2"}) == 0.2
    for bad in ("0", "-1", "soon", "61"):
        expected = f"DS_SPOT_NOTICE_POLL_SECONDS: expected seconds above 0 and at most 60, got '{bad}'"
        with pytest.raises(ValueError, match=expected):
            poll_seconds({POLL_ENV: bad})
