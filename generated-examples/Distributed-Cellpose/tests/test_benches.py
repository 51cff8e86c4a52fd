"""The benchmarks keep running as the code changes: each, at a tiny size, prints its figures.

The figures themselves are not asserted (these machines are shared and noisy); bench_emulator
is left out because its smallest run sends 1,000 messages to plain moto (about a minute).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize(
    ("script", "args", "figure_line"),
    [
        ("bench_worker.py", ["--jobs", "6", "--workers", "1"], "jobs/s"),
        ("bench_worker.py", ["--jobs", "4", "--workers", "2", "--against", "HEAD"], "HEAD        2"),
        ("bench_record.py", ["--jobs", "2", "--against", "HEAD"], "bytes/record"),
        ("bench_report.py", ["--attempts", "30"], "page drawn in"),
        ("bench_provenance.py", ["--jobs", "20"], "bytes per job"),
        ("bench_submit.py", ["--sizes", "30"], "speed-up"),
        ("bench_submit.py", ["--scale", "--sizes", "30", "60"], "growth exponent"),
        ("bench_submit.py", ["--senders", "2", "4", "--rtt", "5", "--sizes", "30"], "of bound"),
        ("bench_retry.py", ["--sizes", "30"], "msgs/s"),
        pytest.param("bench_scale.py", ["--sizes", "20"], "this runtime", marks=pytest.mark.slow),  # 6 processes
        ("bench_make_jobs.py", ["--rows", "2", "--cols", "2", "--sites", "2", "--repeats", "1"], "(8 jobs written)"),
    ],
)
def test_benchmark_runs_and_prints_its_figures(script: str, args: list[str], figure_line: str) -> None:
    if "--against" in args and not _has_commits():
        pytest.skip("--against needs this folder in a git repository with commits")
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300, cwd=BENCH.parent
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert figure_line in done.stdout


def _has_commits() -> bool:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=BENCH, capture_output=True).returncode == 0
