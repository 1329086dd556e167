"""Celery tasks: thin shells around processing, the sweeper and retention.

Their names are public (Celery routes and beat schedules name them). The web process sends
them by name (:mod:`django_kakiyo.publishing`), so nothing below imports this module.
"""

from __future__ import annotations

import contextlib
import logging
import time

from celery import shared_task
from django.db import DatabaseError, close_old_connections, connection

from .conf import kakiyo_settings
from .database import is_outage
from .processing import Outcome, process_events
from .publishing import (
    PROCESS_EVENT_TASK,
    PROCESS_EVENTS_TASK,
    publish_in_batches,
    publish_retry,
    send,
)
from .retention import prune
from .sweeper import sweep

logger = logging.getLogger(__name__)

#: Seconds before a batch the database could not take is sent again.
RETRY_AFTER_OUTAGE = 5
#: Seconds a task goes on processing the events its events hand on (with ordering, each
#: prospect's next event) before it publishes the rest for any worker to take.
HAND_ON_WITHIN = 2.0


@shared_task(
    name=PROCESS_EVENTS_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def process_events_task(event_ids: list[int]) -> dict[int, str]:
    """Process a batch of events, as published by the web process and the sweeper.

    ``acks_late`` and ``reject_on_worker_lost``: a worker killed mid-task leaves the message to
    be delivered again, and the claims in processing make that re-delivery harmless.
    """
    return _process_and_follow_up(event_ids)


@shared_task(
    name=PROCESS_EVENT_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def process_event_task(event_id: int) -> str:
    """Process one event: a retry, scheduled by one of these tasks with a countdown."""
    return _process_and_follow_up([event_id]).get(event_id, "unavailable")


def _process(event_ids: list[int]) -> dict[int, Outcome]:
    """:func:`~django_kakiyo.processing.process_events`, on a database connection that works,
    and sent again shortly when the database is unreachable right now."""
    if not connection.in_atomic_block:  # not inside a test's transaction
        close_old_connections()  # CONN_MAX_AGE, and connections that had errors
    try:
        try:
            return process_events(event_ids)
        except DatabaseError as error:
            if not (is_outage(error) and _dropped_dead_connection()):
                raise
            return process_events(event_ids)  # on a new connection
    except DatabaseError as error:
        if not is_outage(error):
            raise
        # Failing the message would leave the events to the sweeper (REQUEUE_AFTER): ask for
        # them again soon instead. A claim made before the fault waits for its timeout.
        logger.warning("Database unavailable (%s); Kakiyo events %s again in %ss", error,
                       event_ids, RETRY_AFTER_OUTAGE)  # fmt: skip
        with contextlib.suppress(Exception):  # the sweeper is the last resort
            send(PROCESS_EVENTS_TASK, (event_ids,), countdown=RETRY_AFTER_OUTAGE)
        return {}


def _dropped_dead_connection() -> bool:
    """After a failure: close this worker's connection if it is dead (a database restart),
    so the next query opens a new one; whether it was. Django checks connections only
    around HTTP requests, and Celery keeps them across tasks (``CELERY_DB_REUSE_MAX``), so a
    dead one would otherwise fail every task until it is replaced."""
    if connection.in_atomic_block or connection.connection is None or connection.is_usable():
        return False
    connection.close()
    return True


def _process_and_follow_up(event_ids: list[int]) -> dict[int, str]:
    """:func:`_process`, then what the outcomes ask for; the status of each of ``event_ids``.

    An event that should be tried again later (its receivers failed with attempts left,
    another worker holds it, it is not due yet) gets a retry message with that countdown,
    through the same fail-fast publisher as new events. The events handed on (with ordering,
    the next of each prospect) are processed here, for up to :data:`HAND_ON_WITHIN` seconds,
    rather than published one message each: a prospect's backlog then drains at the speed
    of its receivers, not of a broker round trip per event. What is left at the deadline is
    published. Should a publish fail, the event is still pending in the database, and the
    sweeper enqueues it.
    """
    deadline = time.monotonic() + HAND_ON_WITHIN
    outcomes = _process(event_ids)
    statuses = {event_id: outcome.status for event_id, outcome in outcomes.items()}
    while outcomes:
        handed_on: list[int] = []
        for event_id, outcome in outcomes.items():
            if outcome.retry_in is not None:
                publish_retry(event_id, outcome.retry_in)
            handed_on += outcome.then
        if not handed_on:
            break
        if time.monotonic() >= deadline:
            publish_in_batches(handed_on)
            break
        outcomes = _process(handed_on)
    return statuses


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
