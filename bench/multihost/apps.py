"""The run's receivers: every processing of every event adds a row to :class:`Processing`.

Connected to ``event_received``, which the app sends once per processing of every event; the
row is written in the app's transaction (see ``models.py``). ``MH_HOST`` names the host. Like
a real receiver it takes some time (``MH_RECEIVER_WORK`` seconds, slept after the row is
written), so a fault can catch a worker inside the transaction (``inflight.py``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.apps import AppConfig
from django.utils import timezone

WORK = float(os.environ.get("MH_RECEIVER_WORK", "0"))


def record_processing(sender: Any, event: Any, data: Any, **kwargs: Any) -> None:
    from .models import Processing

    seq = data.get("seq")
    Processing.objects.create(
        event_id=event.pk,
        dedup_key=event.dedup_key,
        prospect=event.prospect_id,
        seq=seq if isinstance(seq, int) else None,
        host=os.environ.get("MH_HOST", "?"),
        pid=os.getpid(),
        recorded_at=timezone.now(),
    )
    time.sleep(WORK)


class MultihostConfig(AppConfig):
    name = "bench.multihost"
    label = "multihost"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_kakiyo import signals

        signals.event_received.connect(
            record_processing, weak=False, dispatch_uid="multihost-record"
        )
