"""The run report in a real browser: Debian's chromium, driven by selenium, on a real local run.

The demo's repository (Distributed-ObjectCounter) runs four jobs in local mode, one of
which fails (an unknown threshold method): setup, uploadInputs, submitJob and
startCluster with `--local`, exactly as a user would. Once the queue is drained, `report`
writes the page and `status --json` counts; chromium opens the page from disk. Last,
records crafted as a tool could write them (the task role may) are added and the page
written again: chromium runs none of the script they carry.

Environment:
  DSGEN_REQUIRE_BROWSER=1   no chromium, chromedriver or selenium is a failure, not a skip (CI sets it)
  DSGEN_ARTIFACTS           where the screenshot goes (default: artifacts/ in this checkout, not in git)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from dsgen.demo import write_sample_images

from .conftest import require_tool, tool_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.real_tool]  # a real browser over a render's local run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "generated-examples" / "Distributed-ObjectCounter"
APP = "DistributedObjectCounter"
ARTIFACTS = Path(os.environ.get("DSGEN_ARTIFACTS", ROOT / "artifacts"))
GOOD = [("coins", "otsu"), ("hubble_deep_field", "li"), ("microaneurysms", "yen")]
BAD_METHOD = "bogus"  # count_objects refuses it: exit code 2 and argparse's message
DRAIN_SECONDS = 240
REQUIRE = "DSGEN_REQUIRE_BROWSER"


def run_py(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    done = subprocess.run(
        [sys.executable, "run.py", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert not check or done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done


def _status(repo: Path) -> dict[str, Any]:
    return json.loads(run_py(repo, "--local", "status", "--json").stdout)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_tool("apt", REQUIRE)  # chromium comes with CI's system packages
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        tool_unavailable(
            "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)", REQUIRE
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        tool_unavailable("selenium is not installed (pip install -r requirements.txt)", REQUIRE)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1300,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every request the page makes
    driver = webdriver.Chrome(service=Service(driver_path), options=options)  # explicit paths: nothing downloaded
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, dict[str, Any], set]]:
    """A local run with one failing job, drained: (repo, report, status --json, outcome keys' parts)."""
    repo = tmp_path_factory.mktemp("browser") / EXAMPLE.name
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".venv", ".local", "__pycache__"))
    config = repo / "config.py"
    # Two tries then the dead-letter queue, and a short visibility: the failure settles in seconds.
    config.write_text(config.read_text() + "\nJOB_RETRIES = 2\nSQS_MESSAGE_VISIBILITY = 30\n")
    write_sample_images(repo / "demo-inputs")
    groups = [{"image": f"inputs/{image}.png", "method": method} for image, method in GOOD]
    groups.append({"image": "inputs/coins.png", "method": BAD_METHOD})
    (repo / "files" / "browserJob.json").write_text(json.dumps({"output": "results/", "groups": groups}))
    try:
        run_py(repo, "--local", "setup")
        run_py(repo, "--local", "uploadInputs", "demo-inputs", "inputs")
        run_py(repo, "--local", "submitJob", "files/browserJob.json")
        run_py(repo, "--local", "startCluster", "files/exampleFleet.json", "--yes")
        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            counts = _status(repo)["counts"]
            if (
                counts["done"] == len(GOOD)
                and counts["dead-lettered"] == 1
                and counts["queued"] + counts["running"] == 0
            ):
                break
            assert time.monotonic() < deadline, f"the run did not settle: {counts}"
            time.sleep(2)
        report = repo / "report.html"
        run_py(repo, "--local", "report", "--out", str(report))
        status = _status(repo)
        endpoint = json.loads((repo / ".local" / "state.json").read_text())["endpoint_url"]
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=_bucket(repo), Prefix=f"_ds_status/{APP}/")
            for o in page.get("Contents", [])
        ]
        attempts = set()
        for key in keys:  # <prefix>/<job>/<finished>-<attempt>-<state>.json
            job, name = key.split("/")[-2:]
            _, attempt, state = name.removesuffix(".json").split("-")
            attempts.add((job, str(int(attempt)), state))
        yield repo, report, status, attempts
    finally:
        run_py(repo, "localStop", check=False)


def _bucket(repo: Path) -> str:
    namespace: dict[str, Any] = {}
    exec((repo / "config.py").read_text(), namespace)  # the example's own config.py
    return namespace["AWS_BUCKET"]


@pytest.fixture(scope="module")
def opened(browser: Any, finished_run: tuple[Path, Path, dict[str, Any], set]) -> Any:
    _, report, _, _ = finished_run
    browser.get_log("performance")  # forget anything before the page
    browser.get(report.as_uri())
    return browser


