"""Recovering a botched secret rotation: refused requests verified again, stored as events."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from django_kakiyo.models import RejectedRequest, WebhookEvent
from django_kakiyo.reverify import reverifiable, reverify
from django_kakiyo.testing import make_payload, process_pending, sign_payload

pytestmark = pytest.mark.django_db

OLD = "old-secret-0123456789abcdef"
NEW = "new-secret-0123456789abcdef"


@pytest.fixture
def botched(settings: Any, client: Client) -> list[bytes]:
    """Kakiyo signs with NEW, which the app does not know yet: three deliveries refused."""
    settings.KAKIYO = {**settings.KAKIYO, "WEBHOOK_SECRETS": [OLD]}
    bodies = []
    for n in range(3):
        body, headers = sign_payload(
            make_payload("linkedin.message.received", {"prospectId": f"p_{n}"}), NEW
        )
        response = client.post(reverse("kakiyo-webhook"), data=body,
                               content_type="application/json", headers=headers)  # fmt: skip
        assert response.status_code == 401
        bodies.append(body)
    client.post(reverse("kakiyo-webhook"), data=b"junk", content_type="application/json")
    settings.KAKIYO = {**settings.KAKIYO, "WEBHOOK_SECRETS": [OLD, NEW]}  # fixed
    return bodies


def test_refused_deliveries_keep_what_reverifying_needs(botched: list[bytes]) -> None:
    rows = list(reverifiable().order_by("pk"))
    assert [bytes(row.body_prefix) for row in rows] == botched
    assert RejectedRequest.objects.count() == 4  # and the junk, which cannot be checked


def test_reverify_stores_them_once_recorded_in_their_history(
    botched: list[bytes], client: Client
) -> None:
    # Kakiyo's retry of the first one got through after the fix: a duplicate, not a second event.
    headers = {"X-Kakiyo-Signature": sign_payload_signature(botched[0])}
    client.post(reverse("kakiyo-webhook"), data=botched[0], content_type="application/json",
                headers=headers)  # fmt: skip
    result = reverify(RejectedRequest.objects.all(), by="admin:oncall")
    assert len(result.stored) == 2 and len(result.duplicates) == 1
    assert len(result.unverifiable) == 1 and result.unverified == []
    assert WebhookEvent.objects.count() == 3
    assert list(RejectedRequest.objects.values_list("body_complete", flat=True)) == [True]
    stored = WebhookEvent.objects.get(pk=result.stored[0])
    (entry,) = stored.history
    assert (entry["action"], entry["by"]) == ("reverify", "admin:oncall")
    assert entry["from"].startswith("rejected request #")
    duplicate = WebhookEvent.objects.get(pk=result.duplicates[0])
    assert duplicate.delivery_count == 2 and duplicate.history[0]["duplicate"] == "true"
    process_pending()
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


def sign_payload_signature(body: bytes) -> str:
    from django_kakiyo.signing import compute_signature

    return compute_signature(body, NEW)


def test_a_secret_still_wrong_verifies_nothing(botched: list[bytes], settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "WEBHOOK_SECRETS": [OLD]}
    result = reverify(reverifiable(), by="test")
    assert (result.stored, len(result.unverified)) == ([], 3)
    assert WebhookEvent.objects.count() == 0


def test_the_admin_action_needs_the_replay_permission(
    botched: list[bytes], admin_client: Client
) -> None:
    url = reverse("admin:django_kakiyo_rejectedrequest_changelist")
    ids = list(RejectedRequest.objects.values_list("pk", flat=True))
    response = admin_client.post(url, {"action": "reverify_selected", "_selected_action": ids},
                                 follow=True)  # fmt: skip
    assert "3 stored as events, 0 duplicates" in response.content.decode()
    event = WebhookEvent.objects.first()
    assert event is not None and event.history[0]["by"] == "admin:admin"


def test_the_command(botched: list[bytes]) -> None:
    out = StringIO()
    call_command("kakiyo_reverify", "--dry-run", stdout=out)
    assert "3 of 3 refused request(s) verify now." in out.getvalue()
    call_command("kakiyo_reverify", stdout=out)
    assert "stored 3 event(s), 0 duplicate(s)" in out.getvalue()
    assert (
        WebhookEvent.objects.get(prospect_id="p_1").history[0]["by"] == "command:kakiyo_reverify"
    )
