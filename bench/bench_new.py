"""Wall time of `dsgen new` (render, git init, first commit) per example, this checkout beside another
commit of dsgen rendering the same answers in the same run (default a675136, before the validators'
rule library): best and median of N runs, and their ratio.

Run: .venv/bin/python bench/bench_new.py [--runs 5] [--against REF]
Prints figures only; nothing is asserted (shared machines are noisy, so compare the ratio).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_new(checkout: Path, answers: Path, runs: int) -> list[float]:
    """Seconds of `python -m dsgen.cli new` run from `checkout` (its dsgen, its template HEAD)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "dsgen.cli", "new", "--data-file", str(answers), str(Path(tmp) / "repo")],
                cwd=checkout,
                env=env,
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--against", default="a675136", help="the dsgen commit to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "other"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(other)], check=True)
        subprocess.run(["git", "checkout", "--quiet", args.against], cwd=other, check=True)
        print(f"dsgen new wall seconds, best (median) of {args.runs}: this checkout vs {args.against}")
        print(f"{'answers':<24}{'now':>14}{args.against:>16}{'ratio':>8}")
        for answers in sorted((ROOT / "examples").glob("*.yml")):
            # Answers an old template does not know (a newer example) are skipped on its side.
            now = time_new(ROOT, answers, args.runs)
            try:
                then = time_new(other, answers, args.runs)
            except subprocess.CalledProcessError:
                print(f"{answers.name:<24}{min(now):>7.2f} ({statistics.median(now):.2f}){'(refused)':>16}")
                continue
            print(
                f"{answers.name:<24}{min(now):>7.2f} ({statistics.median(now):.2f})"
                f"{min(then):>9.2f} ({statistics.median(then):.2f}){min(now) / min(then):>8.2f}"
            )


if __name__ == "__main__":
    main()
