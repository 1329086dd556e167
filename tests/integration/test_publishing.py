"""Publishing to a real Redis broker: batched messages, the background publisher, outages."""

from __future__ import annotations

import base64
import json
import logging
import os
import warnings
from typing import Any

import pytest
import redis
from django.test import Client

from django_kakiyo.models import WebhookEvent
from django_kakiyo.publishing import BackgroundPublisher, publish, publish_in_batches
from django_kakiyo.testing import post_event

from .conftest import BROKER_DB, SHARED_REDIS, free_port

pytestmark = pytest.mark.integration


def queued_messages() -> list[tuple[str, list[int]]]:
    """(task name, event ids) of every message waiting in the broker's default queue."""
    broker = redis.Redis(*SHARED_REDIS, db=BROKER_DB)
    messages = []
    for raw in reversed(broker.lrange("celery", 0, -1)):  # kombu LPUSHes: oldest last
        envelope = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        messages.append((envelope["headers"]["task"], args[0]))
    return messages


def test_publish_sends_one_message_for_a_batch(shared_broker: str) -> None:
    publish([3, 1, 2])

    assert queued_messages() == [("django_kakiyo.process_events", [3, 1, 2])]


def test_publish_in_batches_splits_by_batch_size(shared_broker: str, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_BATCH_SIZE": 2}

    assert publish_in_batches([1, 2, 3, 4, 5]) == 5

    assert [ids for _task, ids in queued_messages()] == [[1, 2], [3, 4], [5]]


def test_the_connection_is_made_once_per_process(private_redis: Any, use_broker: Any) -> None:
    use_broker(private_redis.url)  # a server of its own: no other client counts
    server = redis.Redis.from_url(private_redis.url)
    publish([0])
    connections_after_the_first = server.info("stats")["total_connections_received"]

    for event_id in range(1, 20):
        publish([event_id])

    assert server.llen("celery") == 20
    # Counts every connection the server ever accepted: a publish that connected anew, even
    # one that closed its connection again, would show here.
    assert server.info("stats")["total_connections_received"] == connections_after_the_first


def test_a_broker_that_is_down_fails_the_publish_and_is_reported(
    use_broker: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    use_broker(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_TIMEOUT": 0.2}

    with pytest.raises(Exception):  # noqa: B017 - kombu's OperationalError or the socket's
        publish([1])
    with caplog.at_level(logging.WARNING, logger="django_kakiyo.publishing"):
        assert publish_in_batches([1, 2, 3]) == 0
    assert "3 Kakiyo event(s) are stored but could not be published" in caplog.text


def test_the_publisher_recovers_when_the_broker_comes_back(
    private_redis: Any, use_broker: Any, settings: Any
) -> None:
    use_broker(private_redis.url)
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_TIMEOUT": 0.2}
    publish([1])
    private_redis.stop()
    assert publish_in_batches([2]) == 0
    private_redis.start()

    assert publish_in_batches([3]) == 1  # a new connection, made after the failure
    assert redis.Redis.from_url(private_redis.url).llen("celery") == 1


def test_the_background_publisher_batches_what_it_is_handed(
    shared_broker: str, settings: Any
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_BATCH_SIZE": 10, "PUBLISH_BATCH_INTERVAL": 0.05}
    publisher = BackgroundPublisher()
    for event_id in range(1, 26):
        publisher.submit(event_id)

    assert publisher.wait_until_idle(timeout=30)

    batches = [ids for _task, ids in queued_messages()]
    assert sorted(event_id for batch in batches for event_id in batch) == list(range(1, 26))
    assert all(1 <= len(batch) <= 10 for batch in batches)
    assert len(batches) < 25  # the delay let ids share messages


def test_flush_publishes_what_is_pending_in_the_calling_thread(shared_broker: str) -> None:
    publisher = BackgroundPublisher()
    publisher._pending.extend([7, 8])  # as if submitted just before the process exits

    assert publisher.flush() == 2
    assert queued_messages() == [("django_kakiyo.process_events", [7, 8])]


def test_the_background_publisher_works_in_a_forked_child(shared_broker: str) -> None:
    publisher = BackgroundPublisher()
    publisher.submit(1)
    assert publisher.wait_until_idle(timeout=30)

    with warnings.catch_warnings():  # Python 3.12 warns about forking with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here; a new one must start
        try:
            publisher.submit(2)
            os._exit(0 if publisher.wait_until_idle(timeout=30) else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted(ids for _task, ids in queued_messages()) == [[1], [2]]


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_the_view_answers_200_and_the_event_stays_received(
    client: Client, use_broker: Any, settings: Any
) -> None:
    from django_kakiyo.publishing import background_publisher

    use_broker(f"redis://127.0.0.1:{free_port()}/0")
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_TIMEOUT": 0.2}

    response = post_event(client, "linkedin.message.received", {"prospectId": "p_1"})

    assert response.status_code == 200
    assert background_publisher.wait_until_idle(timeout=30)
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    assert event.status == WebhookEvent.Status.RECEIVED  # stored; the sweeper will enqueue it


@pytest.mark.django_db(transaction=True)
def test_a_replay_publishes_its_events_in_batches(shared_broker: str, settings: Any) -> None:
    from django_kakiyo.actions import replay_events

    from ..factories import stored_event

    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_BATCH_SIZE": 2}
    ids = [stored_event(status=WebhookEvent.Status.PROCESSED).pk for _ in range(5)]

    result = replay_events(ids, by="test")

    assert result.done == ids
    assert [batch for _task, batch in queued_messages()] == [ids[:2], ids[2:4], ids[4:]]


def test_with_the_broker_down_the_publisher_leaves_the_backlog_to_the_sweeper(
    use_broker: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    use_broker(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_TIMEOUT": 0.2, "PUBLISH_BATCH_SIZE": 10}
    publisher = BackgroundPublisher()

    with caplog.at_level(logging.WARNING, logger="django_kakiyo.publishing"):
        with publisher._condition:  # all 50 arrive before the thread can take any
            for event_id in range(50):
                publisher.submit(event_id)
        assert publisher.wait_until_idle(timeout=30)

    counts = [int(record.getMessage().split()[0]) for record in caplog.records]
    assert sum(counts) == 50  # every id accounted for, each exactly once
    assert len(counts) <= 3  # one failed batch, then the rest given up at once
