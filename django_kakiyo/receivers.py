"""Run one event's receivers, each on its own, and keep what each of them did.

Each receiver runs in a savepoint of the processing transaction: one that raises has its
database writes rolled back, the others keep theirs, and each outcome is a
:class:`~django_kakiyo.models.ReceiverOutcome` row written in that same transaction, so a
``succeeded`` row commits exactly with what its receiver wrote. An automatic retry then runs
only the receivers without one (an operator's replay clears them, unless asked to replay only
what failed). Receivers are known by their dotted path, ``module.qualname``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from django.db import OperationalError, connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from .models import ReceiverOutcome, WebhookEvent
from .signals import data_class_for, signals_to_send

logger = logging.getLogger(__name__)

Failure = tuple[Any, BaseException]

#: Seconds to wait before running a receiver again after SQLite refused its write at once
#: (:func:`_sqlite_lock_lost`); after the last, the failure counts like any other.
LOCKED_RETRY_WAITS = (0.05, 0.2, 0.5)


def receiver_name(receiver: Any) -> str:
    """A receiver's dotted path, as its outcomes are recorded (``"processing"`` for none)."""
    if receiver is None:
        return "processing"
    module = getattr(receiver, "__module__", "")
    qualname = getattr(receiver, "__qualname__", None) or repr(receiver)
    return f"{module}.{qualname}" if module else qualname


def _live_receivers(signal: Signal) -> list[Callable[..., Any]]:
    """The receivers ``signal`` would call for our sender, synchronous ones first (as
    ``send_robust`` calls them); async ones are wrapped to run here."""
    sync_receivers, async_receivers = signal._live_receivers(WebhookEvent)
    return [*sync_receivers, *(async_to_sync(receiver) for receiver in async_receivers)]


def has_receivers(event_type: str) -> bool:
    return any(signal.has_listeners(WebhookEvent) for signal in signals_to_send(event_type))


def run_receivers(event: WebhookEvent) -> list[Failure]:
    """Run the receivers ``event`` still needs; the ``(receiver, error)`` of each that raised.

    Each receiver runs in a transaction (a savepoint when called inside one) that also writes
    its ``succeeded`` row, so the two commit together; a failure is recorded after its
    receiver's writes are rolled back.
    """
    if not has_receivers(event.event_type):
        return []  # nothing connected: nothing to run, nothing to record
    payload = event.payload if isinstance(event.payload, dict) else {}
    data = data_class_for(event.event_type).from_payload(payload)
    earlier = _earlier_outcomes(event)
    failures: list[Failure] = []
    failed_now: set[str] = set()  # receivers that share a dotted path are tracked as one
    for signal in signals_to_send(event.event_type):
        for receiver in _live_receivers(signal):
            name = receiver_name(receiver)[:255]
            previous = earlier.get(name)
            if previous is not None and previous.status == ReceiverOutcome.Status.SUCCEEDED:
                continue
            attempts = (previous.attempts if previous is not None else 0) + 1
            success_row = None if name in failed_now else (name, attempts)
            error = _run_one(receiver, signal, event, data, success_row)
            if error is not None:
                logger.error("Kakiyo receiver %s failed on event %s: %r", name, event.pk, error)
                _save(event, name, attempts, error=f"{error!r}")
                failed_now.add(name)
                failures.append((receiver, error))
    return failures


def _run_one(
    receiver: Callable[..., Any],
    signal: Signal,
    event: WebhookEvent,
    data: Any,
    success_row: tuple[str, int] | None,
) -> BaseException | None:
    """Run ``receiver`` in a transaction with its ``succeeded`` row (``success_row``: its
    name and attempt, None to write none); what it raised, or None. Run again after a short
    wait when SQLite refused its write at once (:func:`_sqlite_lock_lost`): the same attempt."""
    waits = iter(LOCKED_RETRY_WAITS)
    while True:
        try:
            with transaction.atomic():
                receiver(
                    signal=signal, sender=WebhookEvent, event=event, data=data,
                    event_type=event.event_type,
                )  # fmt: skip
                if success_row is not None:
                    _save(event, *success_row, error="")
            return None
        except Exception as error:
            wait = next(waits, None)
            if wait is None or not _sqlite_lock_lost(error):
                return error
            time.sleep(wait)  # rolled back whole: nothing of it is left


def _sqlite_lock_lost(error: BaseException) -> bool:
    """Whether ``error`` is SQLite refusing a write at once, which waiting cannot fix inside
    the transaction but running it again a moment later does: a transaction that read before
    it wrote while another connection wrote meanwhile ("database is locked", no busy wait),
    or the shared cache of an in-memory database ("database table is locked"). Only when the
    receiver's transaction is its own (not a savepoint of an outer one), so it was rolled
    back whole."""
    return (
        isinstance(error, OperationalError)
        and connection.vendor == "sqlite"
        and not connection.in_atomic_block
        and "is locked" in str(error)
    )


def _earlier_outcomes(event: WebhookEvent) -> dict[str, ReceiverOutcome]:
    """Outcomes of earlier attempts; a first attempt of a never-replayed event has none, so
    it costs no query."""
    if event.attempts <= 1 and not event.history:
        return {}
    return {outcome.receiver: outcome for outcome in event.receiver_outcomes.all()}


def _save(event: WebhookEvent, name: str, attempts: int, *, error: str) -> None:
    status = ReceiverOutcome.Status.FAILED if error else ReceiverOutcome.Status.SUCCEEDED
    ReceiverOutcome.objects.bulk_create(
        [
            ReceiverOutcome(
                event=event,
                receiver=name,
                status=status,
                attempts=attempts,
                last_error=error,
                updated_at=timezone.now(),
            )
        ],
        update_conflicts=True,
        unique_fields=["event", "receiver"],
        update_fields=["status", "attempts", "last_error", "updated_at"],
    )
