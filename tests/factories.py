"""Stored events for tests that need many of them, without going through HTTP."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.utils import timezone

from django_kakiyo.models import WebhookEvent

_sequence = itertools.count()


def stored_event(
    event_type: str = "linkedin.message.received",
    *,
    status: str = WebhookEvent.Status.RECEIVED,
    age: dt.timedelta = dt.timedelta(0),
    prospect_id: str = "p_1",
    team_id: str = "team_1",
    **fields: Any,
) -> WebhookEvent:
    """One WebhookEvent row as ingest would store it, ``age`` in the past."""
    n = next(_sequence)
    when = timezone.now() - age
    payload = {"event": event_type, "teamId": team_id, "data": {"prospectId": prospect_id}}
    return WebhookEvent.objects.create(
        event_type=event_type,
        status=status,
        prospect_id=prospect_id,
        team_id=team_id,
        payload=payload,
        raw_body=b"{}",
        dedup_key=f"{n:064d}",
        received_at=when,
        last_received_at=when,
        status_changed_at=when,
        next_attempt_at=when,
        **fields,
    )
