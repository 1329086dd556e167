"""Store each authentic delivery exactly once, and keep a bounded record of refused ones."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .conf import kakiyo_settings
from .dispatch import enqueue_on_commit
from .envelope import ReadEvent
from .models import RejectedRequest, WebhookEvent

#: Headers whose values are credentials; stored as this marker instead.
REDACTED = "[redacted]"
SENSITIVE_HEADERS = frozenset(
    {
        "x-kakiyo-signature",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-csrftoken",
    }
)

# Characters PostgreSQL's jsonb refuses (NUL, and surrogates, which in a Python str are
# always unpaired after json.loads). Replaced so the same payload stores on every backend.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


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

    ``headers`` are already redacted, so a spooled delivery never writes a credential to disk.
    """

    signed_bytes: bytes
    raw_body: bytes
    signature_method: str
    headers: dict[str, str]
    remote_addr: str | None
    received_at: dt.datetime

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.signed_bytes)


def store_event(
    delivery: Delivery, event: ReadEvent, *, publish_in_background: bool = False
) -> IngestResult:
    """Insert the delivery, or count it as a re-delivery of the row already stored.

    The unique constraint on ``dedup_key`` decides, not a read before the write, so
    concurrent copies of one delivery still make exactly one row. Outside a transaction the
    INSERT is its own (one round trip, one commit); inside one it gets a savepoint, so a
    duplicate does not break the caller's transaction. A new, valid event is handed to
    dispatch once it is committed (``publish_in_background``: see :func:`enqueue_on_commit`).
    """
    now = delivery.received_at
    key = delivery.dedup_key
    row = WebhookEvent(
        dedup_key=key,
        raw_body=delivery.raw_body,
        payload=storable_json(event.payload),
        headers=delivery.headers,
        remote_addr=delivery.remote_addr,
        signature_method=delivery.signature_method,
        received_at=now,
        last_received_at=now,
        status_changed_at=now,
        next_attempt_at=now,
    )
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
        row.status = WebhookEvent.Status.INVALID
        row.invalid_reason = event.invalid_reason
        row.next_attempt_at = None
    try:
        if transaction.get_autocommit():
            row.save(force_insert=True)
        else:
            with transaction.atomic():
                row.save(force_insert=True)
    except IntegrityError:
        return IngestResult(event=_count_redelivery(key, timezone.now()), duplicate=True)
    if row.status == WebhookEvent.Status.RECEIVED:
        enqueue_on_commit(row.pk, in_background=publish_in_background)
    return IngestResult(event=row, duplicate=False)


def _count_redelivery(key: str, now: dt.datetime) -> WebhookEvent:
    with transaction.atomic():
        WebhookEvent.objects.filter(dedup_key=key).update(
            delivery_count=F("delivery_count") + 1, last_received_at=now
        )
        return WebhookEvent.objects.only("pk", "status").get(dedup_key=key)


def record_rejection(
    *,
    reason: str,
    detail: str = "",
    method: str,
    path: str,
    headers: Mapping[str, str],
    remote_addr: str | None,
    body_prefix: bytes = b"",
    content_length: int | None = None,
) -> RejectedRequest:
    """Keep a refused request for operators, then trim the table to its cap.

    Trimming by primary key is one index range delete per insert, so the table stays
    bounded without ever counting it.
    """
    prefix_limit = kakiyo_settings.REJECTED_BODY_PREFIX_BYTES
    rejected = RejectedRequest.objects.create(
        reason=reason,
        detail=detail[:255],
        method=method[:16],
        path=path[:255],
        content_type=headers.get("Content-Type", "")[:255],
        content_length=content_length,
        body_prefix=body_prefix[:prefix_limit],
        headers=redact_headers(headers),
        remote_addr=remote_addr,
    )
    max_rows = kakiyo_settings.REJECTED_REQUESTS_MAX_ROWS
    if max_rows is not None:
        RejectedRequest.objects.filter(pk__lte=rejected.pk - max_rows).delete()
    return rejected


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credentials replaced by :data:`REDACTED`."""
    return {
        name: REDACTED if name.lower() in SENSITIVE_HEADERS else _storable_str(value)
        for name, value in headers.items()
    }


def storable_json(value: Any) -> Any:
    """``value`` with NUL and unpaired surrogates replaced by U+FFFD in every string."""
    if isinstance(value, str):
        return _storable_str(value)
    if isinstance(value, dict):
        return {_storable_str(k): storable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    return value


def _storable_str(value: str) -> str:
    return _UNSTORABLE.sub("\ufffd", value) if _UNSTORABLE.search(value) else value
