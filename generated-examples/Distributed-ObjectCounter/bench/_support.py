"""What the benchmarks share: a config with DS's defaults but for the few keys a benchmark sets.

A benchmark measures the ds_runtime beside it, or the one of another copy of the template named by
DS_BENCH_CODE, for figures before and after a change:

    git archive REF template | tar -x -C /tmp/old && DS_BENCH_CODE=/tmp/old/template python bench/bench_retry.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, os.environ.get("DS_BENCH_CODE") or str(Path(__file__).resolve().parents[1]))

from ds_runtime.config import DSConfig, config_from_mapping
from ds_runtime.spec import ToolSpec

REGION = "us-east-1"
BUCKET = "bench-bucket"

# The benchmarks' tool: one job field, outputs under a shared folder (as submitJob and retryFailed see them).
SPEC_DATA: dict[str, Any] = {
    "tool_name": "Bench",
    "app_name": "DistributedBench",
    "docker_image": "bench:1",
    "command": ["echo", "{sample}"],
    "shared_fields": [{"name": "output", "type": "s3_prefix"}],
    "job_fields": [{"name": "sample", "type": "string"}],
    "output_prefix": "{output}/{sample}",
}
SPEC = ToolSpec.model_validate(SPEC_DATA)


# One small machine, one worker; every other key takes DS's default (its notes are not printed).
KEYS: dict[str, Any] = {
    "APP_NAME": "DistributedBench",
    "DOCKERHUB_TAG": "bench:1",
    "AWS_REGION": REGION,
    "AWS_BUCKET": BUCKET,
    "CLUSTER_MACHINES": 1,
    "MACHINE_TYPE": ["m5.large"],
    "MEMORY": 1000,
    "SQS_MESSAGE_VISIBILITY": 600,
    "SQS_QUEUE_NAME": "BenchQueue",
    "SQS_DEAD_LETTER_QUEUE": "BenchDead",
}


def bench_config(spec: ToolSpec, **keys: Any) -> DSConfig:
    return config_from_mapping({**KEYS, **keys}, spec, source="bench", warn=lambda note: None)


def write_config_file(folder: Path, **keys: Any) -> Path:
    """The same keys as a config.py, for a benchmark that runs a command as `run.py` does."""
    path = folder / "config.py"
    path.write_text("".join(f"{name} = {value!r}\n" for name, value in {**KEYS, **keys}.items()))
    return path
