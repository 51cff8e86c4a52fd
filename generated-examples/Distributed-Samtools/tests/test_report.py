"""`run.py report`: one self-contained HTML page built from the outcome records and the queues."""
# ruff: noqa: F811 (the fixtures aws and mixed come from test_control_costs)

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console

from ds_runtime.control.common.context import Context
from ds_runtime.control.views.report import RunReport, gather, observed_machine_hours, render
from ds_runtime.control.views.status import Status, status
from ds_runtime.entry import main
from ds_runtime.outcomes import Outcome

from ._control_support import output, write_spec
from .test_control_costs import APP, aws, mixed, outcome, record  # noqa: F401 (fixtures)

# Anything a browser would fetch: scripts, style sheets, images, fonts, frames, links.
FETCHES = re.compile(r"<script|<link|<img|<iframe|<object|src=|href=|url\(|@import", re.IGNORECASE)


def _status_counts(ctx: Context) -> dict[str, int]:
    ctx = Context(ctx.config, ctx.spec, ctx.session, Console(file=io.StringIO(), width=200))
    status(ctx, as_json=True)
    return json.loads(output(ctx))["counts"]


@pytest.fixture
def page(mixed: tuple[Context, list[str]]) -> Iterator[tuple[str, Context, list[str]]]:
    ctx, jobs = mixed
    yield render(gather(ctx)), ctx, jobs


def test_report_counts_are_the_ones_status_shows(page: tuple[str, Context, list[str]]) -> None:
    html, ctx, _ = page
    shown = {k: int(v) for k, v in re.findall(r'data-state="([a-z-]+)"><b>(\d+)</b>', html)}
    assert shown == _status_counts(ctx)
    assert shown["dead-lettered"] == 2 and shown["done"] == 2


def test_report_draws_one_bar_per_attempt(page: tuple[str, Context, list[str]]) -> None:
    html, _, jobs = page
    bars = re.findall(r'<rect class="attempt (\w+)" data-job="([^"]+)" data-attempt="(\d+)"', html)
    # the mixed run's 9 records: job 0 interrupted then done, job 1 failed then done, job 4 failed three times
    assert sorted(bars) == sorted(
        [
            ("interrupted", jobs[0], "1"),
            ("done", jobs[0], "2"),
            ("failed", jobs[1], "1"),
            ("done", jobs[1], "2"),
            ("skipped", jobs[2], "1"),
            ("failed", jobs[3], "1"),
            *[("failed", jobs[4], str(n)) for n in (1, 2, 3)],
        ]
    )
    assert 'aria-label="histogram of 9 attempt durations"' in html


def test_report_lists_failures_with_exit_code_and_last_lines(page: tuple[str, Context, list[str]]) -> None:
    html, _, jobs = page
    rows = dict(re.findall(r'<tr class="failure" data-job="([^"]+)">(.*?)</tr>', html, re.DOTALL))
    assert set(rows) == {jobs[3], jobs[4], jobs[5]}
    assert '<td class="exit">3</td>' in rows[jobs[4]] and "Killed: out of memory" in rows[jobs[4]]
    assert '<td class="exit">2</td>' in rows[jobs[3]] and "Error: bad input" in rows[jobs[3]]
    assert "no outcome record" in rows[jobs[5]]


def test_report_links_each_failed_job_to_its_record_and_its_action_in_the_crate(
    page: tuple[str, Context, list[str]],
) -> None:
    html, _, jobs = page
    rows = r'<tr class="failure" data-job="([^"]+)">.*?<td class="prov">(.*?)</td></tr>'
    cells = dict(re.findall(rows, html, re.DOTALL))
    latest = "20250101T000300.000000Z-003-failed"  # job 4's third and last attempt
    assert cells[jobs[4]] == f"_ds_status/{APP}/{jobs[4]}/{latest}.json<br><code>#attempt/{jobs[4]}/{latest}</code>"
    assert f"#attempt/{jobs[3]}/20250101T000100.000000Z-001-failed" in cells[jobs[3]]
    assert cells[jobs[5]] == "no outcome record"  # dead-lettered before any attempt ended
    assert f"under s3://echo-bucket/_ds_status/{APP}/, names the image" in html
    assert "(0 of the 9 attempt(s) shown recorded them; earlier versions did not)" in html
    assert "<code>python run.py export --ro-crate DIR</code>" in html


def test_report_counts_the_attempts_that_recorded_their_provenance() -> None:
    attempts = [outcome("a", "done", image="repo@sha256:" + "a" * 64), outcome("b", "done", argv=[["x"]])]
    report = RunReport("App", "local mode", "now", Status({}, [], []), [*attempts, outcome("c", "done")], [], [])
    assert "(2 of the 3 attempt(s) shown recorded them;" in render(report)


