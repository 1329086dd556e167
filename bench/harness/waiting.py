"""Waiting: for a condition, and for a quiet machine (other people's work shares the cores)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.harness.procfs import CLOCK_TICKS, machine_jiffies


def wait_until(done: Callable[[], Any], timeout: float, poll: float = 0.25) -> float | None:
    """Seconds until ``done()`` held, or None when ``timeout`` passed first."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > timeout:
            return None
        time.sleep(poll)
    return time.monotonic() - start


def wait_for_quiet(
    threshold: float = 15.0, timeout: float = 600.0, window: float = 2.0
) -> tuple[float, float]:
    """Wait until the machine (with the bench idle) uses less than ``threshold`` % of one core
    over two consecutive ``window``s. Returns (seconds waited, last busy %); gives up after
    ``timeout``."""
    start = time.monotonic()
    quiet = 0
    busy_percent = 0.0
    while True:
        before = machine_jiffies()
        time.sleep(window)
        busy_percent = 100 * (machine_jiffies() - before) / CLOCK_TICKS / window
        quiet = quiet + 1 if busy_percent < threshold else 0
        if quiet >= 2 or time.monotonic() - start > timeout:
            return time.monotonic() - start, busy_percent
