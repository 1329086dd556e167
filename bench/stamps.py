"""A receiver and a bare Celery task that record when they ran, for bench/latency.py."""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import shared_task
from django.apps import AppConfig

STAMPS_URL = os.environ.get("KAKIYO_BENCH_STAMPS_URL", "redis://127.0.0.1:6379/10")


_client: redis.Redis | None = None


def stamp(key: str) -> None:
    global _client
    if _client is None:  # one connection per process, made after the worker forks
        _client = redis.Redis.from_url(STAMPS_URL)
    _client.set(key, repr(time.time()))


def on_event(sender: Any, event: Any, **kwargs: Any) -> None:
    stamp(f"event:{event.pk}")


@shared_task(name="bench.baseline", ignore_result=True, acks_late=True)
def baseline_task(key: str) -> None:
    """The baseline: a bare Celery task doing only the same stamp."""
    stamp(key)


class StampsConfig(AppConfig):
    name = "bench"
    label = "bench_stamps"

    def ready(self) -> None:
        from django_kakiyo import signals

        signals.event_received.connect(on_event, weak=False)
