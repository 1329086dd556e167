"""A receiver that sleeps, for bench/answer_time.py: ``KAKIYO_BENCH_RECEIVER_SLEEP`` seconds.

Connected to ``event_received``; with the variable unset or 0 it returns at once, so the
same server with and without a slow receiver differs only by the sleep.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.apps import AppConfig

SLEEP = float(os.environ.get("KAKIYO_BENCH_RECEIVER_SLEEP", "0"))


def sleep_receiver(sender: Any, event: Any, **kwargs: Any) -> None:
    if SLEEP:
        time.sleep(SLEEP)


class SlowReceiverConfig(AppConfig):
    name = "bench"
    label = "bench_slow_receiver"

    def ready(self) -> None:
        from django_kakiyo import signals

        signals.event_received.connect(sleep_receiver, weak=False)
