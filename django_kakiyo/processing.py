"""Process stored events: claim them, send their signals, record outcomes, decide retries.

The transitions a worker makes in the status machine (:mod:`django_kakiyo.status`): received
or queued to processing (the claim), then processed, queued (a retry) or failed. A claim is
one conditional UPDATE, so two workers can never process one event at the same
time; the claim's timestamp is its token, and an outcome is written only while the token
still holds. The events of one message are claimed by one UPDATE. An event's receivers run
in one transaction together with its change to ``processed`` (a message's events share one
transaction, each in its own savepoint): if any receiver raises, all their database writes
for that event roll back, so what they write commits once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from .backoff import backoff_delay
from .conf import kakiyo_settings
from .database import is_outage
from .models import WebhookEvent, claim_expiry
from .signals import data_class_for, processing_failed, signals_to_send
from .status import PENDING, Status
from .tallies import LAG_BUCKETS, Counts, write

logger = logging.getLogger(__name__)


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
    """Raised inside an event's savepoint only to roll its receivers' writes back."""


class _ClaimLost(Exception):
    """Our claim expired and another worker re-claimed the event: roll back, do nothing."""


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (``RETRY_BACKOFF``,
    ``RETRY_BACKOFF_MAX``; see :func:`django_kakiyo.backoff.backoff_delay`)."""
    return backoff_delay(
        attempts, float(kakiyo_settings.RETRY_BACKOFF), float(kakiyo_settings.RETRY_BACKOFF_MAX)
    )


def claim(event_ids: Sequence[int], now: dt.datetime) -> list[WebhookEvent]:
    """Atomically take ``event_ids`` for processing; the events that are now ours.

    Claimable: an event that is received or queued and due, or one whose previous claim is
    older than ``PROCESSING_TIMEOUT`` (its worker died without releasing it). One UPDATE
    claims them all; the claimed rows are then read back by their claim token.
    """
    timeout = float(kakiyo_settings.PROCESSING_TIMEOUT)
    claimable = WebhookEvent.objects.filter(pk__in=event_ids).claimable(now, timeout)
    updated = claimable.update(
        status=Status.PROCESSING, status_changed_at=now, attempts=F("attempts") + 1
    )
    if not updated:
        return []
    claimed = WebhookEvent.objects.filter(pk__in=event_ids).claimed_at(now).order_by("pk")
    try:
        return list(claimed)
    except (DatabaseError, ValueError, OverflowError) as error:
        if isinstance(error, DatabaseError) and is_outage(error):
            raise
    # One of them cannot be read back (a value stored by an older release that the driver
    # refuses): read them one by one, so the others still run, and count the attempt of each
    # that cannot be read, so it ends failed after MAX_ATTEMPTS instead of being claimed
    # again for ever.
    events = []
    for event_id in claimed.values_list("pk", flat=True):
        try:
            events.append(claimed.get(pk=event_id))
        except (DatabaseError, ValueError, OverflowError) as error:
            if isinstance(error, DatabaseError) and is_outage(error):
                raise
            logger.error("Kakiyo event %s cannot be read back: %r", event_id, error)
            unreadable = WebhookEvent(
                pk=event_id,
                attempts=claimed.filter(pk=event_id).values_list("attempts", flat=True).get(),
            )
            _record_failure(unreadable, now, [(None, error)], can_retry=True)
    return events


def process_event(event_id: int, *, can_retry: bool = True) -> Outcome:
    """Run the receivers for one event, once, and record what happened.

    Never raises because a receiver raised: errors are recorded on the event. ``can_retry``
    says whether the caller will act on ``Outcome.retry_in`` (the Celery task does); when it
    is False a failure with attempts left still leaves the event queued for the sweeper.
    """
    return process_events([event_id], can_retry=can_retry)[event_id]


def process_events(event_ids: Sequence[int], *, can_retry: bool = True) -> dict[int, Outcome]:
    """:func:`process_event` for several events, claimed together; an outcome per id."""
    claimed_at = timezone.now()
    outcomes = _run(claim(event_ids, claimed_at), claimed_at, can_retry=can_retry)
    return {
        event_id: outcomes.get(event_id) or _not_claimed(event_id, claimed_at)
        for event_id in dict.fromkeys(event_ids)
    }