def _state(bar: Any) -> str:
    return bar.get_attribute("class").split()[1]  # "attempt done"


def test_timeline_shows_one_bar_per_attempt(opened: Any, finished_run: tuple) -> None:
    from selenium.webdriver.common.by import By

    _, _, _, attempts = finished_run
    bars = opened.find_elements(By.CSS_SELECTOR, "svg.timeline rect.attempt")
    shown = {
        (b.get_attribute("data-job"), b.get_attribute("data-attempt"), b.get_attribute("class").split()[1])
        for b in bars
    }
    assert len(bars) == len(attempts) and shown == attempts
    assert {state for _, _, state in attempts} == {"done", "failed"}
    assert all(b.size["width"] > 0 and b.size["height"] > 0 for b in bars), "a bar is not drawn"


def test_counts_equal_status(opened: Any, finished_run: tuple) -> None:
    from selenium.webdriver.common.by import By

    _, _, status, _ = finished_run
    cards = opened.find_elements(By.CSS_SELECTOR, ".counts .count")
    shown = {c.get_attribute("data-state"): int(c.find_element(By.TAG_NAME, "b").text) for c in cards}
    assert shown == status["counts"]
    assert shown["done"] == len(GOOD) and shown["dead-lettered"] == 1


def test_a_failures_last_lines_are_visible(opened: Any, finished_run: tuple) -> None:
    from selenium.webdriver.common.by import By

    _, _, status, _ = finished_run
    (failed,) = [p for p in status["problems"] if p["state"] == "dead-lettered"]
    row = opened.find_element(By.CSS_SELECTOR, f'tr.failure[data-job="{failed["job_id"]}"]')
    tail = row.find_element(By.CSS_SELECTOR, "pre.tail")
    assert tail.is_displayed() and f"invalid choice: '{BAD_METHOD}'" in tail.text
    assert row.find_element(By.CSS_SELECTOR, "td.exit").text == str(failed["exit_code"]) == "2"


def test_the_page_makes_no_network_request(opened: Any, finished_run: tuple) -> None:
    _, report, _, _ = finished_run
    requested = []
    for entry in opened.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    assert requested == [report.as_uri()], "the report asked for more than its own file"


def test_screenshot_of_the_demo_report(opened: Any) -> None:
    """Kept as a CI artifact, to look at."""
    height = opened.execute_script("return document.documentElement.scrollHeight")
    opened.set_window_size(1300, min(height + 100, 6000))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "report-screenshot.png"
    assert opened.save_screenshot(str(path)) and path.stat().st_size > 10_000
    print(f"screenshot of the demo's run report: {path}")


# A tool may write outcome records (its task role can): text that would run script if a page inserted it.
CRAFTED = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
NOT_A_RECORD = "crafted1/20300101T000000.000000Z-001-failed.json"


@pytest.fixture(scope="module")
def crafted_report(finished_run: tuple[Path, Path, dict[str, Any], set]) -> Path:
    """The run's page written again after crafted records were added to its bucket."""
    repo, _, _, _ = finished_run
    endpoint = json.loads((repo / ".local" / "state.json").read_text())["endpoint_url"]
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    when = "2030-01-01T00:00:00+00:00"
    hostile = {"job_id": CRAFTED, "attempt": 1, "state": "failed", "started_at": when, "finished_at": when}
    hostile |= {"duration_seconds": 1.0, "exit_code": 1, "tail": [CRAFTED], "worker": CRAFTED}
    hostile |= dict.fromkeys(["host", "error", "log_group", "log_stream", "output_prefix"], CRAFTED)
    prefix = f"_ds_status/{APP}"
    s3.put_object(
        Bucket=_bucket(repo),
        Key=f"{prefix}/crafted0/20300101T000000.000000Z-001-failed.json",
        Body=json.dumps(hostile).encode(),
    )
    # A number field holding markup: once inserted as it was; now the object is no record and is named.
    s3.put_object(
        Bucket=_bucket(repo),
        Key=f"{prefix}/{NOT_A_RECORD}",
        Body=json.dumps({**hostile, "exit_code": CRAFTED}).encode(),
    )
    page = repo / "crafted.html"
    run_py(repo, "--local", "report", "--out", str(page))
    return page


def test_crafted_records_run_no_script_and_show_as_text(browser: Any, crafted_report: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(crafted_report.as_uri())
    assert browser.title == f"{APP}: run report", "a crafted record's script ran"
    body = browser.find_element(By.TAG_NAME, "body")
    assert browser.find_elements(By.CSS_SELECTOR, "body script, body img") == []
    text = body.text
    assert CRAFTED in text  # shown as the text it is
    assert f"{NOT_A_RECORD} is not a record a worker wrote" in text.replace("\n", " ")
