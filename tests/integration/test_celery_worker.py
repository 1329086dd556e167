"""Processing by a real Celery worker process on real Redis and the real test database."""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import pytest
import redis
from django.test import Client

from django_kakiyo.dispatch import requeue_stale_events
from django_kakiyo.models import WebhookEvent
from django_kakiyo.publishing import background_publisher, publish
from django_kakiyo.testing import post_event

from .conftest import BROKER_DB, SHARED_REDIS, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

Status = WebhookEvent.Status


def calls(records: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(item) for item in records.lrange("calls", 0, -1)]


def deliver(client: Client, **data: Any) -> int:
    response = post_event(client, "linkedin.message.received", {"prospectId": "p_1", **data})
    assert response.status_code == 200
    return int(response.json()["id"])


def wait_for_status(event_id: int, *statuses: str, timeout: float = 30) -> WebhookEvent:
    return wait_for(
        lambda: WebhookEvent.objects.filter(pk=event_id, status__in=statuses).first(),
        timeout,
        f"event {event_id} to be {'/'.join(statuses)}",
    )


def test_delivery_runs_typed_and_generic_receivers_in_the_worker(
    client: Client, shared_broker: str, start_worker: Any, records: redis.Redis
) -> None:
    start_worker(shared_broker)
    event_id = deliver(client, message="Interested!")

    event = wait_for_status(event_id, Status.PROCESSED)

    assert event.attempts == 1
    made = calls(records)
    assert sorted(call["signal"] for call in made) == ["event_received", "typed"]
    assert {call["event"] for call in made} == {event_id}
    assert all(call["pid"] != os.getpid() for call in made)


def test_raising_receiver_is_retried_with_backoff_then_failed(
    client: Client, shared_broker: str, start_worker: Any, records: redis.Redis
) -> None:
    start_worker(shared_broker)
    event_id = deliver(client, fail_times=99)

    event = wait_for_status(event_id, Status.FAILED)

    assert event.attempts == 3  # tests/worker_settings.py: MAX_ATTEMPTS
    assert "RuntimeError: planned failure 3 of 99" in event.last_traceback
    attempts = [call["at"] for call in calls(records) if call["signal"] == "typed"]
    assert len(attempts) == 3
    # Backoff 0.5 s doubling, half of it jitter: the waits are at least 0.25 s and 0.5 s.
    assert attempts[1] - attempts[0] >= 0.25
    assert attempts[2] - attempts[1] >= 0.5


def test_success_after_a_failure_ends_processed(
    client: Client, shared_broker: str, start_worker: Any, records: redis.Redis
) -> None:
    start_worker(shared_broker)
    event_id = deliver(client, fail_times=1)

    event = wait_for_status(event_id, Status.PROCESSED)

    assert (event.attempts, event.last_error) == (2, "")
    assert [call["signal"] for call in calls(records)].count("typed") == 2


def test_the_same_event_enqueued_twice_runs_receivers_once(
    client: Client, shared_broker: str, start_worker: Any, records: redis.Redis
) -> None:
    event_id = deliver(client)  # published once on commit; no worker is running yet
    publish([event_id])
    publish([event_id, event_id])
    start_worker(shared_broker)

    wait_for_status(event_id, Status.PROCESSED)
    wait_for(
        lambda: redis.Redis(*SHARED_REDIS, db=BROKER_DB).llen("celery") == 0,
        30,
        "the broker queue to drain",
    )

    typed = [call for call in calls(records) if call["signal"] == "typed"]
    assert len(typed) == 1
    assert WebhookEvent.objects.get(pk=event_id).attempts == 1


def test_broker_outage_loses_nothing_and_processes_each_event_once(
    client: Client,
    private_redis: Any,
    use_broker: Any,
    start_worker: Any,
    records: redis.Redis,
    settings: Any,
) -> None:
    use_broker(private_redis.url)
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_TIMEOUT": 0.2}
    private_redis.stop()

    ids = [deliver(client, n=index) for index in range(20)]

    # The web process's publisher tries, fails fast, and leaves them to the sweeper.
    assert background_publisher.wait_until_idle(timeout=30)
    assert WebhookEvent.objects.filter(pk__in=ids, status=Status.RECEIVED).count() == 20
    private_redis.start()
    start_worker(private_redis.url)
    assert requeue_stale_events(older_than=0) == (20, 20)
    wait_for(
        lambda: WebhookEvent.objects.filter(pk__in=ids, status=Status.PROCESSED).count() == 20,
        60,
        "all 20 events to be processed",
    )
    typed = Counter(call["event"] for call in calls(records) if call["signal"] == "typed")
    assert typed == Counter(dict.fromkeys(ids, 1))


def test_worker_killed_mid_receiver_is_processed_later(
    client: Client,
    shared_broker: str,
    start_worker: Any,
    records: redis.Redis,
    settings: Any,
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING_TIMEOUT": 2}
    worker = start_worker(shared_broker, KAKIYO_TEST_PROCESSING_TIMEOUT="2")
    event_id = deliver(client, sleep=60)
    wait_for(lambda: records.get(f"started:{event_id}"), 30, "the receiver to start")

    worker.kill()

    assert WebhookEvent.objects.get(pk=event_id).status == Status.PROCESSING
    start_worker(shared_broker, KAKIYO_TEST_PROCESSING_TIMEOUT="2")
    wait_for(lambda: requeue_stale_events()[0] == 1, 10, "the claim to count as abandoned")

    event = wait_for_status(event_id, Status.PROCESSED)
    assert event.attempts == 2
    typed = [call for call in calls(records) if call["signal"] == "typed"]
    assert len(typed) == 2  # the killed run, then the one that finished
