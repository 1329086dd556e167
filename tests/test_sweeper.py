"""The sweeper: lost events found, enqueued again, and the kakiyo_requeue command."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_kakiyo import signals
from django_kakiyo.dispatch import requeue_stale_events, stale_events
from django_kakiyo.models import WebhookEvent

from .conftest import make_event

Status = WebhookEvent.Status


@pytest.mark.django_db
def test_sweeper_finds_only_lost_events(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "REQUEUE_AFTER": 60, "PROCESSING_TIMEOUT": 600}
    now = timezone.now()
    ago = lambda seconds: now - dt.timedelta(seconds=seconds)  # noqa: E731
    lost = make_event()
    WebhookEvent.objects.filter(pk=lost.pk).update(next_attempt_at=ago(61))
    fresh = make_event()
    retry_lost = make_event()
    WebhookEvent.objects.filter(pk=retry_lost.pk).update(status="queued", next_attempt_at=ago(90))
    retry_pending = make_event()
    WebhookEvent.objects.filter(pk=retry_pending.pk).update(
        status="queued", next_attempt_at=now + dt.timedelta(seconds=30)
    )
    abandoned = make_event()
    WebhookEvent.objects.filter(pk=abandoned.pk).update(
        status="processing", status_changed_at=ago(601)
    )
    working = make_event()
    WebhookEvent.objects.filter(pk=working.pk).update(
        status="processing", status_changed_at=ago(5)
    )
    done = make_event()
    WebhookEvent.objects.filter(pk=done.pk).update(status="processed", next_attempt_at=ago(999))

    assert stale_events() == [lost.pk, retry_lost.pk, abandoned.pk]
    assert stale_events(older_than=0) == [lost.pk, fresh.pk, retry_lost.pk, abandoned.pk]
    assert fresh.pk and retry_pending.pk and working.pk and done.pk


@pytest.mark.django_db
def test_requeue_processes_lost_events_in_process(connect: Any) -> None:
    receiver = connect(signals.linkedin_message_received)
    event = make_event()
    assert requeue_stale_events(older_than=0) == (1, 1)
    assert WebhookEvent.objects.get(pk=event.pk).status == Status.PROCESSED
    assert len(receiver.calls) == 1


@pytest.mark.django_db
def test_kakiyo_requeue_command(connect: Any) -> None:
    make_event()
    out = StringIO()
    call_command("kakiyo_requeue", "--older-than", "0", stdout=out)
    assert "1 stale event(s) found, 1 processed in-process." in out.getvalue()
    out = StringIO()
    call_command("kakiyo_requeue", stdout=out)
    assert "0 stale event(s) found" in out.getvalue()


def test_kakiyo_requeue_rejects_a_negative_age() -> None:
    with pytest.raises(CommandError, match="zero or more"):
        call_command("kakiyo_requeue", "--older-than", "-1")


@pytest.mark.django_db
def test_the_sweeper_does_not_publish_the_same_backlog_at_every_pass(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_kakiyo import dispatch

    settings.KAKIYO = {**settings.KAKIYO, "REQUEUE_AFTER": 60}
    lost = make_event()
    WebhookEvent.objects.filter(pk=lost.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(hours=1)
    )
    sent: list[list[int]] = []
    monkeypatch.setattr(dispatch, "enqueue_many", lambda ids: sent.append(list(ids)) or len(ids))
    assert requeue_stale_events() == (1, 1)
    assert requeue_stale_events() == (0, 0)  # enqueued a moment ago: left alone
    assert sent == [[lost.pk], []]
    assert WebhookEvent.objects.get(pk=lost.pk).status == Status.RECEIVED  # still due


@pytest.mark.django_db
def test_with_ordering_the_sweeper_leaves_held_back_events_to_the_one_ahead(
    settings: Any,
) -> None:
    """A held-back event cannot be claimed until the event ahead of it ends, and that one
    hands it on (or, stuck, is itself found here): the sweeper finds only the head of each
    prospect's line."""
    settings.KAKIYO = {**settings.KAKIYO, "ORDERING": "prospect"}
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    line = [make_event() for _ in range(3)]
    WebhookEvent.objects.filter(pk__in=[e.pk for e in line]).update(
        prospect_id="p_1", next_attempt_at=an_hour_ago
    )
    assert stale_events() == [line[0].pk]
    settings.KAKIYO = {**settings.KAKIYO, "ORDERING": None}
    assert stale_events() == [event.pk for event in line]
