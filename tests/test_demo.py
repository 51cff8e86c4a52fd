"""`dsgen demo`: a real tool's whole lifecycle, run as the README's main command, with its results checked."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from skimage import filters, io

from dsgen.count_objects import as_gray
from dsgen.demo import INPUTS, OUTPUTS, SAMPLE_IMAGES

pytestmark = pytest.mark.slow  # the README's main command, end to end (a render and a local run)

METHODS = ("li", "otsu", "yen")


def _independent_count(image: Path, threshold: float, min_area: int, objects_are_dark: bool) -> int:
    """Label the thresholded image with scipy instead of scikit-image, dropping specks by area."""
    smooth = filters.gaussian(as_gray(io.imread(image)), sigma=1)
    mask = smooth <= threshold if objects_are_dark else smooth > threshold
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    areas = np.bincount(labels.ravel())[1:]
    return int((areas > min_area).sum())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    dest = tmp_path_factory.mktemp("demo") / "Distributed-ObjectCounter"
    done = subprocess.run(
        [sys.executable, "-m", "dsgen.cli", "demo", str(dest)], capture_output=True, text=True, timeout=600
    )
    return dest, done


def test_demo_runs_every_job_and_tears_down(demo: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    dest, done = demo
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "objects counted" in done.stdout and "demo finished in" in done.stdout
    summaries = sorted((dest / OUTPUTS).rglob("summary.json"))
    assert len(summaries) == len(SAMPLE_IMAGES) * len(METHODS)
    assert not (dest / "files" / "DistributedObjectCounterSpotFleetRequestId.json").exists()
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("run report (open it in a browser): ")
    report = Path(last.split(": ", 1)[1])
    assert report.parent == (dest / "files" / "reports").resolve()
    assert report.read_text().count('class="attempt done"') == len(SAMPLE_IMAGES) * len(METHODS)


def test_every_hint_the_demo_prints_works_as_printed(demo: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """Run by a shell with no virtual environment active: the hint names the Python that has the packages."""
    _, done = demo
    hints = [line.removeprefix("try: ") for line in done.stdout.splitlines() if line.startswith("try: ")]
    assert hints
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    for hint in hints:
        ran = subprocess.run(["bash", "-c", hint], capture_output=True, text=True, env=env, timeout=120)
        assert ran.returncode == 0 and "usage: run.py" in ran.stdout, hint + ran.stderr


def test_demo_measurements_are_right(demo: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    dest, _ = demo
    for summary_path in sorted((dest / OUTPUTS).rglob("summary.json")):
        summary = json.loads(summary_path.read_text())
        with (summary_path.parent / "objects.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == summary["count"] > 0
        assert all(int(r["area"]) > summary["min_area"] for r in rows)
        image = dest / INPUTS / summary["image"]
        gray = filters.gaussian(as_gray(io.imread(image)), sigma=1)
        dark = (gray > summary["threshold"]).mean() > 0.5
        assert _independent_count(image, summary["threshold"], summary["min_area"], dark) == summary["count"]
        if summary["image"] == "coins.png":
            assert 20 <= summary["count"] <= 26, "there are 24 coins in scikit-image's coins image"
