"""Processing by real Celery worker processes on the real test database, on Redis and on
RabbitMQ: receivers, retries, broker outages, killed workers, per-prospect order, and
retries that run only the receivers that failed."""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections import Counter
from typing import Any

import pytest
import redis
from django.db import connections
from django.test import Client

from django_kakiyo.dispatch import requeue_stale_events
from django_kakiyo.models import WebhookEvent
from django_kakiyo.publishing import background_publisher, publish
from django_kakiyo.testing import post_event

from .brokers import Queue
from .conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

Status = WebhookEvent.Status


def calls(records: redis.Redis, key: str = "calls") -> list[dict[str, Any]]:
    return [json.loads(item) for item in records.lrange(key, 0, -1)]


def deliver(client: Client, **data: Any) -> int:
    data = {"prospectId": "p_1", **data}
    response = post_event(client, "linkedin.message.received", data)
    assert response.status_code == 200
    return int(response.json()["id"])


def wait_for_status(event_id: int, *statuses: str, timeout: float = 30) -> WebhookEvent:
    return wait_for(
        lambda: WebhookEvent.objects.filter(pk=event_id, status__in=statuses).first(),
        timeout,
        f"event {event_id} to be {'/'.join(statuses)}",
    )


def test_delivery_runs_typed_and_generic_receivers_in_the_worker(
    client: Client, broker: Queue, start_worker: Any, records: redis.Redis
) -> None:
    start_worker(broker.url, queue=broker.name)
    event_id = deliver(client, message="Interested!")

    event = wait_for_status(event_id, Status.PROCESSED)

    assert event.attempts == 1
    made = calls(records)
    assert sorted(call["signal"] for call in made) == ["event_received", "typed"]
    assert {call["event"] for call in made} == {event_id}
    assert all(call["pid"] != os.getpid() for call in made)


def test_raising_receiver_is_retried_with_backoff_then_failed(
    client: Client, broker: Queue, start_worker: Any, records: redis.Redis
) -> None:
    start_worker(broker.url, queue=broker.name)
    event_id = deliver(client, fail_times=99)

    event = wait_for_status(event_id, Status.FAILED)

    assert event.attempts == 3  # tests/worker_settings.py: MAX_ATTEMPTS
    assert "RuntimeError: planned failure 3 of 99" in event.last_traceback
    attempts = [call["at"] for call in calls(records) if call["signal"] == "typed"]
    assert len(attempts) == 3
    # Backoff 0.5 s doubling, half of it jitter: the waits are at least 0.25 s and 0.5 s.
    assert attempts[1] - attempts[0] >= 0.25
    assert attempts[2] - attempts[1] >= 0.5


def test_a_retry_runs_only_the_receiver_that_failed(
    client: Client, broker: Queue, start_worker: Any, records: redis.Redis
) -> None:
    start_worker(broker.url, queue=broker.name)
    event_id = deliver(client, fail_times=1)

    event = wait_for_status(event_id, Status.PROCESSED)

    assert (event.attempts, event.last_error) == (2, "")
    ran = Counter(call["signal"] for call in calls(records))
    assert ran == {"typed": 2, "event_received": 1}  # the one that succeeded ran once
    outcomes = {o.receiver.rsplit(".", 1)[-1]: (o.status, o.attempts)
                for o in event.receiver_outcomes.all()}  # fmt: skip
    # (on_reply is the example CRM's receiver, also connected in the worker.)
    assert outcomes == {
        "on_typed": ("succeeded", 2),
        "on_any": ("succeeded", 1),
        "on_reply": ("succeeded", 1),
    }


def test_the_same_event_enqueued_twice_runs_receivers_once(
    client: Client, broker: Queue, start_worker: Any, records: redis.Redis
) -> None:
    event_id = deliver(client)  # published once on commit; no worker is running yet
    assert background_publisher.wait_until_idle(timeout=30)
    publish([event_id])
    publish([event_id, event_id])
    start_worker(broker.url, queue=broker.name)

    wait_for_status(event_id, Status.PROCESSED)
    wait_for(lambda: broker.length() == 0, 30, "the broker queue to drain")

    typed = [call for call in calls(records) if call["signal"] == "typed"]
    assert len(typed) == 1
    assert WebhookEvent.objects.get(pk=event_id).attempts == 1


