"""Container entry point: `python -m ds_runtime.worker`.

First the tool spec's startup steps run, once per container (worker/startup.py);
then, with DOCKER_CORES above 1, this process supervises that many worker processes,
and `--single` (used by the supervisor) runs one worker loop here, without startup.
Exit codes: 2 the worker cannot start (settings or spec), 3 a startup step failed.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from ..spec import SpecError
from ..worker_settings import WorkerSettings
from .context import WorkerContext
from .interruption import metadata_url, poll_seconds, watch_for_notice
from .loop import run_worker
from .runner import REAPER_PROCESS
from .scratch import worker_root
from .startup import run_startup
from .supervisor import supervise

CANNOT_START = 2  # the supervisor does not restart a worker that ends by itself
STARTUP_FAILED = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ds_runtime.worker", description=__doc__)
    parser.add_argument("--single", action="store_true", help="run one worker loop, whatever DOCKER_CORES says")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s %(message)s"
    )
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        settings = WorkerSettings.from_env()
        notice_poll = poll_seconds()
        ctx = WorkerContext.from_settings(settings)
    except (ValueError, SpecError) as exc:
        logging.error("cannot start: %s", exc)
        return CANNOT_START
    for sig in (signal.SIGTERM, signal.SIGINT):
        # ECS stop or spot interruption: startup or the loop stops the tool, releases the message, exits.
        signal.signal(sig, lambda _signum, _frame: ctx.stop.set())
    with worker_root():  # job folders and the tool's TMPDIR: removed at exit, or by the next start
        if not args.single:
            # Once per container, before any worker takes a message.
            if not run_startup(ctx):
                return 0 if ctx.stop.is_set() else STARTUP_FAILED
            if settings.docker_cores > 1:
                command = [sys.executable, "-m", "ds_runtime.worker", "--single"]
                return supervise(command, settings.docker_cores, settings.seconds_to_start)
        metadata = metadata_url()
        if metadata:  # on EC2: a spot interruption notice stops the job as SIGTERM would
            watch_for_notice(metadata, ctx.stop, notice_poll)
        try:
            return run_worker(ctx)
        finally:
            REAPER_PROCESS.close()  # it would end by itself once this process is gone; now is tidier


if __name__ == "__main__":
    sys.exit(main())
