"""template/ds_runtime/control/machines/instance_types.py: vCPUs, memory and GPUs of every EC2 instance type.

`run.py check` tests offline whether TASKS_PER_MACHINE containers fit each MACHINE_TYPE, so the
runtime ships a table of instance types. It is written from moto's copy of EC2's
DescribeInstanceTypes answers (moto/ec2/resources/instance_types.json.gz, public AWS data that
moto bundles to emulate the call), never typed by hand: `dsgen instance-types` writes it,
`dsgen instance-types --check` (and tests/test_instance_types.py) tell when it is stale.
"""

from __future__ import annotations

import gzip
import json
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from .source import TEMPLATE_ROOT

TABLE_FILE = TEMPLATE_ROOT / "template" / "ds_runtime" / "control" / "machines" / "instance_types.py"
MOTO_DATA = "ec2/resources/instance_types.json.gz"

_HEADER = '''\
"""EC2 instance types as DescribeInstanceTypes describes them: vCPUs, memory in MiB, GPUs.

Written by `dsgen instance-types` from
{source};
do not edit (dsgen's tests/test_instance_types.py fails when it is stale). `run.py check`
reads it offline (machine_fit.py); startCluster asks AWS itself.
"""

SOURCE = "{source}"
# name: (vCPUs, memory MiB, GPUs)
INSTANCE_TYPES: dict[str, tuple[int, int, int]] = {{
'''


def moto_instance_types() -> dict[str, Any]:
    """moto's bundled DescribeInstanceTypes data, by instance type name."""
    data = resources.files("moto").joinpath(MOTO_DATA).read_bytes()
    return json.loads(gzip.decompress(data))


def row(described: dict[str, Any]) -> tuple[int, int, int]:
    """(vCPUs, memory MiB, GPUs) of one DescribeInstanceTypes entry."""
    gpus = sum(gpu.get("Count", 0) for gpu in described.get("GpuInfo", {}).get("Gpus", []))
    return described["VCpuInfo"]["DefaultVCpus"], described["MemoryInfo"]["SizeInMiB"], gpus


def table_text() -> str:
    source = f"moto {metadata.version('moto')}'s {MOTO_DATA}"
    types = moto_instance_types()
    lines = [f'    "{name}": {row(types[name])},' for name in sorted(types)]
    return _HEADER.format(source=source) + "\n".join(lines) + "\n}\n"


def write_table(check: bool, path: Path = TABLE_FILE) -> bool:
    """Write the table (or with `check`, only compare); True when it was already up to date."""
    text = table_text()
    if path.exists() and path.read_text() == text:
        return True
    if not check:
        path.write_text(text)
    return False
