"""The Celery tasks' own code, run in this process.

``tests/integration/test_celery_worker.py`` runs these tasks in real workers, out of reach of
coverage; these pin each task's contract: what it returns, and a failed attempt with attempts
left becoming a retry message sent through the fail-fast publisher, with its countdown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from django_kakiyo import signals, tasks
from django_kakiyo.models import WebhookEvent
from django_kakiyo.tasks import process_event_task, requeue_stale_events_task

from .factories import stored_event

pytestmark = pytest.mark.django_db


class Receiver:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[int] = []

    def __call__(self, sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        self.calls.append(event.pk)
        if len(self.calls) <= self.failures:
            raise RuntimeError("receiver failed")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    connected = Receiver()
    signals.event_received.connect(connected, weak=False)
    yield connected
    signals.event_received.disconnect(connected)


def test_process_event_task_processes_once_and_returns_the_status(receiver: Receiver) -> None:
    event = stored_event()
    assert process_event_task(event.pk) == WebhookEvent.Status.PROCESSED
    # The same message delivered again (acks_late) finds the event processed.
    assert process_event_task(event.pk) == WebhookEvent.Status.PROCESSED
    assert receiver.calls == [event.pk]


def test_a_failed_attempt_with_attempts_left_is_published_again(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    retries: list[tuple[int, float]] = []
    monkeypatch.setattr(tasks, "publish_retry", lambda *call: retries.append(call) or True)
    receiver.failures = 1
    event = stored_event()
    assert process_event_task(event.pk) == WebhookEvent.Status.QUEUED
    assert [event_id for event_id, _ in retries] == [event.pk]
    assert retries[0][1] > 0
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.QUEUED
    assert event.attempts == 1
    assert event.next_attempt_at is not None


def test_the_sweeper_task_returns_how_many_it_enqueued(receiver: Receiver) -> None:
    stale = stored_event(age=dt.timedelta(hours=1))
    fresh = stored_event()
    # No broker in the tests, so "enqueued" means processed here, in this process.
    assert requeue_stale_events_task() == 1
    assert receiver.calls == [stale.pk]
    fresh.refresh_from_db()
    assert fresh.status == WebhookEvent.Status.RECEIVED


def test_a_batch_the_database_cannot_take_now_is_sent_again_shortly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import OperationalError

    def unavailable(event_ids: list[int]) -> Any:
        raise OperationalError("connection refused")

    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks, "process_events", unavailable)
    monkeypatch.setattr(tasks, "send", lambda *args, **kwargs: sent.append((args, kwargs)))
    assert tasks.process_events_task([7, 8]) == {}
    assert sent == [(("django_kakiyo.process_events", ([7, 8],)), {"countdown": 5})]


def test_data_the_database_refuses_is_not_retried_as_an_outage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import DataError

    def refused(event_ids: list[int]) -> Any:
        raise DataError("value too long")

    monkeypatch.setattr(tasks, "process_events", refused)
    with pytest.raises(DataError):
        tasks.process_events_task([7])


@pytest.mark.django_db(transaction=True)
def test_a_dead_connection_is_replaced_before_a_task_runs(receiver: Receiver) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("closing the driver's connection underneath Django: PostgreSQL")
    event = stored_event()
    connection.ensure_connection()
    assert connection.connection is not None
    connection.connection.close()  # as a database restart leaves it: Django does not know
    assert process_event_task(event.pk) == WebhookEvent.Status.PROCESSED


@pytest.fixture
def ordered(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "ORDERING": "prospect"}


def test_a_task_processes_what_its_events_hand_on(
    receiver: Receiver, ordered: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ordering, a prospect's waiting events run in the task that ended the one ahead,
    not one broker message each."""
    published: list[list[int]] = []
    monkeypatch.setattr(tasks, "publish_in_batches", lambda ids: published.append(ids))
    chain = [stored_event(prospect_id="p_7") for _ in range(3)]
    other = stored_event(prospect_id="p_8")
    assert tasks.process_events_task([chain[0].pk, chain[1].pk, other.pk]) == {
        chain[0].pk: WebhookEvent.Status.PROCESSED,
        chain[1].pk: WebhookEvent.Status.RECEIVED,  # held back when the message came
        other.pk: WebhookEvent.Status.PROCESSED,
    }
    assert receiver.calls == [chain[0].pk, other.pk, chain[1].pk, chain[2].pk]
    assert published == []


def test_past_its_time_a_task_publishes_what_is_handed_on(
    receiver: Receiver, ordered: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[list[int]] = []
    monkeypatch.setattr(tasks, "publish_in_batches", lambda ids: published.append(ids))
    monkeypatch.setattr(tasks, "HAND_ON_WITHIN", 0.0)
    first, second = stored_event(prospect_id="p_7"), stored_event(prospect_id="p_7")
    assert tasks.process_events_task([first.pk]) == {first.pk: WebhookEvent.Status.PROCESSED}
    assert published == [[second.pk]]
    assert WebhookEvent.objects.get(pk=second.pk).status == WebhookEvent.Status.RECEIVED
