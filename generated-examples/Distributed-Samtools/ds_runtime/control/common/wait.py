"""The one way the control plane waits: poll a check until it answers, or give up.

No fixed sleeps anywhere else. Standard library only: the auto-monitor Lambda ships it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The awaited state did not come in time."""


def wait_for(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `check` until it returns something other than None/False; WaitTimeout after `timeout` s."""
    deadline = clock() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(f"gave up waiting for {what} after {timeout:g} s")
        sleep(min(interval, remaining))
