"""Take an authentic delivery to a stored event: envelope, team binding, one row per delivery.

:func:`ingest` is the one way in, for the webhook view and for the spool import alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, IntegrityError
from django.db.models import F
from django.utils import timezone

from .conf import kakiyo_settings
from .database import bounded_transaction, is_outage
from .dispatch import enqueue_on_commit
from .envelope import ReadEvent, read_event
from .exceptions import DatabaseUnavailable, WebhookRefused
from .models import RejectedRequest, WebhookEvent
from .signing import NOT_PARSED
from .storable import storable_json

logger = logging.getLogger(__name__)

#: ``invalid_reason`` of an authentic delivery whose parsed form the database refused: only
#: its raw body is kept (never expected, since every value is made storable first).
UNSTORABLE = "unstorable"


@dataclass(frozen=True)
class IngestResult:
    event: WebhookEvent
    duplicate: bool


def dedup_key(signed_bytes: bytes) -> str:
    """The identity of a delivery: SHA-256 of exactly the bytes its signature covered.

    For a body verified on its raw bytes that is the body; for one a proxy re-formatted, it
    is the canonical re-serialisation, so the re-formatted copy and the original collide.
    """
    return hashlib.sha256(signed_bytes).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """What arrived: the facts about one authentic request, before anything is stored.

    ``headers`` are already made storable (credentials redacted, bounded), so a spooled
    delivery never writes a credential to disk. ``team`` is the team the verifying secret is
    bound to (None: any team); ``endpoint_id`` the endpoint whose URL received it (None: the
    settings URL).
    """

    signed_bytes: bytes
    raw_body: bytes
    signature_method: str
    headers: dict[str, str]
    remote_addr: str | None
    received_at: dt.datetime
    team: str | None = None
    endpoint_id: int | None = None

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.signed_bytes)


def ingest(
    delivery: Delivery,
    parsed: Any = NOT_PARSED,
    *,
    publish_in_background: bool = False,
    database_down: bool = False,
) -> IngestResult:
    """Read the delivery's event, check its team binding, and store it once.

    ``parsed`` is the payload when verification already parsed it. Raises
    :class:`WebhookRefused` when a team-bound secret signed for another team (checked before
    the database is touched, so such a delivery is never spooled either), and
    :class:`DatabaseUnavailable` when the database cannot take it now, or at once after the
    checks when the caller already found it down in this request (``database_down``: the
    answer may not wait on the database twice within Kakiyo's 10 s).
    """
    event = read_event(
        delivery.signed_bytes,
        parsed,
        now=delivery.received_at,
        replay_window=kakiyo_settings.REPLAY_WINDOW,
    )
    check_team_binding(delivery.team, event)
    if database_down:
        raise DatabaseUnavailable("the database was found unavailable earlier in this request")
    return store_event(delivery, event, publish_in_background=publish_in_background)


def check_team_binding(team: str | None, event: ReadEvent) -> None:
    """A team secret speaks only for its team: every team field present must name it.

    A body with no usable envelope cannot show which team it is for, so a team secret cannot
    vouch for it either.
    """
    if team is None:
        return
    envelope = event.envelope
    if envelope is None:
        raise WebhookRefused(
            401,
            RejectedRequest.Reason.TEAM_MISMATCH,
            "A team's secret signed a body that is not a Kakiyo event of that team.",
        )
    if not envelope.team_ids or any(named != team for named in envelope.team_ids):
        raise WebhookRefused(
            401,
            RejectedRequest.Reason.TEAM_MISMATCH,
            "The signing secret belongs to another Kakiyo team.",
        )


def store_event(
    delivery: Delivery, event: ReadEvent, *, publish_in_background: bool = False
) -> IngestResult:
    """Insert the delivery, or count it as a re-delivery of the row already stored.

    The unique constraint on ``dedup_key`` decides, not a read before the write, so
    concurrent copies of one delivery still make exactly one row. The write is a
    :func:`~django_kakiyo.database.bounded_transaction`. A new, valid event is handed to
    dispatch once it is committed (``publish_in_background``: see
    :func:`~django_kakiyo.dispatch.enqueue_on_commit`).
    """
    row = _new_row(delivery)
    row.payload = storable_json(event.payload)
    row.headers = delivery.headers
    envelope = event.envelope
    if envelope is not None:
        row.event_type = envelope.event_type
        row.team_id = envelope.team_id
        row.agent_id = envelope.agent_id
        row.campaign_id = envelope.campaign_id
        row.chat_id = envelope.chat_id
        row.prospect_id = envelope.prospect_id
        row.occurred_at = envelope.occurred_at
    if event.invalid_reason:
        _make_invalid(row, event.invalid_reason)
    try:
        result = _insert_or_count(row)
    except DatabaseError as error:
        if is_outage(error):
            raise DatabaseUnavailable(str(error)) from error
        # Every value was made storable first; should the database still refuse one, keep
        # the delivery as its raw bytes rather than refuse an authentic delivery.
        logger.exception("Kakiyo delivery refused by the database; kept as its raw body")
        result = _store_raw_only(delivery)
    if not result.duplicate and result.event.status == WebhookEvent.Status.RECEIVED:
        enqueue_on_commit(result.event.pk, in_background=publish_in_background)
    return result


def _new_row(delivery: Delivery) -> WebhookEvent:
    now = delivery.received_at
    return WebhookEvent(
        dedup_key=delivery.dedup_key,
        raw_body=delivery.raw_body,
        remote_addr=delivery.remote_addr,
        signature_method=delivery.signature_method,
        endpoint_id=delivery.endpoint_id,
        received_at=now,
        last_received_at=now,
        status_changed_at=now,
        next_attempt_at=now,
    )


def _make_invalid(row: WebhookEvent, reason: str) -> None:
    row.status = WebhookEvent.Status.INVALID
    row.invalid_reason = reason
    row.next_attempt_at = None


def _insert_or_count(row: WebhookEvent) -> IngestResult:
    try:
        with bounded_transaction():
            row.save(force_insert=True)
    except IntegrityError:
        return IngestResult(event=_count_redelivery(row.dedup_key), duplicate=True)
    return IngestResult(event=row, duplicate=False)


def _store_raw_only(delivery: Delivery) -> IngestResult:
    row = _new_row(delivery)
    _make_invalid(row, UNSTORABLE)
    try:
        return _insert_or_count(row)
    except DatabaseError as error:
        # Nothing request-made is left in this row: the fault is the database's.
        raise DatabaseUnavailable(str(error)) from error


def _count_redelivery(key: str) -> WebhookEvent:
    with bounded_transaction():
        WebhookEvent.objects.filter(dedup_key=key).update(
            delivery_count=F("delivery_count") + 1, last_received_at=timezone.now()
        )
        return WebhookEvent.objects.only("pk", "status").get(dedup_key=key)
