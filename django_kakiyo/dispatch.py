"""Hand stored events to their receivers: a Celery worker, or this process without a broker.

Where (``KAKIYO['PROCESSING']``): ``"celery"``; ``"thread"``, a background thread of the web
process that runs receivers after the response (the default when no broker is configured);
``"inline"``, in the request right after the event is committed, before the answer (explicit
only: a slow receiver then delays Kakiyo's answer).

Also the sweeper: events that were stored but never reached a worker (the broker was down, a
message was lost, a worker died holding a claim) are found by age and enqueued again, so a
fault can delay an event but not lose it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone

from .background import IdThread
from .conf import AUTO, CELERY, INLINE, THREAD, kakiyo_settings
from .models import WebhookEvent
from .ordering import not_held_back, ordering_on
from .processing import process_event, process_events
from .publishing import background_publisher, batch_size, publish_in_batches

logger = logging.getLogger(__name__)

#: Ids waiting for the processing thread, at most; past it, events wait for the sweeper.
THREAD_MAX_PENDING = 10_000
#: Seconds between the processing thread's sweeps while it is idle.
THREAD_SWEEP_EVERY = 60.0
#: Seconds before the processing thread tries again a batch a database fault interrupted.
THREAD_RETRY_AFTER_FAULT = 5.0


def processing_mode() -> str:
    """``"celery"``, ``"thread"`` or ``"inline"``; ``"auto"`` is Celery when a broker is
    configured, the thread otherwise."""
    mode = kakiyo_settings.PROCESSING
    if mode == AUTO:
        return CELERY if _broker_configured() else THREAD
    return str(mode)


def _broker_configured() -> bool:
    if getattr(settings, "CELERY_BROKER_URL", None):
        return True
    return bool(current_app.conf.broker_url)


class ProcessingThread(IdThread):
    """Runs receivers in this process, after the response, when there is no broker.

    Retries wait on timers in this thread; ids past :data:`THREAD_MAX_PENDING` and what a
    process leaves behind when it exits wait for the sweeper, which this thread also runs
    every :data:`THREAD_SWEEP_EVERY` seconds while idle (``sweep``, set when the app loads),
    so a project with no broker, no beat and no cron still loses nothing.
    """

    name = "kakiyo-processing"
    idle_every = THREAD_SWEEP_EVERY
    sweep: Callable[[], object] | None = None

    def batch_size(self) -> int:
        return batch_size()

    def max_pending(self) -> int:
        return THREAD_MAX_PENDING

    def handle(self, batch: list[int]) -> None:
        close_old_connections()
        try:
            outcomes = process_events(batch)
        except DatabaseError:
            # The database went away: try the batch again shortly (what was claimed before
            # the fault waits for its claim to expire, like a Celery worker's would).
            logger.exception("Processing %s Kakiyo event(s) failed; retrying", len(batch))
            for event_id in batch:
                self.submit_later(event_id, THREAD_RETRY_AFTER_FAULT)
            return
        finally:
            close_old_connections()
        for event_id, outcome in outcomes.items():
            if outcome.retry_in is not None:
                self.submit_later(event_id, outcome.retry_in)
            for next_id in outcome.then:  # a prospect's next event, which waited for this one
                self.submit(next_id)

    def idle(self) -> None:
        if self.sweep is not None:
            close_old_connections()
            try:
                self.sweep()
            finally:
                close_old_connections()


#: This process's processing thread (used in ``"thread"`` mode).
processing_thread = ProcessingThread()


def enqueue_on_commit(event_id: int, *, in_background: bool = False) -> None:
    """Enqueue ``event_id`` once the transaction that stored it commits.

    ``in_background``: with Celery, hand the id to this process's background publisher
    instead of publishing before returning (the webhook view does, to answer at once). In
    ``"thread"`` mode the id always goes to the processing thread.
    """
    transaction.on_commit(partial(enqueue, event_id, in_background=in_background), robust=True)


def enqueue(event_id: int, *, in_background: bool = False) -> bool:
    """Start processing ``event_id``; False when that failed and the sweeper must retry.

    Never raises: the event is already stored, so a broker that is down or a failing
    receiver must not turn an acknowledged delivery into an error.
    """
    mode = processing_mode()
    if mode == THREAD:
        return processing_thread.submit(event_id)
    if mode == INLINE:
        return _process_here(event_id)
    if in_background:
        background_publisher.submit(event_id)
        return True
    return publish_in_batches([event_id]) == 1


def _process_here(event_id: int) -> bool:
    """Process ``event_id`` in this thread, then the events it hands on (ordering)."""
    waiting = [event_id]
    while waiting:
        current = waiting.pop(0)
        try:
            outcome = process_event(current, can_retry=False)
        except Exception:
            logger.exception("Processing Kakiyo event %s in-process failed", current)
            return False
        waiting += outcome.then
    return True


def enqueue_many(event_ids: Sequence[int]) -> int:
    """:func:`enqueue` for several events, published in batches; how many were enqueued."""
    if processing_mode() != CELERY:
        return sum(1 for event_id in event_ids if enqueue(event_id))
    return publish_in_batches(event_ids)


def stale_events(older_than: float | None = None) -> list[int]:
    """Ids of events that should be processing but are not, oldest first: pending events
    due more than ``older_than`` seconds ago (default ``REQUEUE_AFTER``), and claims older than
    ``PROCESSING_TIMEOUT``. With ordering, not the events held back behind an earlier one of
    their prospect: they cannot be claimed yet, and the event ahead (itself found here if it is
    stuck) hands them on; enqueuing them at every pass would only churn a backlog."""
    if older_than is None:
        older_than = float(kakiyo_settings.REQUEUE_AFTER)
    stale = WebhookEvent.objects.stale(
        timezone.now(), older_than, float(kakiyo_settings.PROCESSING_TIMEOUT)
    )
    if ordering_on():
        stale = not_held_back(stale)
    return list(stale.order_by("pk").values_list("pk", flat=True))


def requeue_stale_events(older_than: float | None = None) -> tuple[int, int]:
    """Enqueue every stale event again; returns ``(found, enqueued)``.

    The waiting ones are marked as just enqueued (``next_attempt_at``, which leaves them due),
    so the next sweeps leave them alone for ``REQUEUE_AFTER`` instead of publishing the same
    backlog again at every pass while the workers catch up.
    """
    ids = stale_events(older_than)
    if ids:
        WebhookEvent.objects.filter(pk__in=ids).pending().update(next_attempt_at=timezone.now())
    enqueued = enqueue_many(ids)
    if ids:
        logger.info("Requeued %s of %s stale Kakiyo events", enqueued, len(ids))
    return len(ids), enqueued
