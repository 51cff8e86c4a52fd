"""The REAL samtools sorts, indexes and counts BAMs through Distributed-Samtools' local mode, as steps.

Distributed-Samtools is rendered from examples/samtools.yml: each job runs three programs in
its folder (samtools sort, samtools index, samtools flagstat with its standard output to a file),
never through a shell. The test writes small SAM texts (reads out of order, some reverse, some
unmapped, some duplicates, some secondary), makes BAMs of them with `samtools view -b`, and runs
the generated repository's own `python run.py localRun files/bamsJob.json --inputs ...`: emulated
AWS, local worker processes (no containers). Each job's flagstat report must equal samtools'
own on the same BAM, its sorted BAM must hold the same reads in coordinate order, and its index
must answer for it. One BAM is named `x;touch INJECTED;echo.bam`, the name that ran `touch`
through `sh -c 'samtools ... {sample}'`: with steps it is a file name and nothing else.

samtools comes from the system (Debian: `apt-get install samtools`; .ci/run installs it).
  DSGEN_REQUIRE_SAMTOOLS=1  no working samtools is a failure, not a skip (CI sets it)
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsgen.render import TEMPLATE_ROOT, load_answers, render
from dsgen.source import WORKING_TREE

from .conftest import require_tool, tool_unavailable

REQUIRE = "DSGEN_REQUIRE_SAMTOOLS"
ANSWERS = TEMPLATE_ROOT / "examples" / "samtools.yml"
CONTIGS = {"chr1": 20_000, "chr2": 8_000}
SAMPLES = ["sampleA", "sampleB", "sampleC", "sampleD", "sampleE", "x;touch INJECTED;echo"]


def _samtools() -> str:
    require_tool("apt", REQUIRE)  # .ci/run installs it with the other system packages
    samtools = shutil.which("samtools")
    if samtools is None:
        tool_unavailable("samtools is not on PATH; install it (Debian/Ubuntu: apt-get install samtools)", REQUIRE)
    done = subprocess.run([samtools, "--version"], capture_output=True, text=True, errors="replace", check=False)
    if done.returncode != 0 or not done.stdout.startswith("samtools 1."):
        tool_unavailable(f"`samtools --version` said {(done.stdout + done.stderr).strip()[:300]!r}", REQUIRE)
    return samtools


def _sam(seed: int, reads: int) -> str:
    """A SAM text of single-end reads in no order, with every flag flagstat counts apart."""
    rng = random.Random(seed)
    lines = ["@HD\tVN:1.6\tSO:unsorted", *(f"@SQ\tSN:{name}\tLN:{length}" for name, length in CONTIGS.items())]
    for i in range(reads):
        sequence = "".join(rng.choice("ACGT") for _ in range(50))
        flag = rng.choice([0, 0, 0, 16, 16, 4, 1024, 256])
        if flag == 4:
            lines.append(f"r{seed}_{i}\t4\t*\t0\t0\t*\t*\t0\t0\t{sequence}\t{'I' * 50}")
            continue
        contig = rng.choice(list(CONTIGS))
        position = rng.randint(1, CONTIGS[contig] - 50)
        lines.append(f"r{seed}_{i}\t{flag}\t{contig}\t{position}\t60\t50M\t*\t0\t0\t{sequence}\t{'I' * 50}")
    return "\n".join(lines) + "\n"


def _run(*argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
@pytest.mark.real_tool
def test_real_samtools_sorts_indexes_and_counts_each_bam_as_steps_in_local_run(tmp_path: Path) -> None:
    samtools = _samtools()
    repo = render(tmp_path / "Distributed-Samtools", load_answers(ANSWERS), source=WORKING_TREE)
    inputs = tmp_path / "inputs"
    (inputs / "bams").mkdir(parents=True)
    for seed, sample in enumerate(SAMPLES):
        sam = tmp_path / f"{seed}.sam"
        sam.write_text(_sam(seed, 400 + 150 * seed))
        _run(samtools, "view", "-b", "-o", str(inputs / "bams" / f"{sample}.bam"), str(sam))
    job = {"output": "sorted/", "groups": [{"bam": f"bams/{sample}.bam"} for sample in SAMPLES]}
    (repo / "files" / "bamsJob.json").write_text(json.dumps(job, indent=2))

    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "run.py", "localRun", "files/bamsJob.json", "--inputs", str(inputs)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.monotonic() - start
    # localRun exits 0 only when every job finished (none dead-lettered) and the run was torn down.
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]

    results = repo / "local-outputs" / "sorted"
    assert sorted(p.name for p in results.iterdir()) == sorted(SAMPLES), "one folder per BAM"
    equal = 0
    for sample in SAMPLES:
        out = results / sample
        names = {f"{sample}.sorted.bam", f"{sample}.sorted.bam.bai", f"{sample}.flagstat.txt"}
        assert {p.name for p in out.iterdir()} == names, "sort's temporary files stay in the job's folder"
        original = str(inputs / "bams" / f"{sample}.bam")
        assert (out / f"{sample}.flagstat.txt").read_text() == _run(samtools, "flagstat", original)
        sorted_bam = str(out / f"{sample}.sorted.bam")
        header = _run(samtools, "view", "-H", sorted_bam)
        assert "SO:coordinate" in header
        ours = _run(samtools, "view", sorted_bam).splitlines()
        assert sorted(ours) == sorted(_run(samtools, "view", original).splitlines()), "the same reads"
        mapped = [line.split("\t") for line in ours if line.split("\t")[2] != "*"]
        order = [(list(CONTIGS).index(f[2]), int(f[3])) for f in mapped]
        assert order == sorted(order), "coordinate order"
        stats = [line.split("\t") for line in _run(samtools, "idxstats", sorted_bam).splitlines()]
        counted = {contig: int(mapped_reads) for contig, _, mapped_reads, _ in stats}
        for contig in CONTIGS:  # the index answers: its counts are the primary and secondary reads on each contig
            assert counted[contig] == sum(1 for f in mapped if f[2] == contig)
        equal += 1
    assert not list(tmp_path.rglob("INJECTED")) and not list(Path.cwd().glob("INJECTED"))
    print(f"samtools via steps: {len(SAMPLES)} jobs, {equal} flagstat reports equal to samtools' own, {seconds:.1f} s")