def test_report_fetches_nothing_when_opened(page: tuple[str, Context, list[str]]) -> None:
    html, _, _ = page
    assert FETCHES.findall(html) == []


def test_report_escapes_what_jobs_wrote(mixed: tuple[Context, list[str]]) -> None:
    ctx, _ = mixed
    record(outcome("evil", "failed", exit_code=1, tail=['<script src="http://x">alert(1)</script>']))
    html = render(gather(ctx))
    assert "<script" not in html and "&lt;script src=&quot;http://x&quot;&gt;" in html


def test_observed_machine_hours_sum_each_workers_span() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)

    def run(worker: str, start_min: int, end_min: int) -> Outcome:
        start, end = t0 + timedelta(minutes=start_min), t0 + timedelta(minutes=end_min)
        seconds = 60.0 * (end_min - start_min)
        return Outcome("j", 1, "done", start.isoformat(), end.isoformat(), seconds, "h", worker=worker)

    attempts = [run("a/1", 0, 30), run("a/1", 40, 60), run("b/2", 0, 90)]  # spans: 60 and 90 minutes
    assert observed_machine_hours(attempts, workers_per_machine=1) == pytest.approx(2.5)
    assert observed_machine_hours(attempts, workers_per_machine=2) == pytest.approx(1.25)


def test_report_command_writes_the_file_and_prints_its_path(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(aws)  # config.py is here
    console = Console(file=io.StringIO(), width=300)
    out = aws / "out" / "r.html"
    code = main(["--spec", str(write_spec(aws)), "report", "--out", str(out)], console=console)
    assert code == 0
    assert f"report: {out.resolve()}" in console.file.getvalue()  # type: ignore[attr-defined]
    html = out.read_text()
    assert f"<title>{APP}: run report</title>" in html and "No attempt recorded yet." in html


def test_report_on_aws_counts_the_machines_ec2_lists(aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the run's monitor file (found in files/ by default), 'actual' is EC2's machine-hours, as the caps count."""
    from ds_runtime.control.common.run_record import load_monitor_file
    from ds_runtime.control.resources.teardown import spend

    from .test_control_costs import monitor_file, started

    ctx = started(aws, jobs=2)
    monkeypatch.chdir(aws)
    out = aws / "r.html"
    assert main(["--spec", str(write_spec(aws)), "report", "--out", str(out)], console=ctx.console) == 0
    html = out.read_text()
    (actual,) = re.findall(r"<tr><td>actual</td><td>([\d.]+)</td><td>\$([\d.]+)</td><td>([^<]+)</td>", html)
    used = spend(load_monitor_file(monitor_file(aws)), ctx.session)
    assert float(actual[0]) == pytest.approx(used.machine_hours, abs=0.01)
    assert "the run&#x27;s machines in EC2, launch to termination" in actual[2]
    assert '<p class="empty">No attempt recorded yet.</p>' in html  # no job has run


def test_report_shows_the_tools_peak_memory_against_memory() -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def attempt(job: str, peak: float | None, error: str = "") -> Outcome:
        ended = (start + timedelta(seconds=30)).isoformat()
        state = "failed" if error else "done"
        return Outcome(job, 1, state, start.isoformat(), ended, 30.0, "h", peak_memory_mb=peak, error=error)

    killed = "the tool was killed by signal 9 (SIGKILL): out of memory: its peak memory 1950 MB reached the limit"
    attempts = [attempt("a" * 16, 500.0), attempt("b" * 16, 1950.0, killed), attempt("c" * 16, None)]
    report = gather_free_report(attempts, memory_mb=2000)
    html = render(report)
    section = html.split("<h2>Peak memory</h2>")[1].split("<h2>")[0]
    assert "<td>MEMORY (config.py), per container</td><td>2000 MB</td>" in section
    assert f"<td>highest peak</td><td>1950 MB (98% of MEMORY), job {'b' * 16}</td>" in section
    assert "<td>attempts at 90% of MEMORY or more</td><td>1 of 2</td>" in section  # one attempt never measured
    assert "<td>attempts killed out of memory</td><td>1</td>" in section and "raise MEMORY" in section


def gather_free_report(attempts: list[Outcome], memory_mb: float) -> RunReport:
    """A report of these attempts alone (no AWS): what `render` draws."""
    return RunReport("App", "local mode", "now", Status({}, [], []), attempts, [], [], memory_mb)
