"""Hand stored events to their receivers: a Celery worker, or this process without a broker.

Also the sweeper: events that were stored but never reached a worker (the broker was down, a
message was lost, a worker died holding a claim) are found by age and enqueued again, so a
fault can delay an event but not lose it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .conf import kakiyo_settings
from .exceptions import KakiyoConfigurationError
from .models import WebhookEvent
from .processing import process_event
from .publishing import background_publisher, publish_in_batches

logger = logging.getLogger(__name__)

CELERY = "celery"
INLINE = "inline"
AUTO = "auto"
PROCESSING_MODES = (AUTO, CELERY, INLINE)


def processing_mode() -> str:
    """``"celery"`` or ``"inline"``, resolving ``PROCESSING = "auto"`` by the broker setting."""
    mode = kakiyo_settings.PROCESSING
    if mode not in PROCESSING_MODES:
        raise KakiyoConfigurationError(
            "KAKIYO['PROCESSING']", f"must be one of {', '.join(PROCESSING_MODES)}"
        )
    if mode == AUTO:
        return CELERY if _broker_configured() else INLINE
    return str(mode)


def _broker_configured() -> bool:
    if getattr(settings, "CELERY_BROKER_URL", None):
        return True
    from celery import current_app

    return bool(current_app.conf.broker_url)


def enqueue_on_commit(event_id: int, *, in_background: bool = False) -> None:
    """Enqueue ``event_id`` once the transaction that stored it commits.

    ``in_background``: with Celery, hand the id to this process's background publisher
    instead of publishing before returning (the webhook view does, to answer at once).
    """
    transaction.on_commit(partial(enqueue, event_id, in_background=in_background), robust=True)


def enqueue(event_id: int, *, in_background: bool = False) -> bool:
    """Start processing ``event_id``; False when that failed and the sweeper must retry.

    Never raises: the event is already stored, so a broker that is down or a failing
    receiver must not turn an acknowledged delivery into an error.
    """
    if processing_mode() == INLINE:
        try:
            process_event(event_id, can_retry=False)
        except Exception:
            logger.exception("Processing Kakiyo event %s in-process failed", event_id)
            return False
        return True
    if in_background:
        background_publisher.submit(event_id)
        return True
    return publish_in_batches([event_id]) == 1


def enqueue_many(event_ids: Sequence[int]) -> int:
    """:func:`enqueue` for several events, published in batches; how many were enqueued."""
    if processing_mode() == INLINE:
        return sum(1 for event_id in event_ids if enqueue(event_id))
    return publish_in_batches(event_ids)


def stale_events(older_than: float | None = None) -> list[int]:
    """Ids of events that should be processing but are not, oldest first.

    Pending events (received or queued) that were due more than ``older_than`` seconds ago
    (default ``REQUEUE_AFTER``), and claims older than ``PROCESSING_TIMEOUT``.
    """
    now = timezone.now()
    if older_than is None:
        older_than = float(kakiyo_settings.REQUEUE_AFTER)
    cutoff = now - dt.timedelta(seconds=older_than)
    abandoned = now - dt.timedelta(seconds=float(kakiyo_settings.PROCESSING_TIMEOUT))
    pending = WebhookEvent.PENDING_STATUSES
    query = (
        Q(status__in=pending, next_attempt_at__lt=cutoff)
        | Q(status__in=pending, next_attempt_at__isnull=True, status_changed_at__lt=cutoff)
        | Q(status=WebhookEvent.Status.PROCESSING, status_changed_at__lt=abandoned)
    )
    return list(WebhookEvent.objects.filter(query).order_by("pk").values_list("pk", flat=True))


def requeue_stale_events(older_than: float | None = None) -> tuple[int, int]:
    """Enqueue every stale event again; returns ``(found, enqueued)``."""
    ids = stale_events(older_than)
    enqueued = enqueue_many(ids)
    if ids:
        logger.info("Requeued %s of %s stale Kakiyo events", enqueued, len(ids))
    return len(ids), enqueued
