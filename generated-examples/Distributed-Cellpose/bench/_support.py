"""What the benchmarks share: a config with DS's defaults but for the few keys a benchmark sets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ds_runtime.config import DSConfig, config_from_mapping
from ds_runtime.spec import ToolSpec

REGION = "us-east-1"
BUCKET = "bench-bucket"


def bench_config(spec: ToolSpec, **keys: Any) -> DSConfig:
    """One small machine, one worker; every other key takes DS's default (its notes are not printed)."""
    base = {
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
    return config_from_mapping({**base, **keys}, spec, source="bench", warn=lambda note: None)
