"""What the tables say about health: backlog, oldest waiting, failures, receiver failures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from django_kakiyo import readings
from django_kakiyo.models import ReceiverOutcome, RejectedRequest, WebhookEvent
from django_kakiyo.retention import prune
from django_kakiyo.tallies import totals

from .factories import stored_event

pytestmark = pytest.mark.django_db
Status = WebhookEvent.Status


def test_an_empty_table_reads_nothing() -> None:
    assert readings.backlog() == 0
    assert readings.oldest_unprocessed() is None
    assert readings.last_event_at() is None
    assert readings.receiver_failures() == {}


def test_backlog_oldest_failures_and_last_event() -> None:
    now = timezone.now()
    stored_event(status=Status.PROCESSED, age=dt.timedelta(hours=9))
    oldest = stored_event(status=Status.QUEUED, age=dt.timedelta(minutes=30))
    stored_event(status=Status.PROCESSING, age=dt.timedelta(minutes=5))
    newest = stored_event(status=Status.RECEIVED)
    stored_event(status=Status.FAILED, age=dt.timedelta(minutes=20))
    stored_event(status=Status.FAILED, age=dt.timedelta(hours=3))
    assert readings.backlog() == 3
    assert readings.oldest_unprocessed() == oldest.received_at
    assert readings.failed_since(now - dt.timedelta(hours=1)) == 1
    assert readings.last_event_at() == newest.received_at
    RejectedRequest.objects.create(reason="verification_failed")
    assert readings.rejected_since(now - dt.timedelta(hours=1)) == 1


def outcome(event: WebhookEvent, receiver: str, status: str, attempts: int) -> None:
    ReceiverOutcome.objects.create(event=event, receiver=receiver, status=status,
                                   attempts=attempts)  # fmt: skip


def test_receiver_failures_count_failed_attempts_and_survive_retention() -> None:
    old = stored_event(status=Status.PROCESSED, age=dt.timedelta(days=10))
    recent = stored_event(status=Status.FAILED)
    outcome(old, "crm.on_reply", "succeeded", 3)  # two failures, then success
    outcome(old, "crm.on_any", "succeeded", 1)  # never failed: not counted
    outcome(recent, "crm.on_reply", "failed", 5)
    outcome(recent, "crm.notify", "failed", 1)
    assert readings.receiver_failures() == {"crm.on_reply": 7, "crm.notify": 1}
    since = timezone.now() - dt.timedelta(hours=1)
    assert readings.receiver_failures_since(since) == [
        ("crm.on_reply", 1, 7),
        ("crm.notify", 1, 1),
    ]
    assert prune(5).events == 1  # the old event and its outcome rows go
    assert ReceiverOutcome.objects.count() == 2
    assert readings.receiver_failures() == {"crm.on_reply": 7, "crm.notify": 1}
    assert totals(["receiver_failures_pruned"])["receiver_failures_pruned"] == [
        ({"receiver": "crm.on_reply"}, 2.0)
    ]


def test_a_full_replay_keeps_the_receiver_failures_it_clears() -> None:
    from django_kakiyo.actions import replay_events

    event = stored_event(status=Status.FAILED)
    outcome(event, "crm.on_reply", "failed", 5)
    replay_events([event.pk], by="test")
    assert ReceiverOutcome.objects.count() == 0
    assert readings.receiver_failures() == {"crm.on_reply": 5}
