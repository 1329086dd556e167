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
from .samples import SHAPES, make_payload, sample_data
from .signing import compute_signature

SIGNATURE_HEADER = "X-Kakiyo-Signature"

__all__ = [
    "SHAPES",
    "make_payload",
    "post_event",
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
