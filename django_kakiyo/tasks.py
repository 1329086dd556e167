"""Celery tasks: thin shells around processing and the sweeper."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from .conf import kakiyo_settings
from .processing import process_event, process_events
from .retention import prune
from .sweeper import sweep

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="django_kakiyo.process_event",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    ignore_result=True,
)
def process_event_task(self: Any, event_id: int) -> str:
    """Process one event; retried (a new message) while processing says so.

    Used for retries; new events arrive in batches (:func:`process_events_task`).
    ``acks_late`` and ``reject_on_worker_lost``: a worker killed mid-task leaves the message
    to be delivered again, and the claim in processing makes that re-delivery harmless.
    """
    outcome = process_event(event_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(
    name="django_kakiyo.process_events",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def process_events_task(event_ids: list[int]) -> dict[int, str]:
    """Process a batch of events, as published by the web process and the sweeper.

    An event that should be tried again later (its receivers failed with attempts left,
    another worker holds it, it is not due yet) gets its own :func:`process_event_task`
    with that countdown. Should that publish fail, the event is still pending in the
    database and the sweeper enqueues it.
    """
    outcomes = process_events(event_ids)
    routing = {"queue": kakiyo_settings.CELERY_QUEUE} if kakiyo_settings.CELERY_QUEUE else {}
    for event_id, outcome in outcomes.items():
        if outcome.retry_in is not None:
            try:
                process_event_task.apply_async((event_id,), countdown=outcome.retry_in, **routing)
            except Exception as error:
                # Still pending in the database: the sweeper will enqueue it.
                logger.warning("Could not schedule Kakiyo event %s again: %s", event_id, error)
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
