"""Wall time of `dsgen new` (render, git init, first commit) per example: median of N runs.

Run: .venv/bin/python bench/bench_new.py [--runs 5]
Prints figures only; nothing is asserted (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_new(answers: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "dsgen.cli", "new", "--data-file", str(answers), str(Path(tmp) / "repo")],
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'answers':<24}{'median s':>10}{'min s':>8}{'max s':>8}")
    for answers in sorted((ROOT / "examples").glob("*.yml")):
        times = time_new(answers, args.runs)
        print(f"{answers.name:<24}{statistics.median(times):>10.2f}{min(times):>8.2f}{max(times):>8.2f}")


if __name__ == "__main__":
    main()
