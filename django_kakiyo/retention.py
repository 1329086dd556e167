"""Delete old events and refused requests in small batches, so ingestion never waits.

Only finished events (processed, ignored) and refused requests are deleted; pending, failed
and invalid events stay until an operator deals with them. Nothing younger than
``REPLAY_WINDOW`` is deleted: the stored row is what makes a replayed delivery a duplicate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import models, transaction
from django.db.models import Sum
from django.utils import timezone

from .conf import kakiyo_settings
from .models import FAILED_ATTEMPTS, SAW_A_FAILURE, ReceiverOutcome, RejectedRequest, WebhookEvent
from .tallies import Counts, write


@dataclass(frozen=True)
class PruneResult:
    events: int
    rejected_requests: int
    cutoff: dt.datetime


def prune_cutoff(days: float) -> dt.datetime:
    """The moment before which rows may go: ``days`` ago, never inside the replay window."""
    cutoff = timezone.now() - dt.timedelta(days=days)
    window = kakiyo_settings.REPLAY_WINDOW
    if window is not None:
        cutoff = min(cutoff, timezone.now() - dt.timedelta(seconds=float(window)))
    return cutoff


def prunable_events(cutoff: dt.datetime) -> models.QuerySet[WebhookEvent]:
    return WebhookEvent.objects.prunable(cutoff)


def prunable_rejected_requests(cutoff: dt.datetime) -> models.QuerySet[RejectedRequest]:
    return RejectedRequest.objects.filter(received_at__lt=cutoff)


def prune(
    days: float,
    *,
    batch_size: int = 1000,
    dry_run: bool = False,
    progress: Callable[[int], object] | None = None,
) -> PruneResult:
    """Delete finished events and refused requests older than ``days`` days.

    Each batch is its own short transaction deleting by primary key, so row locks are held
    for milliseconds and concurrent inserts never queue behind the prune. ``progress`` is
    called with the number of rows each batch deleted.
    """
    cutoff = prune_cutoff(days)
    if dry_run:
        return PruneResult(
            events=prunable_events(cutoff).count(),
            rejected_requests=prunable_rejected_requests(cutoff).count(),
            cutoff=cutoff,
        )
    events = _delete_in_batches(prunable_events(cutoff), batch_size, progress)
    rejected = _delete_in_batches(prunable_rejected_requests(cutoff), batch_size, progress)
    return PruneResult(events=events, rejected_requests=rejected, cutoff=cutoff)


def _delete_in_batches(
    queryset: models.QuerySet[WebhookEvent] | models.QuerySet[RejectedRequest],
    batch_size: int,
    progress: Callable[[int], object] | None,
) -> int:
    total = 0
    model = queryset.model
    last_pk = 0
    while True:
        with transaction.atomic():
            # Keyset pagination: each batch starts after the last one, so the scan never
            # walks back over the dead index entries the previous batches left behind.
            ids = list(
                queryset.filter(pk__gt=last_pk)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                return total
            if model is WebhookEvent:
                carry_receiver_failures(ids)
            # A normal delete, so the project's own relations (SET_NULL, CASCADE) are honoured.
            model._default_manager.filter(pk__in=ids).delete()
        last_pk = ids[-1]
        total += len(ids)
        if progress is not None:
            progress(len(ids))


def carry_receiver_failures(event_ids: list[int]) -> None:
    """Carry the failed receiver attempts of events whose outcome rows are about to go (pruned,
    or a full replay) into a tally, in the caller's transaction, so
    ``kakiyo_receiver_failures_total`` never goes down when they do."""
    counts = Counts()
    rows = (
        ReceiverOutcome.objects.filter(SAW_A_FAILURE, event_id__in=event_ids)
        .values_list("receiver")
        .order_by()
        .annotate(failed=Sum(FAILED_ATTEMPTS))
    )
    for receiver, failed in rows:
        if failed:
            counts.add("receiver_failures_pruned", failed, receiver=receiver)
    write(counts, in_transaction=True)
