"""Per-prospect order (``KAKIYO["ORDERING"] = "prospect"``): one event of a prospect at a time.

The rule lives in the claim: an event with a prospect id may be claimed only when no earlier
event of the same prospect (a lower id: ids follow the order events were stored) is still
unfinished (received, queued or processing). Nothing polls: an event held back by this rule is
handed on again when the event ahead of it ends processed, failed or ignored (the one ahead
names it in its outcome; see :func:`next_in_line`), and the sweeper finds any hand-on that was
lost. Events without a prospect id are not ordered. A claim abandoned by a dead worker holds
its prospect back until ``PROCESSING_TIMEOUT``, when the sweeper gives it to another worker.

The order is the order events were stored, so it is Kakiyo's order when each delivery of a
prospect is stored before the next is sent (Kakiyo sends a prospect's events one after the
other). Not covered: two deliveries of one prospect stored at once by different web processes
(their ids may differ from the order they were sent), and a delivery spooled during a database
outage, which gets its id when imported, after later deliveries of its prospect.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, Min, OuterRef, Q

from .conf import kakiyo_settings
from .models import WebhookEvent, WebhookEventQuerySet
from .status import UNFINISHED

#: The one ordering there is (``None``: no ordering).
PROSPECT = "prospect"


def ordering_on() -> bool:
    return bool(kakiyo_settings.ORDERING == PROSPECT)


def _earlier_unfinished() -> Exists:
    return Exists(
        WebhookEvent.objects.filter(
            prospect_id=OuterRef("prospect_id"), pk__lt=OuterRef("pk"), status__in=UNFINISHED
        )
    )


def not_held_back(events: WebhookEventQuerySet) -> WebhookEventQuerySet:
    """``events`` without those an earlier unfinished event of their prospect holds back."""
    return events.filter(Q(prospect_id="") | ~_earlier_unfinished())


def held_back(event_ids: Iterable[int]) -> set[int]:
    """Those of ``event_ids`` that wait behind an earlier unfinished event of their prospect."""
    return set(
        WebhookEvent.objects.filter(pk__in=list(event_ids))
        .exclude(prospect_id="")
        .filter(_earlier_unfinished())
        .values_list("pk", flat=True)
    )


def next_in_line(prospect_ids: Iterable[str]) -> dict[str, int]:
    """For each of these prospects that has one, its earliest pending event: the one to hand
    on once the event ahead of it has ended. One query for them all."""
    wanted = {prospect_id for prospect_id in prospect_ids if prospect_id}
    if not wanted:
        return {}
    firsts = (
        WebhookEvent.objects.pending()
        .filter(prospect_id__in=wanted)
        .values("prospect_id")
        .annotate(first=Min("pk"))
        .order_by()
    )
    return {row["prospect_id"]: row["first"] for row in firsts}
