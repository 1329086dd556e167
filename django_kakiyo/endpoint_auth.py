"""Which endpoint a delivery to ``webhook/<uuid>/`` is for, and what stands for its signature.

An endpoint's URL is answered only while the endpoint exists and is enabled; otherwise 404,
the same for both, so the URL of a disabled endpoint tells a prober nothing, and not 410,
since a disabled endpoint may be enabled again.
"""

from __future__ import annotations

import uuid

from django.db import DatabaseError

from .database import bounded_transaction, is_outage
from .exceptions import DatabaseUnavailable, WebhookRefused
from .models import RejectedRequest, WebhookEndpoint
from .signing import VerifiedBody


def receiving_endpoint(key: uuid.UUID | None) -> WebhookEndpoint | None:
    """The enabled endpoint whose URL has ``key`` (None for the settings URL), or 404.

    Raises :class:`DatabaseUnavailable` when the database cannot tell: without the endpoint
    there is no secret to verify with, so nothing can be spooled either (503).
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
        raise WebhookRefused(
            404, RejectedRequest.Reason.UNKNOWN_ENDPOINT, "No enabled Kakiyo endpoint at this URL."
        )
    return endpoint


def unsigned_delivery(endpoint: WebhookEndpoint, body: bytes) -> VerifiedBody:
    """An unsigned endpoint's delivery: authenticated by the URL alone, flagged ``unsigned``."""
    return VerifiedBody(
        signed_bytes=body, method="unsigned", secret="", team=endpoint.team_id or None
    )
