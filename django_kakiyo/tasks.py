"""Celery tasks: thin shells around processing, the sweeper and retention.

Their names are public (Celery routes and beat schedules name them). The web process sends
them by name (:mod:`django_kakiyo.publishing`), so nothing below imports this module.
"""

from __future__ import annotations

from celery import shared_task

from .conf import kakiyo_settings
from .processing import Outcome, process_events
from .publishing import PROCESS_EVENT_TASK, PROCESS_EVENTS_TASK, publish_retry
from .retention import prune
from .sweeper import sweep


@shared_task(
    name=PROCESS_EVENTS_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def process_events_task(event_ids: list[int]) -> dict[int, str]:
    """Process a batch of events, as published by the web process and the sweeper.

    ``acks_late`` and ``reject_on_worker_lost``: a worker killed mid-task leaves the message to
    be delivered again, and the claims in processing make that re-delivery harmless.
    """
    return _schedule_retries(process_events(event_ids))


@shared_task(
    name=PROCESS_EVENT_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def process_event_task(event_id: int) -> str:
    """Process one event: a retry, scheduled by one of these tasks with a countdown."""
    return _schedule_retries(process_events([event_id]))[event_id]


def _schedule_retries(outcomes: dict[int, Outcome]) -> dict[int, str]:
    """An event that should be tried again later (its receivers failed with attempts left,
    another worker holds it, it is not due yet) gets a retry message with that countdown,
    through the same fail-fast publisher as new events. Should that fail, the event is still
    pending in the database, and the sweeper enqueues it."""
    for event_id, outcome in outcomes.items():
        if outcome.retry_in is not None:
            publish_retry(event_id, outcome.retry_in)
    return {event_id: outcome.status for event_id, outcome in outcomes.items()}


@shared_task(name="django_kakiyo.requeue_stale_events", ignore_result=True)
def requeue_stale_events_task(older_than: float | None = None) -> int:
    """The sweeper (:func:`django_kakiyo.sweeper.sweep`), for Celery beat."""
    return sweep(older_than).enqueued


@shared_task(name="django_kakiyo.prune_old_events", ignore_result=True)
def prune_old_events_task() -> int:
    """Retention, for a daily Celery beat entry: apply ``KAKIYO['RETENTION']`` (days)."""
    days = kakiyo_settings.RETENTION
    if days is None:
        return 0
    result = prune(float(days))
    return result.events + result.rejected_requests
