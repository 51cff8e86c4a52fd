"""Failed jobs stay readable at 80 columns: the table holds short columns, reasons follow it unwrapped by cells."""

from __future__ import annotations

import io

from rich.console import Console

from ds_runtime.control.views.failed_jobs import FailedJob, print_failed_jobs

CLASH = "OutputClash: s3://bucket/results/img/argv.json was written by job 1f2e3d4c5b6a7980; job 0a1b2c3d4e5f6a7b would"
TAIL = ["Times reported are CPU and Wall-clock times for each module", "Error: no image set matches the group"]


def _render(jobs: list[FailedJob]) -> list[str]:
    console = Console(file=io.StringIO(), width=80)
    print_failed_jobs(console, "failed jobs", jobs)
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def test_reasons_go_below_the_table_never_in_a_wrapped_cell() -> None:
    jobs = [
        FailedJob(
            "1f2e3d4c5b6a7980", "dead-lettered", 1, None, "Metadata=Metadata_Plate=Plate1", CLASH, permanent=True
        ),
        FailedJob("0a1b2c3d4e5f6a7b", "failed", 3, 1, "Metadata=Metadata_Site=2", "exited with code 1", TAIL, "L s"),
    ]
    lines = _render(jobs)
    assert all(len(line) <= 80 for line in lines)
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    rows = [line for line in table if line.startswith("│")]
    assert rows[0].startswith("│ Metadata=") and rows[0].rstrip("│ ").endswith("1f2e3d4c5b6a7980")  # values first
    assert "│ dead-lettered │     1 │    - │ 1f2e3d4c5b6a7980 │" in rows[0]  # state and id whole
    assert any("│ failed " in line and "│ 0a1b2c3d4e5f6a7b │" in line for line in rows)
    assert not any(word in "\n".join(table) for word in ("OutputClash", "exited", "Times", "argv.json", "L s"))
    below = lines[lines.index(table[-1]) + 1 :]
    named = "Metadata=Metadata_Plate=Plate1 (job 1f2e3d4c5b6a7980, dead-lettered, permanent: not retried)"
    words = f"{named}: {CLASH}".split()
    assert " ".join(below[:3]).split()[: len(words)] == words  # the whole reason, wrapped only by the terminal
    assert "Metadata=Metadata_Site=2 (job 0a1b2c3d4e5f6a7b, failed): exited with code 1" in lines
    assert [f"    | {line}" for line in TAIL] == [line for line in lines if line.startswith("    | ")]
    assert lines[-1] == "    log: L s"
