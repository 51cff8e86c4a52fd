"""The runtime's table of EC2 instance types is moto's DescribeInstanceTypes data, written by `dsgen instance-types`.

`run.py check` reads template/ds_runtime/control/machines/instance_types.py offline; after a moto
upgrade the table may differ from moto's data: the test says so, `dsgen instance-types` rewrites it.
"""

from __future__ import annotations

from pathlib import Path

from dsgen.cli import main
from dsgen.instance_types import TABLE_FILE, moto_instance_types, row, table_text, write_table


def test_the_committed_table_is_motos_data() -> None:
    assert TABLE_FILE.read_text() == table_text(), "the instance type table is stale: run `dsgen instance-types`"
    assert main(["instance-types", "--check"]) == 0


def test_a_row_is_vcpus_memory_and_gpus_as_described() -> None:
    types = moto_instance_types()
    assert row(types["m5.xlarge"]) == (4, 16384, 0)
    assert row(types["g4dn.12xlarge"]) == (48, 196608, 4)  # 4 T4 GPUs in one GpuInfo entry


def test_a_stale_table_is_told_and_rewritten(tmp_path: Path) -> None:
    stale = tmp_path / "instance_types.py"
    stale.write_text(TABLE_FILE.read_text().replace('"m5.xlarge": (4, 16384, 0)', '"m5.xlarge": (4, 8192, 0)'))
    assert write_table(check=True, path=stale) is False
    assert '"m5.xlarge": (4, 8192, 0)' in stale.read_text()  # --check changes nothing
    assert write_table(check=False, path=stale) is False
    assert stale.read_text() == table_text()
    assert write_table(check=True, path=stale) is True
