"""Helpers for your own tests: build and post deliveries signed exactly as Kakiyo signs them.

Example (pytest-django)::

    from django_kakiyo.testing import post_event

    def test_reply_creates_note(client, settings):
        settings.KAKIYO = {"WEBHOOK_SECRETS": ["test-secret-0123456789"]}
        response = post_event(client, "linkedin.message.received", {"prospectId": "p_1"})
        assert response.status_code == 200
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.test import Client
from django.urls import reverse

from .conf import kakiyo_settings
from .event_data import AgentData, CampaignData, InvitationData, MessageData, QualificationData
from .javascript_json import js_stringify_bytes
from .signals import data_class_for
from .signing import compute_signature

SIGNATURE_HEADER = "X-Kakiyo-Signature"


def make_payload(
    event_type: str,
    data: dict[str, Any] | None = None,
    *,
    team_id: str = "team_test",
    timestamp: dt.datetime | str | None = None,
) -> dict[str, Any]:
    """A Kakiyo envelope: ``{"event", "teamId", "timestamp", "data"}``.

    ``timestamp`` defaults to now (UTC), so the event passes a ``REPLAY_WINDOW``.
    """
    when = timestamp or dt.datetime.now(dt.timezone.utc)
    if isinstance(when, dt.datetime):
        when = when.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")
        when = when.replace("+00:00", "Z")
    return {"event": event_type, "teamId": team_id, "timestamp": when, "data": data or {}}


def sign_payload(payload: Any, secret: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The body Kakiyo would send for ``payload`` (``JSON.stringify``) and its headers.

    ``secret`` defaults to the first of ``KAKIYO['WEBHOOK_SECRETS']``. The headers dict uses
    the Django test client's ``headers=`` spelling.
    """
    body = js_stringify_bytes(payload)
    return body, signed_headers(body, secret)


def signed_headers(body: bytes, secret: str | None = None) -> dict[str, str]:
    """Headers for ``body`` signed with ``secret`` (default: the first configured secret)."""
    if secret is None:
        secrets = kakiyo_settings.WEBHOOK_SECRETS
        if not secrets:
            raise ValueError("No secret given and KAKIYO['WEBHOOK_SECRETS'] is empty.")
        secret = secrets[0]
    return {SIGNATURE_HEADER: compute_signature(body, secret)}


def post_event(
    client: Client,
    event_type: str,
    data: dict[str, Any] | None = None,
    *,
    secret: str | None = None,
    url: str | None = None,
    **envelope: Any,
) -> Any:
    """Sign a ``make_payload(event_type, data, **envelope)`` and POST it with ``client``."""
    body, headers = sign_payload(make_payload(event_type, data, **envelope), secret)
    return client.post(
        url or reverse("kakiyo-webhook"),
        data=body,
        content_type="application/json",
        headers=headers,
    )


def sample_data(event_type: str, index: int = 0) -> dict[str, Any]:
    """Realistic ``data`` for ``event_type``; ``index`` makes each call's ids distinct."""
    ids = {
        "agentId": "agent_67890",
        "campaignId": "campaign_12345",
        "chatId": f"chat_{54321 + index}",
        "prospectId": f"prospect_{98765 + index}",
    }
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
    now = now.replace("+00:00", "Z")
    data_class = data_class_for(event_type)
    if data_class is MessageData:
        return {**ids, "message": SAMPLE_MESSAGES.get(event_type, "Hello!"), "timestamp": now}
    if data_class is InvitationData:
        return {**ids, "message": "Would love to connect.", "timestamp": now}
    if data_class is QualificationData:
        return {**ids, "reason": SAMPLE_REASONS.get(event_type, "Decided"), "timestamp": now}
    if data_class is CampaignData:
        return {"campaignId": ids["campaignId"], "timestamp": now}
    if data_class is AgentData:
        return {"agentId": ids["agentId"], "status": "paused", "timestamp": now}
    return {**ids, "timestamp": now}


SAMPLE_MESSAGES = {
    "linkedin.message.received": "Thanks for reaching out! I'd be interested. 😀",
    "linkedin.message.sent": "Hi! I noticed your work on outbound, and wondered...",
    "prospect.responded": "Sure, let's talk next week.",
}
SAMPLE_REASONS = {
    "prospect.qualified": "Budget and timing confirmed",
    "prospect.unqualified": "Not a decision maker",
    "prospect.qualification.manual": "Asked about pricing for 500 seats",
}