def test_broker_outage_loses_nothing_and_processes_each_event_once(
    client: Client,
    private_broker: Any,
    use_broker: Any,
    start_worker: Any,
    records: redis.Redis,
    settings: Any,
) -> None:
    use_broker(private_broker.url, "kakiyo-outage")
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_TIMEOUT": 0.2}
    private_broker.stop()

    ids = [deliver(client, n=index) for index in range(20)]

    # The web process's publisher tries, fails fast, and leaves them to the sweeper.
    assert background_publisher.wait_until_idle(timeout=30)
    assert WebhookEvent.objects.filter(pk__in=ids, status=Status.RECEIVED).count() == 20
    private_broker.start()
    start_worker(private_broker.url, queue="kakiyo-outage")
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
    broker: Queue,
    start_worker: Any,
    records: redis.Redis,
    settings: Any,
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING_TIMEOUT": 2}
    options = {"queue": broker.name, "KAKIYO_TEST_PROCESSING_TIMEOUT": "2"}
    worker = start_worker(broker.url, **options)
    event_id = deliver(client, sleep=60)
    wait_for(lambda: records.get(f"started:{event_id}"), 30, "the receiver to start")

    worker.kill()

    assert WebhookEvent.objects.get(pk=event_id).status == Status.PROCESSING
    start_worker(broker.url, **options)

    # RabbitMQ hands the killed worker's message to the new one at once; with Redis only the
    # sweeper brings it back: either way it is processed once the claim is abandoned.
    def processed_after_sweeping() -> bool:
        requeue_stale_events()
        return WebhookEvent.objects.filter(pk=event_id, status=Status.PROCESSED).exists()

    wait_for(processed_after_sweeping, 30, "the abandoned claim to be processed again")

    event = WebhookEvent.objects.get(pk=event_id)
    assert event.attempts == 2
    typed = [call for call in calls(records) if call["signal"] == "typed"]
    assert len(typed) == 2  # the killed run, then the one that finished


PROSPECTS, EVENTS_EACH = 5, 20


def test_each_prospects_events_run_one_at_a_time_in_order_across_four_workers(
    broker: Queue, start_worker: Any, records: redis.Redis, settings: Any
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "ORDERING": "prospect"}
    start_worker(broker.url, queue=broker.name, concurrency=4, KAKIYO_TEST_ORDERING="prospect")
    failing = ("p_2", 5)  # its typed receiver fails once: its prospect must wait for it
    ids: dict[int, tuple[str, int]] = {}
    lock = threading.Lock()

    def send(prospect: str) -> None:
        try:
            for seq in range(EVENTS_EACH):
                data = {"prospectId": prospect, "seq": seq, "work": 0.02}
                if (prospect, seq) == failing:
                    data["fail_times"] = 1
                event_id = deliver(Client(), **data)  # each after the previous got its 200
                with lock:
                    ids[event_id] = (prospect, seq)
        finally:
            connections.close_all()  # this thread's own connection

    senders = [threading.Thread(target=send, args=(f"p_{n}",)) for n in range(PROSPECTS)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert len(ids) == PROSPECTS * EVENTS_EACH
    wait_for(
        lambda: (
            WebhookEvent.objects.filter(pk__in=ids, status=Status.PROCESSED).count() == len(ids)
        ),
        120,
        "every event to be processed",
    )

    started = [c for c in calls(records) if c["signal"] == "typed"]
    finished = [c for c in calls(records, "done") if c["signal"] == "typed"]
    ended = {c["event"]: c["at"] for c in finished}
    for prospect in {p for p, _ in ids.values()}:
        starts = sorted((c for c in started if c["prospect"] == prospect), key=lambda c: c["at"])
        seqs = [c["seq"] for c in starts]
        retried = [failing[1]] if prospect == failing[0] else []
        assert seqs == sorted([*range(EVENTS_EACH), *retried]), prospect  # in receipt order
        # One at a time: each run starts after the previous one of its prospect ended (a
        # failed attempt and its retry are one event: the retry starts after the failure).
        for before, after in itertools.pairwise(starts):
            if before["event"] != after["event"]:
                assert ended[before["event"]] <= after["at"], (prospect, before, after)
    # The failing event ran its typed receiver twice and event_received once: the retry ran
    # only the receiver that failed.
    failing_id = next(i for i, key in ids.items() if key == failing)
    ran = Counter(c["signal"] for c in calls(records) if c["event"] == failing_id)
    assert ran == {"typed": 2, "event_received": 1}
