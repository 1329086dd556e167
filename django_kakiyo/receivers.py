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
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from .models import ReceiverOutcome, WebhookEvent
from .signals import data_class_for, signals_to_send

logger = logging.getLogger(__name__)

Failure = tuple[Any, BaseException]


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
            try:
                with transaction.atomic():
                    receiver(
                        signal=signal, sender=WebhookEvent, event=event, data=data,
                        event_type=event.event_type,
                    )  # fmt: skip
                    if name not in failed_now:
                        _save(event, name, attempts, error="")
            except Exception as error:
                logger.error("Kakiyo receiver %s failed on event %s: %r", name, event.pk, error)
                _save(event, name, attempts, error=f"{error!r}")
                failed_now.add(name)
                failures.append((receiver, error))
    return failures


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
