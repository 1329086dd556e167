"""What the tables say about the app's health, each read from an index: for ``health/``,
``metrics/`` and the admin alike.

Each reading is one indexed query, cheap on a table of millions of rows: the backlog counts
the (status, received_at) index entries of the unfinished statuses; the oldest waiting event
is the first entry of each of them; failures of the last hour come from a partial index of
failed events; receiver failures from a partial index of the outcome rows that saw one.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Max, Q, Sum

from .models import FAILED_ATTEMPTS, SAW_A_FAILURE, ReceiverOutcome, RejectedRequest, WebhookEvent
from .status import UNFINISHED, Status
from .tallies import totals


def backlog() -> int:
    """Events waiting for a worker or in its hands."""
    return WebhookEvent.objects.unfinished().order_by().count()


def oldest_unprocessed() -> dt.datetime | None:
    """When the oldest event still waiting (received, queued or processing) arrived."""
    # Per status, the (status, received_at) index finds the oldest row directly.
    firsts = [
        WebhookEvent.objects.filter(status=status)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
        for status in UNFINISHED
    ]
    found = [first for first in firsts if first is not None]
    return min(found) if found else None


def failed_since(moment: dt.datetime) -> int:
    """Events that ended failed since ``moment`` (the partial index of failed events)."""
    return (
        WebhookEvent.objects.filter(status=Status.FAILED, status_changed_at__gte=moment)
        .order_by()
        .count()
    )


def last_event_at() -> dt.datetime | None:
    """When the newest stored event arrived."""
    last: dt.datetime | None = WebhookEvent.objects.aggregate(last=Max("received_at"))["last"]
    return last


def rejected_since(moment: dt.datetime) -> int:
    """Requests refused since ``moment`` (of those the capped table still keeps)."""
    return RejectedRequest.objects.filter(received_at__gte=moment).order_by().count()


def receiver_failures() -> dict[str, int]:
    """Failed attempts per receiver, ever: the outcome rows' and those retention deleted."""
    found: dict[str, int] = {}
    rows = (
        ReceiverOutcome.objects.filter(SAW_A_FAILURE)
        .values_list("receiver")
        .order_by()
        .annotate(failed=Sum(FAILED_ATTEMPTS))
    )
    for receiver, failed in rows:
        found[receiver] = int(failed or 0)
    for labels, value in totals(["receiver_failures_pruned"]).get("receiver_failures_pruned", []):
        name = labels.get("receiver", "")
        found[name] = found.get(name, 0) + int(value)
    return found


def receiver_failures_since(moment: dt.datetime) -> list[tuple[str, int, int]]:
    """Per receiver with a failure in rows updated since ``moment``: ``(receiver, events it
    failed on, failed attempts)``, most failed first."""
    rows = (
        ReceiverOutcome.objects.filter(SAW_A_FAILURE, updated_at__gte=moment)
        .values_list("receiver")
        .order_by()
        .annotate(
            events=Count("id", filter=Q(status="failed")),
            failed=Sum(FAILED_ATTEMPTS),
        )
    )
    found = [(receiver, int(events), int(failed or 0)) for receiver, events, failed in rows]
    return sorted((row for row in found if row[2]), key=lambda row: (-row[2], row[0]))
