"""The run record (`RunRecord`): what a run created, and the monitor file that holds it.

startCluster writes the monitor file next to the fleet file; `monitor`, `report`,
cleanup and local mode read it back, and the auto-monitor Lambda gets the same record
in its environment. The file keeps DS's MONITOR_* keys, so DS users' scripts that
read them keep working.

Standard library only: the Lambda ships this module.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """What a run created and teardown removes; the monitor file holds it."""

    app_name: str
    region: str
    run_id: str
    fleet_id: str  # an EC2 Fleet's id (fleet-...); a Spot Fleet request's (sfr-...) in runs of earlier versions
    cluster: str
    service: str
    task_family: str
    queue_name: str
    dead_letter_queue: str
    bucket: str
    log_groups: list[str]
    start_time_ms: int
    alarms: list[str] = field(default_factory=list)  # exact names: app Foo never owns Foo-Bar's alarms
    dashboard: str = ""  # '' = leave the dashboard
    function_name: str = ""  # the auto-monitor Lambda, if any
    export_logs: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    # Caps (config.py MAX_COST, MAX_HOURS; 0 = none) and the price they are counted at.
    max_cost: float = 0.0
    max_hours: float = 0.0
    price_per_hour: float = 0.0  # dollars per machine-hour when the run started
    price_source: str = ""  # where that price came from, in words
    schedule_rule: str = ""  # the EventBridge rule that has the auto-monitor check the caps
    # The on-demand fallback (config.py ON_DEMAND_AFTER_INTERRUPTIONS; 0 = off) and what its machines are
    # counted at (0 = unknown: at price_per_hour, which is then too low).
    on_demand_after: int = 0
    on_demand_price_per_hour: float = 0.0
    on_demand_price_source: str = ""
    launch_template: str = ""  # the run's launch template, by its exact name ('' in runs of earlier versions)

    # DS's monitor file keys, so DS users' scripts that read them keep working.
    def to_monitor(self) -> dict[str, Any]:
        return {
            "MONITOR_FLEET_ID": self.fleet_id,
            "MONITOR_APP_NAME": self.app_name,
            "MONITOR_ECS_CLUSTER": self.cluster,
            "MONITOR_QUEUE_NAME": self.queue_name,
            "MONITOR_BUCKET_NAME": self.bucket,
            "MONITOR_LOG_GROUP_NAME": self.log_groups[0],
            "MONITOR_START_TIME": self.start_time_ms,
            "plan": asdict(self),
        }

    @classmethod
    def from_monitor(cls, data: dict[str, Any]) -> RunRecord:
        return cls.from_dict(data["plan"])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """A plan as `asdict` wrote it, also by a version that owned alarms by a name prefix (`alarm_prefix`,
        'APP-'): its run made one alarm, APP-queue-empty, which is then named exactly."""
        data = dict(data)
        prefix = data.pop("alarm_prefix", None)
        if prefix is not None and "alarms" not in data:
            data["alarms"] = [f"{prefix}queue-empty"]
        return cls(**data)


def write_monitor_file(path: Path, plan: RunRecord) -> None:
    tmp = path.with_suffix(".json.tmp")
    with tmp.open("w") as handle:
        json.dump(plan.to_monitor(), handle, indent=2)
    tmp.replace(path)  # never a half-written monitor file


def load_monitor_file(path: Path) -> RunRecord:
    # Imported here, not above: the Lambda ships this module for RunRecord, without the commands' context.
    from .context import CommandError

    try:
        return RunRecord.from_monitor(json.loads(path.read_text()))
    except FileNotFoundError:
        raise CommandError(f"{path}: monitor file not found; startCluster writes it next to the fleet file") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CommandError(
            f"{path}: not a monitor file written by this startCluster ({type(exc).__name__}: {exc})"
        ) from None


def app_monitor_files(folder: Path, app_name: str) -> dict[Path, str]:
    """Monitor files of this app in `folder` (startCluster writes them next to the fleet file) -> their fleet ids."""
    found = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text())
            if isinstance(data, dict) and data.get("MONITOR_APP_NAME") == app_name and "plan" in data:
                found[path] = data.get("MONITOR_FLEET_ID", "")
    return found
