"""The client address recorded with a delivery when X-Forwarded-For or REMOTE_ADDR is garbage.

Only the well-formed part of the header that our own proxies appended is believed (see
``tests/test_views.py``); these pin what happens to the parts that are not addresses at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from django_kakiyo.models import WebhookEvent
from django_kakiyo.testing import make_payload, sign_payload

from .conftest import SECRET

pytestmark = pytest.mark.django_db


def post_from(client: Client, remote: str, forwarded: str | None = None) -> WebhookEvent:
    body, headers = sign_payload(make_payload("x", {"n": f"{remote} {forwarded}"}), SECRET)
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    response = client.post(
        "/kakiyo/webhook/", data=body, content_type="application/json", headers=headers, **extra
    )
    assert response.status_code == 200
    return WebhookEvent.objects.get(pk=response.json()["id"])


def test_a_hop_that_is_not_an_address_ends_the_walk(settings: Any, client: Client) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "TRUSTED_PROXIES": ["10.0.0.0/8"]}
    # Right to left: 10.0.0.7 is our proxy, then a hop nobody can vouch for. Whatever is
    # further left was written by the sender, so the last proxy is all that is known.
    event = post_from(client, "10.0.0.5", "203.0.113.9, not-an-address, 10.0.0.7")
    assert event.remote_addr == "10.0.0.7"


def test_a_remote_addr_that_is_not_an_address_records_none(settings: Any, client: Client) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "TRUSTED_PROXIES": ["10.0.0.0/8"]}
    # E.g. a server listening on a Unix socket; the delivery is still stored and answered.
    assert post_from(client, "unix:/run/gunicorn.sock", "203.0.113.9").remote_addr is None
