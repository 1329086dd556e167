"""Celery tasks: thin shells around processing and the sweeper."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from .conf import kakiyo_settings
from .dispatch import requeue_stale_events
from .processing import process_event
from .retention import prune
from .spool import import_spool


@shared_task(
    bind=True,
    name="django_kakiyo.process_event",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    ignore_result=True,
)
def process_event_task(self: Any, event_id: int) -> str:
    """Process one stored event; retried (a new message) while processing says so.

    ``acks_late`` and ``reject_on_worker_lost``: a worker killed mid-task leaves the message
    to be delivered again, and the claim in processing makes that re-delivery harmless.
    """
    outcome = process_event(event_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="django_kakiyo.requeue_stale_events", ignore_result=True)
def requeue_stale_events_task(older_than: float | None = None) -> int:
    """The sweeper, for Celery beat: import this host's spool, then enqueue events that
    never reached a worker."""
    import_spool()
    _, enqueued = requeue_stale_events(older_than)
    return enqueued


@shared_task(name="django_kakiyo.prune_old_events", ignore_result=True)
def prune_old_events_task() -> int:
    """Retention, for a daily Celery beat entry: apply ``KAKIYO['RETENTION']`` (days)."""
    days = kakiyo_settings.RETENTION
    if days is None:
        return 0
    result = prune(float(days))
    return result.events + result.rejected_requests
