"""Benchmark: makeJobs wall time for a 384-well x 9-site plate (3,456 jobs) from each of its three sources.

    python bench/bench_make_jobs.py                # 16 x 24 wells, 9 sites, 3 repeats each
    python bench/bench_make_jobs.py --repeats 5

Timed end to end, as `run.py makeJobs` runs: reading the source (the S3 listing goes
to moto in this process, with 2 channels per site, so 6,912 objects), checking every
job as submitJob does, and writing the Job file. The tool is DCP-like: one Metadata
mapping per job, output folders from `{output}/{Metadata|layout:output_structure}`.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import boto3
from _support import BUCKET, REGION, bench_config
from moto import mock_aws
from rich.console import Console

from ds_runtime.aws import make_session
from ds_runtime.control.cli import parser
from ds_runtime.control.commands.job_sources import s3_keys
from ds_runtime.control.commands.make_jobs import run_make_jobs
from ds_runtime.control.common.context import Context
from ds_runtime.spec import ToolSpec

SPEC = ToolSpec.model_validate(
    {
        "tool_name": "Bench",
        "app_name": "DistributedBench",
        "docker_image": "bench:1",
        "command": ["cellprofiler", "-p", "{pipeline}", "-o", "{output_dir}", "-g", "{Metadata}"],
        "shared_fields": [
            {"name": "pipeline", "type": "s3_key"},
            {"name": "output", "type": "s3_prefix"},
            {"name": "output_structure", "type": "string", "required": False, "default": ""},
        ],
        "job_fields": [{"name": "Metadata", "type": "mapping"}],
        "output_prefix": "{output}/{Metadata|layout:output_structure}",
    }
)
SHARED = ["--set", "pipeline=p/a.cppipe", "--set", "output=p/analysis/"]


def plate(rows: int, cols: int, sites: int) -> list[tuple[str, str]]:
    wells = [f"{chr(65 + r)}{c + 1:02d}" for r in range(rows) for c in range(cols)]
    return [(well, str(site)) for well in wells for site in range(1, sites + 1)]


def timed(ctx: Context, argv: list[str], repeats: int, out: Path) -> tuple[float, int]:
    """Median seconds of `run.py makeJobs ARGV --out OUT --force`, and the jobs written."""
    seconds = []
    for _ in range(repeats):
        args = parser().parse_args(["makeJobs", *argv, *SHARED, "--out", str(out), "--force"])
        began = time.perf_counter()
        assert run_make_jobs(ctx, args) == 0
        seconds.append(time.perf_counter() - began)
    jobs = out.read_text().count("Metadata_Plate=")
    return statistics.median(seconds), jobs


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--rows", type=int, default=16)
    options.add_argument("--cols", type=int, default=24)
    options.add_argument("--sites", type=int, default=9)
    options.add_argument("--repeats", type=int, default=3)
    args = options.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    sites = plate(args.rows, args.cols, args.sites)
    config = bench_config(SPEC)
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        folder = Path(tmp)
        ctx = Context(config, SPEC, make_session(None, REGION), Console(file=io.StringIO()))
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        for well, site in sites:
            for channel in (1, 2):
                s3.put_object(Bucket=BUCKET, Key=f"p/images/Plate1/{well}_s{site}_w{channel}.tif", Body=b"")
        load_data = folder / "load_data.csv"
        with load_data.open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(
                ["FileName_DNA", "FileName_Actin", "PathName_DNA", "Metadata_Plate", "Metadata_Well", "Metadata_Site"]
            )
            for well, site in sites:
                out.writerow([f"{well}_s{site}_w1.tif", f"{well}_s{site}_w2.tif", "/b/p/images", "Plate1", well, site])
        table = folder / "jobs.tsv"
        table.write_text(
            "Metadata_Plate\tMetadata_Well\tMetadata_Site\n"
            + "".join(f"Plate1\t{well}\t{site}\n" for well, site in sites)
        )
        pattern = "{Metadata_Plate}/{Metadata_Well}_s{Metadata_Site}_w*.tif"
        forms = {
            "listing (S3, moto)": ["listing", "p/images/", "--pattern", pattern],
            "loaddata CSV": ["loaddata", str(load_data), "--group-by", "Metadata_Plate,Metadata_Well,Metadata_Site"],
            "table (TSV)": ["table", str(table)],
        }
        shape = f"{args.rows}x{args.cols} wells x {args.sites} sites"
        print(f"makeJobs, {len(sites):,} jobs ({shape}), median of {args.repeats}")
        for name, argv in forms.items():
            seconds, jobs = timed(ctx, argv, args.repeats, folder / "job.json")
            print(f"  {name:<20} {seconds:6.2f} s  ({jobs:,} jobs written)", flush=True)
        began = time.perf_counter()
        objects = sum(1 for _ in s3_keys(s3, BUCKET, "p/images/"))
        print(f"  of the listing, moto's list_objects_v2 alone: {time.perf_counter() - began:.2f} s ({objects:,} keys)")


if __name__ == "__main__":
    main()
