"""Which endpoint a delivery to ``webhook/<uuid>/`` is for, and what stands for its signature.

An endpoint's URL is answered only while the endpoint exists and is enabled; otherwise 404,
the same for both, so the URL of a disabled endpoint tells a prober nothing, and not 410,
since a disabled endpoint may be enabled again. Each lookup keeps this process's copy of the
endpoint up to date (:mod:`django_kakiyo.known_endpoints`), for when the database is down.
"""

from __future__ import annotations

import uuid

from django.db import DatabaseError

from .database import bounded_transaction, is_outage
from .exceptions import DatabaseUnavailable, WebhookRefused
from .known_endpoints import forget, last_known, remember
from .models import RejectedRequest, WebhookEndpoint
from .signing import VerifiedBody


def receiving_endpoint(key: uuid.UUID | None) -> WebhookEndpoint | None:
    """The enabled endpoint whose URL has ``key`` (None for the settings URL), or 404.

    Raises :class:`DatabaseUnavailable` when the database cannot tell (an outage): then
    :func:`endpoint_during_outage` may still know it. What the lookup finds refreshes this
    process's copy: an enabled endpoint is kept, a disabled or deleted one dropped.
    """
    if key is None:
        return None
    try:
        with bounded_transaction():
            endpoint = WebhookEndpoint.objects.filter(uuid=key, enabled=True).first()
    except DatabaseError as error:
        if is_outage(error):
            raise DatabaseUnavailable(str(error)) from error
        raise
    if endpoint is None:
        forget(key)
        raise WebhookRefused(
            404, RejectedRequest.Reason.UNKNOWN_ENDPOINT, "No enabled Kakiyo endpoint at this URL."
        )
    remember(endpoint)
    return endpoint


def endpoint_during_outage(key: uuid.UUID | None) -> WebhookEndpoint | None:
    """The endpoint at ``key`` as this process last found it enabled, while the database
    cannot be asked: its secrets verify the delivery, which is then spooled with it. None
    when this process never found it (or last found it disabled or gone): then 503."""
    return None if key is None else last_known(key)


def unsigned_delivery(endpoint: WebhookEndpoint, body: bytes) -> VerifiedBody:
    """An unsigned endpoint's delivery: authenticated by the URL alone, flagged ``unsigned``."""
    return VerifiedBody(
        signed_bytes=body, method="unsigned", secret="", team=endpoint.team_id or None
    )