def _run(
    events: list[WebhookEvent], claimed_at: dt.datetime, *, can_retry: bool
) -> dict[int, Outcome]:
    """Run claimed events in one transaction, each event's receivers in a savepoint.

    The events whose receivers all succeed become ``processed`` in one UPDATE and one
    commit, together with their receivers' writes; an event whose receivers raise is rolled
    back to its savepoint and its failure recorded after the commit. Should the transaction
    itself fail (a receiver broke it, or a claim was lost), nothing of it is kept: several
    events are then run again one by one, and a single one gets that failure recorded.
    """
    if not events:
        return {}
    failures: dict[int, list[tuple[Any, BaseException]]] = {}
    try:
        with transaction.atomic():
            for event in events:
                errors = _send_signals_in_savepoint(event)
                if errors:
                    failures[event.pk] = errors
            succeeded = [event.pk for event in events if event.pk not in failures]
            if succeeded and _finish(succeeded, claimed_at) != len(succeeded):
                raise _ClaimLost
            _count([event for event in events if event.pk not in failures], Status.PROCESSED)
    except (DatabaseError, _ClaimLost) as error:
        if len(events) > 1:
            logger.warning(
                "Processing %s Kakiyo events together failed (%r); processing them one by one",
                len(events),
                error,
            )
            return {
                event.pk: _run([event], claimed_at, can_retry=can_retry)[event.pk]
                for event in events
            }
        (event,) = events
        if isinstance(error, _ClaimLost):
            logger.warning("Kakiyo event %s: claim lost to another worker; rolled back", event.pk)
            return {event.pk: Outcome(status=Status.PROCESSING, claimed=False)}
        # A receiver swallowed its own database error and left the transaction unusable.
        return {event.pk: _record_failure(event, claimed_at, [(None, error)], can_retry=can_retry)}
    outcomes = {event.pk: Outcome(status=Status.PROCESSED) for event in events}
    for event in events:
        if event.pk in failures:
            outcomes[event.pk] = _record_failure(
                event, claimed_at, failures[event.pk], can_retry=can_retry
            )
    return outcomes


def _send_signals_in_savepoint(event: WebhookEvent) -> list[tuple[Any, BaseException]]:
    """:func:`_send_signals`, with the receivers' writes rolled back if any of them raised."""
    if not any(signal.has_listeners(WebhookEvent) for signal in signals_to_send(event.event_type)):
        return []  # nothing connected: nothing to send, nothing to undo
    errors: list[tuple[Any, BaseException]] = []
    try:
        with transaction.atomic():
            errors = _send_signals(event)
            if errors:
                raise _ReceiversFailed
    except _ReceiversFailed:
        return errors
    return []


def _finish(event_ids: list[int], claimed_at: dt.datetime) -> int:
    """Mark the events processed while our claim holds; how many were."""
    now = timezone.now()
    return (
        WebhookEvent.objects.filter(pk__in=event_ids)
        .claimed_at(claimed_at)
        .update(
            status=Status.PROCESSED,
            status_changed_at=now,
            processed_at=now,
            last_error="",
            last_traceback="",
            next_attempt_at=None,
        )
    )


def _send_signals(event: WebhookEvent) -> list[tuple[Any, BaseException]]:
    payload = event.payload if isinstance(event.payload, dict) else {}
    data = data_class_for(event.event_type).from_payload(payload)
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
        _release(
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
    if _release(
        event, claimed_at, status=Status.FAILED, last_error=last_error, last_traceback=tracebacks
    ):
        logger.error("Kakiyo event %s failed after %s attempts", event.pk, event.attempts)
        # An unreadable row: receivers get what is known (pk, attempts, the error).
        with contextlib.suppress(DatabaseError, ValueError, OverflowError):
            event.refresh_from_db()
        processing_failed.send_robust(sender=WebhookEvent, event=event, errors=errors)
    return Outcome(status=Status.FAILED)


def _release(event: WebhookEvent, claimed_at: dt.datetime, *, status: str, **fields: Any) -> bool:
    """Write a failed attempt's outcome only while our claim holds; False when it no longer
    does."""
    now = timezone.now()
    with transaction.atomic():
        updated = (
            WebhookEvent.objects.filter(pk=event.pk)
            .claimed_at(claimed_at)
            .update(status=status, status_changed_at=now, **fields)
        )
        if updated == 1:
            _count([event], status)
    return updated == 1


#: How each outcome is counted in the ``processed`` tally (metrics and the stats page).
_COUNTED_AS: dict[str, str] = {
    Status.PROCESSED: "processed",
    Status.QUEUED: "retried",
    Status.FAILED: "failed",
}


def _count(events: list[WebhookEvent], status: str) -> None:
    """Count the outcome of ``events`` in the caller's transaction (it commits with them),
    with the processing lag of those processed."""
    if not events:
        return
    now = timezone.now()
    counts = Counts()
    for event in events:
        counts.add("processed", at=now, event_type=event.event_type, status=_COUNTED_AS[status])
        if status == Status.PROCESSED and event.received_at is not None:
            lag = (now - event.received_at).total_seconds()
            counts.observe("lag_seconds", lag, LAG_BUCKETS)
    write(counts, in_transaction=True)


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
        expires = claim_expiry(event.status_changed_at, kakiyo_settings.PROCESSING_TIMEOUT)
        retry_in = max(1.0, (expires - now).total_seconds())
    elif event.status in PENDING and event.next_attempt_at is not None:
        retry_in = max(0.0, (event.next_attempt_at - now).total_seconds())
    return Outcome(status=event.status, retry_in=retry_in, claimed=False)


def _name(receiver: Any) -> str:
    if receiver is None:
        return "processing"
    module = getattr(receiver, "__module__", "")
    qualname = getattr(receiver, "__qualname__", repr(receiver))
    return f"{module}.{qualname}" if module else qualname
