"""Verify refused requests again, after a botched secret rotation, and store those that pass.

While the secret in ``WEBHOOK_SECRETS`` and Kakiyo's disagree, every delivery is refused 401.
A refused request that carried a well-formed signature keeps it, and its whole body while
``REJECTED_SIGNED_BODIES_BYTES`` allows (:mod:`django_kakiyo.rejections`); once the secrets
are fixed, those requests are checked against the current secrets and each that now verifies
becomes an event through :func:`~django_kakiyo.ingest.ingest`, as if it had just arrived
(with its original arrival time, so ``REPLAY_WINDOW`` judges it as then): deduplicated, and
recorded in the event's history with who did it. Its rejected-request row is then deleted.
A request refused at an endpoint's URL is checked against that endpoint's secrets only, as
the URL itself would (never the settings'), and only while the endpoint is enabled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .conf import kakiyo_settings
from .exceptions import WebhookRefused
from .ingest import Delivery, ingest
from .models import RejectedRequest, WebhookEndpoint, WebhookEvent
from .signing import VerifiedBody, verify_canonical, verify_raw

#: An endpoint's URL ends with its UUID (``webhook/<uuid>/``); the settings URL never does.
_ENDPOINT_PATH = re.compile(r"/([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})/?$")


@dataclass
class ReverifyResult:
    #: Events made from requests that now verify, and events they turned out to duplicate.
    stored: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    #: Requests that still do not verify (or whose secret is another team's).
    unverified: list[int] = field(default_factory=list)
    #: Requests that cannot be checked: no well-formed signature, or only a body prefix.
    unverifiable: list[int] = field(default_factory=list)


def reverifiable() -> QuerySet[RejectedRequest]:
    """Refused requests that can be verified again: a signature and the whole body."""
    return RejectedRequest.objects.filter(body_complete=True).exclude(signature="")


def endpoint_of(row: RejectedRequest) -> tuple[bool, WebhookEndpoint | None]:
    """Whether ``row`` was refused at an endpoint's URL, and that endpoint if it is enabled."""
    match = _ENDPOINT_PATH.search(row.path)
    if match is None:
        return False, None
    return True, WebhookEndpoint.objects.filter(uuid=match[1], enabled=True).first()


def verify_again(row: RejectedRequest) -> VerifiedBody | None:
    """``row`` checked against the current secrets of the URL that refused it (an enabled
    endpoint's, or the settings'): the raw body, then (a proxy may have re-formatted it) its
    ``JSON.stringify`` form when it is small enough."""
    at_endpoint, endpoint = endpoint_of(row)
    if at_endpoint and endpoint is None:
        return None  # gone or disabled: nothing may verify for its URL
    if endpoint is None:
        secrets = kakiyo_settings.signing_secrets()
    else:
        secrets = endpoint.signing_secrets(timezone.now())
    body = bytes(row.body_prefix)
    verified = verify_raw(body, row.signature, secrets)
    if verified is None and len(body) <= kakiyo_settings.CANONICAL_MAX_BYTES:
        verified = verify_canonical(body, row.signature, secrets)
    return verified


def reverify(rejected: QuerySet[RejectedRequest] | Iterable[int], by: str) -> ReverifyResult:
    """Verify ``rejected`` again; store each that verifies, recorded as done ``by``."""
    ids = (
        list(rejected.values_list("pk", flat=True))
        if isinstance(rejected, QuerySet)
        else [int(pk) for pk in rejected]
    )
    result = ReverifyResult()
    for row in RejectedRequest.objects.filter(pk__in=ids).order_by("pk"):
        if not (row.signature and row.body_complete):
            result.unverifiable.append(row.pk)
            continue
        verified = verify_again(row)
        if verified is None:
            result.unverified.append(row.pk)
            continue
        _, endpoint = endpoint_of(row)
        delivery = Delivery(
            signed_bytes=verified.signed_bytes,
            raw_body=bytes(row.body_prefix),
            signature_method=verified.method,
            headers=dict(row.headers or {}),
            remote_addr=row.remote_addr,
            received_at=row.received_at,
            team=verified.team,
            endpoint_id=None if endpoint is None else endpoint.pk,
        )
        try:
            with transaction.atomic():
                stored = ingest(delivery, verified.payload)
                _record(stored.event.pk, by, row.pk, stored.duplicate)
                row.delete()
        except WebhookRefused:  # a team's secret, for another team's body
            result.unverified.append(row.pk)
            continue
        (result.duplicates if stored.duplicate else result.stored).append(stored.event.pk)
    return result


def _record(event_id: int, by: str, rejected_id: int, duplicate: bool) -> None:
    event = WebhookEvent.objects.select_for_update().only("history").get(pk=event_id)
    entry = {
        "at": timezone.now().isoformat(),
        "action": "reverify",
        "by": by,
        "from": f"rejected request #{rejected_id}",
    }
    if duplicate:
        entry["duplicate"] = "true"
    event.history = [*event.history, entry]
    event.save(update_fields=["history"])
