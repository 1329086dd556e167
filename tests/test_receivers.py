"""Receivers run each in a transaction of its own with its outcome; on SQLite, a write the
database refused at once (no busy wait can help inside the transaction) is run again a
moment later, in the same attempt, instead of costing a retry."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction

from django_kakiyo import signals
from django_kakiyo.models import ReceiverOutcome, WebhookEvent
from django_kakiyo.processing import process_event
from django_kakiyo.status import Status
from example_project.crm.models import Prospect

from .conftest import make_event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="SQLite refuses a write at once; PostgreSQL waits for the lock",
    ),
]


def test_a_write_sqlite_refused_at_once_is_run_again_in_the_same_attempt() -> None:
    holding, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:  # another connection, writing meanwhile
        try:
            with transaction.atomic():
                Prospect.objects.create(kakiyo_id="other")
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    blocker = threading.Thread(target=hold_the_write_lock)
    calls: list[int] = []

    def receiver(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        calls.append(event.pk)
        if len(calls) == 1:
            blocker.start()
            assert holding.wait(10)
            threading.Timer(0.01, release.set).start()  # it commits while we wait
        Prospect.objects.create(kakiyo_id=f"from-{len(calls)}")

    signals.campaign_completed.connect(receiver, weak=False)
    try:
        event = make_event("campaign.completed")
        outcome = process_event(event.pk)
    finally:
        signals.campaign_completed.disconnect(receiver)
        release.set()
        blocker.join(10)
    assert outcome.status == Status.PROCESSED
    assert len(calls) >= 2  # the first run's write was refused, and rolled back whole
    event.refresh_from_db()
    assert event.attempts == 1
    assert ReceiverOutcome.objects.get(event=event).attempts == 1
    assert set(Prospect.objects.values_list("kakiyo_id", flat=True)) == {
        "other",
        f"from-{len(calls)}",
    }
