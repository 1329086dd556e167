"""Helpers for your own tests: build and post deliveries signed exactly as Kakiyo signs them.

Example (pytest-django)::

    from django_kakiyo.testing import post_event

    def test_reply_creates_note(client, settings):
        settings.KAKIYO = {"WEBHOOK_SECRETS": ["test-secret-0123456789"]}
        response = post_event(client, "linkedin.message.received", {"prospectId": "p_1"})
        assert response.status_code == 200
"""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from .conf import kakiyo_settings
from .javascript_json import js_stringify_bytes
from .models import WebhookEvent
from .processing import process_events
from .samples import SHAPES, make_payload, sample_data
from .signing import SIGNATURE_HEADER, compute_signature

__all__ = [
    "SHAPES",
    "make_payload",
    "post_event",
    "process_pending",
    "sample_data",
    "sign_payload",
    "signed_headers",
]


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
    process: bool = False,
    **envelope: Any,
) -> Any:
    """Sign a ``make_payload(event_type, data, **envelope)`` and POST it with ``client``.

    ``process=True`` then runs the stored event's receivers before returning, in this thread
    (see :func:`process_pending`).
    """
    body, headers = sign_payload(make_payload(event_type, data, **envelope), secret)
    response = client.post(
        url or reverse("kakiyo-webhook"),
        data=body,
        content_type="application/json",
        headers=headers,
    )
    if process and response.status_code == 200:
        process_events([response.json()["id"]], can_retry=False)
    return response


def process_pending() -> int:
    """Run the receivers of every event waiting to be processed, now, in this thread.

    For tests: whatever ``PROCESSING`` says (a background thread, Celery, the request), and
    even inside a test's transaction (where on-commit hooks never run), receivers have run
    when it returns. Events waiting for a retry that is not due yet are left alone. Returns
    how many events ended processed.
    """
    waiting = WebhookEvent.objects.filter(status__in=WebhookEvent.PENDING_STATUSES)
    outcomes = process_events(
        list(waiting.order_by("pk").values_list("pk", flat=True)), can_retry=False
    )
    return sum(outcome.status == WebhookEvent.Status.PROCESSED for outcome in outcomes.values())
