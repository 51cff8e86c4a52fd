"""The local mode's AWS: moto's server on a loopback port, in this process or as a daemon.

In this process:

    with start_emulator() as emulator:
        boto3.client("sqs", endpoint_url=emulator.endpoint_url)

As a background process that several run.py invocations share (state lives in it):

    python -m ds_runtime.local.emulator --port 5123    # serves until SIGTERM or Ctrl-C

It prints one line, `ds-emulator serving <endpoint_url>`, once it accepts requests.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import TracebackType
from typing import Any

from moto.server import ThreadedMotoServer

from . import atomic_s3, ec2_fleet, fast_s3, fast_sqs

HOST = "127.0.0.1"  # loopback only: the emulator has no authentication
READY_LINE = "ds-emulator serving"


class Emulator:
    """A running moto server; `stop()` (or leaving the `with` block) closes its port."""

    def __init__(self, server: ThreadedMotoServer, fast: bool) -> None:
        self._server: ThreadedMotoServer | None = server
        host, port = server.get_host_and_port()
        self.port = port
        self.endpoint_url = f"http://{host}:{port}"
        self.fast = fast  # whether fast_sqs is active in this process

    def stop(self) -> None:
        """Stop serving and close the listening socket; safe to call twice."""
        if self._server is not None:
            # werkzeug's serve_forever closes the socket on its way out; stop() joins it.
            self._server.stop()
            self._server = None

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def start_emulator(port: int | None = None, fast: bool = True) -> Emulator:
    """Start moto's server on 127.0.0.1 (port None: a free one) and return once it listens.

    fast=True installs fast_sqs first (process-wide, idempotent); if this moto is not the
    one fast_sqs was written for, it warns and the emulator runs plain moto (`.fast` False).
    fast=False leaves this process's moto as it is (`fast_sqs.uninstall()` undoes a patch).
    Either way its S3's conditional writes are made atomic, as S3's are (atomic_s3), and its EC2 Fleet
    can be resized (ec2_fleet); fast=True also makes its S3 listing and routing fast (fast_s3, with the
    same guard).
    """
    active = fast_sqs.install() if fast else fast_sqs.is_installed()
    if fast:
        fast_s3.install()
    atomic_s3.install()
    ec2_fleet.install()  # ModifyFleet, which moto lacks
    # werkzeug logs one line per request, and a traceback for each API moto lacks (the
    # client gets HTTP 500 and handles it): the emulator's users see neither.
    werkzeug_log = logging.getLogger("werkzeug")
    if werkzeug_log.level == logging.NOTSET:
        werkzeug_log.setLevel(logging.CRITICAL)
    # Port 0 lets the OS pick a free port at bind time: no window for another process to take it.
    server = ThreadedMotoServer(ip_address=HOST, port=port or 0, verbose=False)
    server.start()
    return Emulator(server, fast=active)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ds_runtime.local.emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one, printed)")
    parser.add_argument("--plain", action="store_true", help="run moto's SQS unpatched (no fast_sqs)")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(asctime)s emulator %(message)s")
    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with start_emulator(args.port, fast=not args.plain) as emulator:
        print(f"{READY_LINE} {emulator.endpoint_url} fast_sqs={'on' if emulator.fast else 'off'}", flush=True)
        # Poll: the signal may land on a server thread, and Python runs its handler only
        # when the main thread next executes bytecode, which a bare wait() never does.
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
