"""Operator actions on stored events, replay and ignore, shared by the admin, the API and the
commands.

Each action is recorded in the event's ``history``, so the detail page tells who replayed or
ignored an event and when.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .dispatch import enqueue_many
from .models import ReceiverOutcome, WebhookEvent
from .ordering import next_in_line, ordering_on
from .status import IGNORABLE, REPLAYABLE, Status


@dataclass(frozen=True)
class ActionResult:
    done: list[int]
    skipped: list[int]


def replay_events(
    events: QuerySet[WebhookEvent] | Iterable[int], by: str, *, only_failed: bool = False
) -> ActionResult:
    """Queue events again through the normal processing path, attempts reset to zero.

    Replaying runs every receiver again, unless ``only_failed``: then the receivers that
    succeeded on an earlier attempt are skipped (their outcome records are kept). Receivers
    should be idempotent for full replays to be safe (the example CRM keys its timeline
    entries on the event).
    """
    action = "replay failed receivers" if only_failed else "replay"
    result = _apply(events, by, action, REPLAYABLE, _replay)
    if result.done and not only_failed:
        ReceiverOutcome.objects.filter(event_id__in=result.done).delete()
    if result.done:
        # After the commit (at once, unless the caller's transaction is still open), in batches.
        transaction.on_commit(partial(enqueue_many, result.done), robust=True)
    return result


def ignore_events(events: QuerySet[WebhookEvent] | Iterable[int], by: str) -> ActionResult:
    """Mark events ignored: pending ones will not be processed, failed ones stop counting.

    With per-prospect ordering, an ignored event no longer holds its prospect back: the next
    event of each such prospect is handed on.
    """
    result = _apply(events, by, "ignore", IGNORABLE, _ignore)
    if result.done and ordering_on():
        prospects = WebhookEvent.objects.filter(pk__in=result.done).values_list(
            "prospect_id", flat=True
        )
        handed_on = sorted(next_in_line(prospects).values())
        if handed_on:
            transaction.on_commit(partial(enqueue_many, handed_on), robust=True)
    return result


def _replay(event: WebhookEvent) -> None:
    event.status = Status.QUEUED
    event.attempts = 0
    event.next_attempt_at = timezone.now()
    event.processed_at = None


def _ignore(event: WebhookEvent) -> None:
    event.status = Status.IGNORED
    event.next_attempt_at = None


def _apply(
    events: QuerySet[WebhookEvent] | Iterable[int],
    by: str,
    action: str,
    allowed: tuple[str, ...],
    change: Callable[[WebhookEvent], None],
) -> ActionResult:
    ids = (
        list(events.values_list("pk", flat=True))
        if isinstance(events, QuerySet)
        else [int(pk) for pk in events]
    )
    done: list[int] = []
    skipped: list[int] = []
    with transaction.atomic():
        # Lock the rows so a worker cannot claim one between our check and our write.
        locked = WebhookEvent.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        for event in locked:
            if event.status not in allowed:
                skipped.append(event.pk)
                continue
            previous = event.status
            change(event)
            now = timezone.now()
            event.status_changed_at = now
            event.history = [
                *event.history,
                {"at": now.isoformat(), "action": action, "by": by, "from": previous},
            ]
            event.save(
                update_fields=[
                    "status",
                    "status_changed_at",
                    "attempts",
                    "next_attempt_at",
                    "processed_at",
                    "history",
                ]
            )
            done.append(event.pk)
    return ActionResult(done=done, skipped=skipped)
