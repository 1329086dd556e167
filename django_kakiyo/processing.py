"""Process one stored event: claim it, send its signals, record the outcome, decide retries.

The status machine lives here::

    received -> queued -> processing -> processed
                  ^            |
                  +-- retry ---+-----> failed       (and, set elsewhere: invalid, ignored)

A claim is one conditional UPDATE, so two workers can never process one event at the same
time; the claim's timestamp is its token, and an outcome is written only while the token
still holds. Receivers run in one transaction together with the change to ``processed``: if
any receiver raises, all their database writes roll back, so what they write commits once.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import traceback
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from .conf import kakiyo_settings
from .models import WebhookEvent
from .signals import data_class_for, processing_failed, signals_to_send

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status


@dataclass(frozen=True)
class Outcome:
    """What became of one processing attempt.

    ``retry_in`` is set when the caller should try again after that many seconds: the
    receivers failed with attempts left, or another worker holds a live claim, or the
    event is not due yet.
    """

    status: str
    retry_in: float | None = None
    claimed: bool = True


class _ReceiversFailed(Exception):
    """Raised inside the processing transaction only to roll it back."""


class _ClaimLost(Exception):
    """Our claim expired and another worker re-claimed the event: roll back, do nothing."""


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: exponential, half jitter."""
    base = float(kakiyo_settings.RETRY_BACKOFF)
    cap = float(kakiyo_settings.RETRY_BACKOFF_MAX)
    delay = min(cap, base * 2.0 ** max(0, attempts - 1))
    jitter = random.uniform(0, delay / 2)  # noqa: S311 - jitter, not crypto
    return delay / 2 + jitter


def claim(event_id: int, now: dt.datetime) -> bool:
    """Atomically take ``event_id`` for processing; False if it is not ours to take.

    Claimable: an event that is received or queued and due, or one whose previous claim is
    older than ``PROCESSING_TIMEOUT`` (its worker died without releasing it).
    """
    abandoned_before = now - dt.timedelta(seconds=kakiyo_settings.PROCESSING_TIMEOUT)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    claimable = (Q(status__in=WebhookEvent.PENDING_STATUSES) & due) | Q(
        status=Status.PROCESSING, status_changed_at__lt=abandoned_before
    )
    updated = WebhookEvent.objects.filter(claimable, pk=event_id).update(
        status=Status.PROCESSING, status_changed_at=now, attempts=F("attempts") + 1
    )
    return updated == 1


def process_event(event_id: int, *, can_retry: bool = True) -> Outcome:
    """Run the receivers for one event, once, and record what happened.

    Never raises because a receiver raised: errors are recorded on the event. ``can_retry``
    says whether the caller will act on ``Outcome.retry_in`` (the Celery task does); when it
    is False a failure with attempts left still leaves the event queued for the sweeper.
    """
    claimed_at = timezone.now()
    if not claim(event_id, claimed_at):
        return _not_claimed(event_id, claimed_at)
    event = WebhookEvent.objects.get(pk=event_id)
    errors: list[tuple[Any, BaseException]] = []
    try:
        with transaction.atomic():
            errors = _send_signals(event)
            if errors:
                raise _ReceiversFailed
            if not _finish(
                event, claimed_at, status=Status.PROCESSED, processed_at=timezone.now()
            ):
                raise _ClaimLost
    except _ReceiversFailed:
        return _record_failure(event, claimed_at, errors, can_retry=can_retry)
    except DatabaseError as error:
        # A receiver swallowed its own database error and left the transaction unusable.
        return _record_failure(event, claimed_at, [(None, error)], can_retry=can_retry)
    except _ClaimLost:
        logger.warning("Kakiyo event %s: claim lost to another worker; rolled back", event_id)
        return Outcome(status=Status.PROCESSING, claimed=False)
    return Outcome(status=Status.PROCESSED)


