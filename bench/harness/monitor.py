"""A running Stack sampled every minute: memory of each process tree, the backlog, CPU."""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.harness.database import PENDING, status_counts
from bench.harness.procfs import CpuMeter, total_kib
from bench.harness.servers import Stack


class MinuteSampler(threading.Thread):
    """Every minute of the load from ``t0``: memory, the worker's backlog, CPU."""

    def __init__(self, stack: Stack, t0: float) -> None:
        super().__init__(daemon=True)
        self.stack, self.t0 = stack, t0
        self.stop = threading.Event()
        self.minutes: list[dict[str, Any]] = []

    def run(self) -> None:
        from django.db import connection

        meter = CpuMeter(self.stack.roots())
        meter.start()
        for minute in range(1, 1_000_000):
            stopped = self.stop.wait(max(0.0, self.t0 + 60 * minute - time.monotonic()))
            if stopped and time.monotonic() - (self.t0 + 60 * (minute - 1)) < 5:
                break  # the load ended right at a minute boundary, already sampled
            cpu = meter.stop()
            meter.start()
            memory, statuses = self.stack.memory(), status_counts()
            sample = {
                "minute": minute,
                "gunicorn_kib": total_kib(memory, "gunicorn"),
                "celery_kib": total_kib(memory, "celery"),
                "pending": sum(statuses.get(s, 0) for s in PENDING),
                "rows": sum(statuses.values()),
                "cpu": cpu,
            }
            self.minutes.append(sample)
            print(
                f"  minute {minute}: gunicorn {sample['gunicorn_kib'] / 1024:.1f} MiB, celery "
                f"{sample['celery_kib'] / 1024:.1f} MiB, unprocessed {sample['pending']}, cpu "
                f"ours {cpu['ours_pct']:.0f}% other {cpu['other_pct']:.0f}% "
                f"steal {cpu['steal_pct']:.0f}%",
                flush=True,
            )
            if stopped:
                break
        connection.close()
