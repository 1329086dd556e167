"""Process stored events: claim them, run their receivers, record outcomes, decide retries.

The transitions a worker makes in the status machine (:mod:`django_kakiyo.status`): received
or queued to processing (the claim), then processed, queued (a retry) or failed. A claim is
one conditional UPDATE, so two workers can never process one event at the same time; the
claim's timestamp is its token, and an outcome is written only while the token still holds.
The events of one message are claimed by one UPDATE and run in one transaction; each
receiver runs in its own savepoint with its outcome (:mod:`django_kakiyo.receivers`), so what
a receiver writes commits once, together with its ``succeeded`` record, and a retry runs only
the receivers that failed. With ``ORDERING = "prospect"`` the claim also holds back an event
whose prospect has an earlier event unfinished (:mod:`django_kakiyo.ordering`), and an event
that ends processed or failed names the next one of its prospect to hand on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from .backoff import backoff_delay
from .conf import kakiyo_settings
from .database import is_outage
from .models import WebhookEvent, claim_expiry
from .ordering import held_back, next_in_line, not_held_back, ordering_on
from .receivers import Failure, receiver_name, run_receivers
from .signals import processing_failed
from .status import PENDING, Status

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of one processing attempt.

    ``retry_in`` is set when the caller should try again after that many seconds: the
    receivers failed with attempts left, or another worker holds a live claim, or the event is
    not due yet. ``then`` names events to hand on now: with per-prospect ordering, the next
    event of this one's prospect, which waited for this one to end.
    """

    status: str
    retry_in: float | None = None
    claimed: bool = True
    then: tuple[int, ...] = ()


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
    older than ``PROCESSING_TIMEOUT`` (its worker died without releasing it); with ordering,
    and not held back by an earlier unfinished event of its prospect. One UPDATE claims them
    all; the claimed rows are then read back by their claim token.
    """
    timeout = float(kakiyo_settings.PROCESSING_TIMEOUT)
    claimable = WebhookEvent.objects.filter(pk__in=event_ids).claimable(now, timeout)
    if ordering_on():
        claimable = not_held_back(claimable)
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
    events = claim(event_ids, claimed_at)
    outcomes = _run(events, claimed_at, can_retry=can_retry)
    if ordering_on():
        outcomes = _hand_on(events, outcomes)
    unclaimed = [event_id for event_id in dict.fromkeys(event_ids) if event_id not in outcomes]
    if unclaimed:
        outcomes.update(_not_claimed(unclaimed, claimed_at))
    return {event_id: outcomes[event_id] for event_id in dict.fromkeys(event_ids)}


def _run(
    events: list[WebhookEvent], claimed_at: dt.datetime, *, can_retry: bool
) -> dict[int, Outcome]:
    """Run claimed events in one transaction, each receiver in a savepoint.

    The events whose receivers all succeed become ``processed`` in one UPDATE and one commit,
    together with their receivers' writes and outcome records; an event with a failed
    receiver keeps what its other receivers did, and its failure is recorded after the commit.
    Should the transaction itself fail (a receiver broke it, or a claim was lost), nothing of
    it is kept: several events are then run again one by one, and a single one gets that
    failure recorded.
    """
    if not events:
        return {}
    failures: dict[int, list[Failure]] = {}
    shared = _shares_a_transaction()
    try:
        with transaction.atomic() if shared else contextlib.nullcontext():
            for event in events:
                if errors := run_receivers(event):
                    failures[event.pk] = errors
            lost = _finish([event.pk for event in events if event.pk not in failures], claimed_at)
            if lost and shared:
                raise _ClaimLost
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
            lost = {event.pk}
        else:
            # A receiver swallowed its own database error and left the transaction unusable.
            failure = _record_failure(event, claimed_at, [(None, error)], can_retry=can_retry)
            return {event.pk: failure}
    outcomes = {}
    for event in events:
        if event.pk in lost:
            logger.warning("Kakiyo event %s: claim lost to another worker", event.pk)
            outcomes[event.pk] = Outcome(status=Status.PROCESSING, claimed=False)
        elif event.pk in failures:
            outcomes[event.pk] = _record_failure(
                event, claimed_at, failures[event.pk], can_retry=can_retry
            )
        else:
            outcomes[event.pk] = Outcome(status=Status.PROCESSED)
    return outcomes


def _shares_a_transaction() -> bool:
    """Whether a message's events share one transaction, each receiver in a savepoint: one
    commit for the lot, and a lost claim rolls them all back. Not on SQLite, which has one
    writer at a time: a transaction held open through every receiver would keep each
    delivery's insert waiting for them, so there each receiver commits on its own (with its
    success record, as always), and a lost claim keeps what was done before it was lost."""
    return connection.vendor != "sqlite"


def _finish(event_ids: list[int], claimed_at: dt.datetime) -> set[int]:
    """Mark the events processed while our claim holds; the ids whose claim was lost.

    One UPDATE; only when it changed fewer rows than asked is there a second query, to name
    the events it left alone."""
    if not event_ids:
        return set()
    now = timezone.now()
    updated = (
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
    if updated == len(event_ids):
        return set()
    ours = WebhookEvent.objects.filter(
        pk__in=event_ids, status=Status.PROCESSED, processed_at=now, status_changed_at=now
    )
    return set(event_ids) - set(ours.values_list("pk", flat=True))


def _hand_on(events: list[WebhookEvent], outcomes: dict[int, Outcome]) -> dict[int, Outcome]:
    """With ordering: in the outcome of each event that ended (processed or failed), the next
    event of its prospect, which can run now; one query for the batch."""
    ended = {
        event.pk: event.prospect_id
        for event in events
        if event.prospect_id and outcomes[event.pk].status in (Status.PROCESSED, Status.FAILED)
    }
    following = next_in_line(ended.values())
    for event_id, prospect_id in ended.items():
        if prospect_id in following:
            outcomes[event_id] = replace(outcomes[event_id], then=(following[prospect_id],))
    return outcomes


def _record_failure(
    event: WebhookEvent, claimed_at: dt.datetime, errors: list[Failure], *, can_retry: bool
) -> Outcome:
    last_error = "\n".join(f"{receiver_name(receiver)}: {error!r}" for receiver, error in errors)
    tracebacks = "\n".join(
        f"--- {receiver_name(receiver)}\n" + "".join(traceback.format_exception(error))
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
        processing_failed.send_robust(
            sender=WebhookEvent,
            event=event,
            errors=errors,
            failed_receivers=[receiver_name(receiver) for receiver, _ in errors],
        )
    return Outcome(status=Status.FAILED)


def _release(
    event: WebhookEvent, claimed_at: dt.datetime, *, status: str, **fields: object
) -> bool:
    """Write a failed attempt's outcome only while our claim holds; False when it no longer
    does."""
    now = timezone.now()
    updated = (
        WebhookEvent.objects.filter(pk=event.pk)
        .claimed_at(claimed_at)
        .update(status=status, status_changed_at=now, **fields)
    )
    return updated == 1


def _not_claimed(event_ids: list[int], now: dt.datetime) -> dict[int, Outcome]:
    """Why each of ``event_ids`` could not be claimed, and when trying again would make
    sense; one query for them all (and one more with ordering)."""
    events = {
        event.pk: event
        for event in WebhookEvent.objects.filter(pk__in=event_ids).only(
            "status", "status_changed_at", "next_attempt_at"
        )
    }
    due = [
        event.pk
        for event in events.values()
        if event.status in PENDING
        and event.next_attempt_at is not None
        and event.next_attempt_at <= now
    ]
    # Held back behind its prospect's earlier event: that one hands it on when it ends.
    waiting = held_back(due) if ordering_on() and due else set()
    outcomes = {}
    for event_id in event_ids:
        event = events.get(event_id)
        if event is None:
            outcomes[event_id] = Outcome(status="missing", claimed=False)
            continue
        retry_in: float | None = None
        if event.status == Status.PROCESSING:
            # Another worker holds it; look again once its claim would count as abandoned.
            expires = claim_expiry(event.status_changed_at, kakiyo_settings.PROCESSING_TIMEOUT)
            retry_in = max(1.0, (expires - now).total_seconds())
        elif event.status in PENDING and event.next_attempt_at is not None:
            due_in = max(0.0, (event.next_attempt_at - now).total_seconds())
            retry_in = None if event_id in waiting else due_in
        outcomes[event_id] = Outcome(status=event.status, retry_in=retry_in, claimed=False)
    return outcomes
