"""Retention: kakiyo_prune, the beat task, and the replay window's protection."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_kakiyo.models import RejectedRequest, WebhookEvent
from django_kakiyo.retention import prune
from django_kakiyo.tasks import prune_old_events_task
from example_project.crm.models import Prospect, TimelineEntry

from .factories import stored_event

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def old_rejected(age: dt.timedelta) -> RejectedRequest:
    from django.utils import timezone

    return RejectedRequest.objects.create(
        reason="verification_failed", received_at=timezone.now() - age
    )


def test_prunes_only_old_finished_events_and_rejections() -> None:
    old_done = stored_event(status="processed", age=40 * DAY)
    old_ignored = stored_event(status="ignored", age=40 * DAY)
    kept = [
        stored_event(status="failed", age=40 * DAY),
        stored_event(status="queued", age=40 * DAY),
        stored_event(status="invalid", age=40 * DAY),
        stored_event(status="processed", age=10 * DAY),
    ]
    old_reject, new_reject = old_rejected(40 * DAY), old_rejected(DAY)

    result = prune(30, batch_size=1)

    assert (result.events, result.rejected_requests) == (2, 1)
    remaining = set(WebhookEvent.objects.values_list("pk", flat=True))
    assert remaining == {event.pk for event in kept}
    assert not WebhookEvent.objects.filter(pk__in=[old_done.pk, old_ignored.pk]).exists()
    assert list(RejectedRequest.objects.values_list("pk", flat=True)) == [new_reject.pk]
    assert old_reject.pk


def test_replay_window_protects_young_rows(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "REPLAY_WINDOW": 5 * 86400}
    young = stored_event(status="processed", age=2 * DAY)
    assert prune(0).events == 0
    assert WebhookEvent.objects.filter(pk=young.pk).exists()


def test_project_relations_are_honoured() -> None:
    event = stored_event(status="processed", age=40 * DAY)
    prospect = Prospect.objects.create(kakiyo_id="p_1")
    entry = TimelineEntry.objects.create(prospect=prospect, event=event, kind="x")
    prune(30)
    entry.refresh_from_db()
    assert entry.event_id is None


def test_command(settings: Any) -> None:
    stored_event(status="processed", age=40 * DAY)
    out = StringIO()
    call_command("kakiyo_prune", "--days", "30", "--dry-run", stdout=out)
    assert "would delete 1 event(s) and 0 rejected request(s)" in out.getvalue()
    assert WebhookEvent.objects.count() == 1
    out = StringIO()
    call_command("kakiyo_prune", "--days", "30", stdout=out)
    assert "deleted 1 event(s)" in out.getvalue()
    assert WebhookEvent.objects.count() == 0


def test_command_uses_the_retention_setting(settings: Any) -> None:
    with pytest.raises(CommandError, match="RETENTION"):
        call_command("kakiyo_prune", stdout=StringIO())
    settings.KAKIYO = {**settings.KAKIYO, "RETENTION": 30}
    stored_event(status="processed", age=40 * DAY)
    call_command("kakiyo_prune", stdout=StringIO())
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--days", "-1"], "zero or more"), (["--days", "1", "--batch-size", "0"], "at least 1")],
)
def test_command_errors(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("kakiyo_prune", *args, stdout=StringIO())


def test_beat_task_applies_retention(settings: Any) -> None:
    stored_event(status="processed", age=40 * DAY)
    assert prune_old_events_task() == 0  # RETENTION unset: keep everything
    assert WebhookEvent.objects.count() == 1
    settings.KAKIYO = {**settings.KAKIYO, "RETENTION": 30}
    assert prune_old_events_task() == 1
    assert WebhookEvent.objects.count() == 0
