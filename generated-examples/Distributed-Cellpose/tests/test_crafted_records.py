"""What a run reads back from S3 and SQS is data, never code or markup.

The task role may write outcome records, so a tool may craft one; anyone with queue access may send
any job values. `status` and `report` skip an object that is not a record, with a warning naming its
key; the page escapes every field, types every number and carries a Content-Security-Policy that
forbids script; Rich markup in a value is printed as the text it is.
"""
# ruff: noqa: F811 (the fixture aws comes from test_control_costs)

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import boto3
import pytest
from rich.console import Console

from ds_runtime.control.common.context import Context
from ds_runtime.control.views.report import gather, render
from ds_runtime.control.views.status import status
from ds_runtime.entry import main
from ds_runtime.outcomes import default_prefix

from ._control_support import REGION, make_ctx, write_spec
from .test_control_costs import APP, BUCKET, DLQ, aws, outcome, record, send  # noqa: F401 (fixture)

PREFIX = default_prefix(APP)
SCRIPT = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
# Objects under the outcome prefix a tool could write: each is a record's key and its body.
MALFORMED = {
    f"{PREFIX}/notjson0/20250101T000100.000000Z-001-failed.json": b"{not json",
    f"{PREFIX}/exitcode/20250101T000100.000000Z-001-failed.json": {"exit_code": SCRIPT},
    f"{PREFIX}/badstate/20250101T000100.000000Z-001-failed.json": {"state": 'done" onmouseover="alert(1)'},
    f"{PREFIX}/attempt0/20250101T000100.000000Z-001-failed.json": {"attempt": SCRIPT},
    f"{PREFIX}/whenever/20250101T000100.000000Z-001-failed.json": {"finished_at": SCRIPT},
    f"{PREFIX}/notadict/20250101T000100.000000Z-001-failed.json": b"[1, 2]",
}


def _base(job_id: str) -> dict:
    return json.loads(outcome(job_id, "failed", exit_code=1).to_json())


def craft() -> None:
    """Records with script in every text field, objects that are no records, a dead letter with markup."""
    s3 = boto3.client("s3", region_name=REGION)
    for key, body in MALFORMED.items():
        data = body if isinstance(body, bytes) else json.dumps({**_base(key.split("/")[-2]), **body}).encode()
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    text_fields = ["error", "log_group", "log_stream", "worker", "output_prefix", "output_bucket"]
    hostile = replace(outcome("hostile", "failed", exit_code=1, tail=[SCRIPT, "[/]"]), host=SCRIPT)
    record(replace(hostile, **dict.fromkeys(text_fields, SCRIPT)))
    record(replace(hostile, job_id='"><img src=x onerror=alert(1)>'))  # a key holds it: the provenance column
    send(DLQ, json.dumps({"sample": f"[/] [bold]{SCRIPT}", "_job_id": "deadletter01"}))


class Page(HTMLParser):
    """What a browser would build from the page: its elements, attributes, style sheets and text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._in_style = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)

    def csp(self) -> str:
        found = [v for n, v in self.attributes if n == "content" and "default-src" in v]
        return found[0] if found else ""


def test_the_report_escapes_and_types_every_field_and_forbids_script(aws: Path) -> None:
    craft()
    html = render(gather(make_ctx(aws)))
    page = Page(html)
    assert "script" not in page.tags and "img" not in page.tags
    assert not [name for name, _ in page.attributes if name.startswith("on")], "an event handler attribute"
    assert all("javascript:" not in value for _, value in page.attributes)
    text = "".join(page.text)
    assert SCRIPT in text  # shown as the text it is
    for key in MALFORMED:
        assert f"outcome record s3://{BUCKET}/{key} is not a record a worker wrote" in text, key
    policy = page.csp()
    assert "default-src 'none'" in policy and "script-src" not in policy  # no script from anywhere
    (sheet,) = page.styles
    digest = base64.b64encode(hashlib.sha256(sheet.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy  # its own style sheet, and only that, is allowed


def test_status_skips_what_is_not_a_record_and_prints_markup_as_text(
    aws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    craft()
    monkeypatch.chdir(aws)  # config.py is here
    assert main(["--spec", str(write_spec(aws)), "status"]) == 0
    printed = capsys.readouterr().out
    assert "[/] [bold]" in printed  # the dead letter's value, as written
    assert "[/]" in printed.split("hostile", 1)[1]  # the record's last lines too
    for key in MALFORMED:
        assert key in printed.replace("\n", ""), key


def test_status_json_names_each_skipped_object_once(aws: Path) -> None:
    craft()
    ctx = make_ctx(aws)
    ctx = Context(ctx.config, ctx.spec, ctx.session, Console(file=io.StringIO(), width=200))
    assert status(ctx, as_json=True) == 0
    notes = json.loads(ctx.console.file.getvalue())["notes"]  # type: ignore[attr-defined]
    assert sorted(n.split(" ")[2] for n in notes if "is not a record a worker wrote" in n) == sorted(
        f"s3://{BUCKET}/{key}" for key in MALFORMED
    )


def test_status_prints_a_job_value_holding_rich_markup_as_written(
    aws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    send(DLQ, json.dumps({"sample": "plate [/] [bold]1[/bold]"}))
    monkeypatch.chdir(aws)  # config.py is here
    monkeypatch.setenv("COLUMNS", "200")  # the table's cells unwrapped
    assert main(["--spec", str(write_spec(aws)), "status"]) == 0
    assert "sample=plate [/] [bold]1[/bold]" in capsys.readouterr().out
