"""The sweeper: what keeps a fault from losing an event, in one place.

It imports this host's spool (deliveries kept on disk while the database was down), then
enqueues every event that was stored but never processed: due events still waiting after
``REQUEUE_AFTER`` (the broker was down or lost the message, a process died with the id in
memory), and claims older than ``PROCESSING_TIMEOUT`` (a worker died mid-receiver). Last, it
folds the tallies of closed hours (:func:`django_kakiyo.tallies.compact`). The Celery
beat task ``django_kakiyo.requeue_stale_events``, ``manage.py kakiyo_requeue`` and, without a
broker, each web process's processing thread all run this.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dispatch import requeue_stale_events
from .spool import import_spool
from .tallies import compact


@dataclass(frozen=True)
class SweepResult:
    imported: int
    found: int
    enqueued: int


def sweep(older_than: float | None = None) -> SweepResult:
    """Import the spool, then enqueue the stale events; ``older_than`` overrides
    ``REQUEUE_AFTER`` for waiting events."""
    imported = import_spool().imported
    found, enqueued = requeue_stale_events(older_than)
    compact()  # the tallies of closed hours: one row each, and none past the stats' periods
    return SweepResult(imported=imported, found=found, enqueued=enqueued)
