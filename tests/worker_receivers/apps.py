"""Connects the reporting receivers in the worker."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import redis
from django.apps import AppConfig

from django_kakiyo import signals


def store() -> redis.Redis:
    return redis.Redis.from_url(os.environ["KAKIYO_TEST_RECORD_URL"])


def report(signal_name: str, event: Any, data: Any) -> None:
    """Record the call (``calls``: at its start; ``done``: at its end, if it succeeds), then
    fail, sleep or work as the event's data asks."""
    connection = store()
    record = {
        "event": event.pk,
        "signal": signal_name,
        "pid": os.getpid(),
        "at": time.time(),
        "prospect": event.prospect_id,
        "seq": data.get("seq"),
    }
    connection.rpush("calls", json.dumps(record))
    failures = int(data.get("fail_times", 0))
    if signal_name == "typed" and failures:
        attempt = connection.incr(f"attempt:{event.pk}")
        if attempt <= failures:
            raise RuntimeError(f"planned failure {attempt} of {failures}")
    # Only the first run sleeps, so the run after a killed one can finish.
    if signal_name == "typed" and data.get("sleep") and connection.setnx(f"slept:{event.pk}", 1):
        connection.set(f"started:{event.pk}", os.getpid())
        time.sleep(float(data["sleep"]))
        connection.delete(f"started:{event.pk}")
    if signal_name == "typed" and data.get(
        "work"
    ):  # some work, so that runs of one prospect could overlap if allowed
        time.sleep(float(data["work"]))
    connection.rpush("done", json.dumps({**record, "at": time.time()}))


def on_typed(sender: Any, event: Any, data: Any, **kwargs: Any) -> None:
    report("typed", event, data)


def on_any(sender: Any, event: Any, data: Any, **kwargs: Any) -> None:
    report("event_received", event, data)


class WorkerReceiversConfig(AppConfig):
    name = "tests.worker_receivers"
    label = "worker_receivers"

    def ready(self) -> None:
        signals.linkedin_message_received.connect(on_typed, weak=False)
        signals.event_received.connect(on_any, weak=False)