def _send_signals(event: WebhookEvent) -> list[tuple[Any, BaseException]]:
    payload = event.payload if isinstance(event.payload, dict) else {}
    raw_data = payload.get("data")
    data = data_class_for(event.event_type).from_data(
        raw_data if isinstance(raw_data, dict) else {}
    )
    errors: list[tuple[Any, BaseException]] = []
    for signal in signals_to_send(event.event_type):
        try:
            responses = signal.send_robust(
                sender=WebhookEvent, event=event, data=data, event_type=event.event_type
            )
        except Exception as error:
            # send_robust itself can fail, e.g. logging a receiver without __qualname__.
            errors.append((signal, error))
            continue
        errors += [(receiver, result) for receiver, result in responses if _is_error(result)]
    return errors


def _is_error(result: Any) -> bool:
    return isinstance(result, BaseException)


def _record_failure(
    event: WebhookEvent,
    claimed_at: dt.datetime,
    errors: list[tuple[Any, BaseException]],
    *,
    can_retry: bool,
) -> Outcome:
    last_error = "\n".join(f"{_name(receiver)}: {error!r}" for receiver, error in errors)
    tracebacks = "\n".join(
        f"--- {_name(receiver)}\n" + "".join(traceback.format_exception(error))
        for receiver, error in errors
    )
    if event.attempts < kakiyo_settings.MAX_ATTEMPTS:
        delay = retry_delay(event.attempts)
        _finish(
            event,
            claimed_at,
            status=Status.QUEUED,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
            last_error=last_error,
            last_traceback=tracebacks,
        )
        logger.warning(
            "Kakiyo event %s attempt %s failed; retrying in %.1fs: %s",
            event.pk,
            event.attempts,
            delay,
            last_error,
        )
        return Outcome(status=Status.QUEUED, retry_in=delay if can_retry else None)
    if _finish(
        event, claimed_at, status=Status.FAILED, last_error=last_error, last_traceback=tracebacks
    ):
        logger.error("Kakiyo event %s failed after %s attempts", event.pk, event.attempts)
        event.refresh_from_db()
        processing_failed.send_robust(sender=WebhookEvent, event=event, errors=errors)
    return Outcome(status=Status.FAILED)


def _finish(event: WebhookEvent, claimed_at: dt.datetime, *, status: str, **fields: Any) -> bool:
    """Write the outcome only while our claim holds; False when it no longer does."""
    now = timezone.now()
    if status == Status.PROCESSED:
        fields.update(last_error="", last_traceback="", next_attempt_at=None)
    updated = WebhookEvent.objects.filter(
        pk=event.pk, status=Status.PROCESSING, status_changed_at=claimed_at
    ).update(status=status, status_changed_at=now, **fields)
    return updated == 1


def _not_claimed(event_id: int, now: dt.datetime) -> Outcome:
    """Why ``event_id`` could not be claimed, and when trying again would make sense."""
    event = (
        WebhookEvent.objects.filter(pk=event_id)
        .only("status", "status_changed_at", "next_attempt_at")
        .first()
    )
    if event is None:
        return Outcome(status="missing", claimed=False)
    retry_in: float | None = None
    if event.status == Status.PROCESSING:
        # Another worker holds it; look again once its claim would count as abandoned.
        expires = event.status_changed_at + dt.timedelta(
            seconds=kakiyo_settings.PROCESSING_TIMEOUT
        )
        retry_in = max(1.0, (expires - now).total_seconds())
    elif event.status in WebhookEvent.PENDING_STATUSES and event.next_attempt_at is not None:
        retry_in = max(0.0, (event.next_attempt_at - now).total_seconds())
    return Outcome(status=event.status, retry_in=retry_in, claimed=False)


def _name(receiver: Any) -> str:
    if receiver is None:
        return "processing"
    module = getattr(receiver, "__module__", "")
    qualname = getattr(receiver, "__qualname__", repr(receiver))
    return f"{module}.{qualname}" if module else qualname
