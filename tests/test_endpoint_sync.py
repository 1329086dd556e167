"""``kakiyo_endpoints sync`` and the admin's sync action, against a fake Kakiyo over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from pytest_httpserver import HTTPServer

from django_kakiyo.endpoint_operations import create_endpoint, rotate_secret, set_enabled
from django_kakiyo.models import WebhookEndpoint
from django_kakiyo.signing import compute_signature
from django_kakiyo.testing import make_payload

from .fake_kakiyo import API_KEY, FakeKakiyo

pytestmark = pytest.mark.django_db

SITE = "https://crm.example.com"


@pytest.fixture
def kakiyo(httpserver_ipv4: HTTPServer, settings: Any) -> Iterator[FakeKakiyo]:
    fake = FakeKakiyo(httpserver_ipv4)
    settings.KAKIYO = {**settings.KAKIYO, "API_KEY": API_KEY, "API_BASE_URL": fake.base_url}
    yield fake
    httpserver_ipv4.check_handler_errors()


def sync(*args: str) -> str:
    out = StringIO()
    call_command("kakiyo_endpoints", "sync", "--base-url", SITE, *args, stdout=out,
                 stderr=out)  # fmt: skip
    return out.getvalue()


def url_of(endpoint: WebhookEndpoint) -> str:
    return SITE + reverse("kakiyo-endpoint-webhook", args=[endpoint.uuid])


def delivered_with(client: Client, endpoint: WebhookEndpoint, secret: str) -> int:
    """What this site answers Kakiyo when it signs with the secret it was given."""
    body = json.dumps(make_payload("prospect.qualified", {"prospectId": secret[:6]})).encode()
    headers = {"X-Kakiyo-Signature": compute_signature(body, secret)}
    path = reverse("kakiyo-endpoint-webhook", args=[endpoint.uuid])
    return int(client.post(path, data=body, content_type="application/json",
                           headers=headers).status_code)  # fmt: skip


def test_sync_creates_the_kakiyo_webhook(kakiyo: FakeKakiyo, client: Client) -> None:
    endpoint, _ = create_endpoint("crm", events=["prospect.qualified"])
    output = sync()
    endpoint.refresh_from_db()
    hook = kakiyo.webhooks[endpoint.kakiyo_webhook_id]
    assert (hook["name"], hook["url"], hook["events"]) == (
        "crm", url_of(endpoint), ["prospect.qualified"],
    )  # fmt: skip
    assert delivered_with(client, endpoint, hook["secret"]) == 200  # Kakiyo got the right one
    assert "created Kakiyo webhook" in output and hook["secret"] not in output
    assert endpoint.synced_at is not None and "created" in endpoint.sync_result


def test_an_unsigned_endpoints_webhook_has_no_secret(kakiyo: FakeKakiyo) -> None:
    endpoint, _ = create_endpoint("open", unsigned=True)
    sync()
    endpoint.refresh_from_db()
    assert "secret" not in kakiyo.webhooks[endpoint.kakiyo_webhook_id]


def test_sync_sends_the_new_secret_after_a_rotation_then_rests(
    kakiyo: FakeKakiyo, client: Client
) -> None:
    endpoint, first = create_endpoint("crm")
    sync()
    endpoint.refresh_from_db()
    second = rotate_secret(endpoint)
    output = sync()
    hook = kakiyo.webhooks[endpoint.kakiyo_webhook_id]
    assert hook["secret"] == second != first
    assert "updated: secret" in output and second not in output
    assert delivered_with(client, endpoint, hook["secret"]) == 200
    calls = len(kakiyo.calls)
    assert "crm: in sync" in sync()
    assert kakiyo.calls[calls:] == ["GET /v1/webhooks"]  # nothing to send


def test_sync_re_enables_a_webhook_kakiyo_disabled(kakiyo: FakeKakiyo) -> None:
    endpoint, _ = create_endpoint("crm")
    sync()
    endpoint.refresh_from_db()
    kakiyo.webhooks[endpoint.kakiyo_webhook_id]["active"] = False  # four failures
    assert "re-enabled" in sync()
    assert kakiyo.webhooks[endpoint.kakiyo_webhook_id]["active"] is True


def test_sync_deactivates_the_webhook_of_a_disabled_endpoint(kakiyo: FakeKakiyo) -> None:
    endpoint, _ = create_endpoint("crm")
    sync()
    endpoint.refresh_from_db()
    set_enabled(endpoint, False)
    assert "deactivated" in sync()
    assert kakiyo.webhooks[endpoint.kakiyo_webhook_id]["active"] is False


def test_sync_reports_drift_and_fixes_a_url(kakiyo: FakeKakiyo) -> None:
    endpoint, _ = create_endpoint("crm")
    sync()
    endpoint.refresh_from_db()
    kakiyo.webhooks[endpoint.kakiyo_webhook_id]["url"] = "https://elsewhere.example.net/hook"
    stray = f"{SITE}/kakiyo/webhook/{uuid.uuid4()}/"
    stray_id = kakiyo.add(name="forgotten", url=stray)
    settings_hook = kakiyo.add(name="settings", url=f"{SITE}/kakiyo/webhook/")
    kakiyo.add(name="other site", url="https://other.example.org/kakiyo/webhook/x/")
    output = sync()
    assert f"drift: Kakiyo webhook {stray_id} (forgotten) points at {stray}" in output
    assert "points at https://elsewhere.example.net/hook, elsewhere" in output
    assert settings_hook not in output and "other site" not in output
    assert kakiyo.webhooks[endpoint.kakiyo_webhook_id]["url"] == url_of(endpoint)


def test_a_webhook_gone_from_kakiyo_is_made_again(kakiyo: FakeKakiyo) -> None:
    endpoint, _ = create_endpoint("crm")
    sync()
    endpoint.refresh_from_db()
    old = endpoint.kakiyo_webhook_id
    del kakiyo.webhooks[old]
    assert f"Kakiyo webhook {old} is gone; created" in sync()
    endpoint.refresh_from_db()
    assert endpoint.kakiyo_webhook_id in kakiyo.webhooks


def test_dry_run_changes_nothing(kakiyo: FakeKakiyo) -> None:
    endpoint, _ = create_endpoint("crm")
    assert "would create a Kakiyo webhook" in sync("--dry-run")
    assert kakiyo.calls == ["GET /v1/webhooks"] and not kakiyo.webhooks
    endpoint.refresh_from_db()
    assert endpoint.synced_at is None and not endpoint.kakiyo_webhook_id


def test_only_the_endpoints_named(kakiyo: FakeKakiyo) -> None:
    create_endpoint("crm")
    create_endpoint("other")
    sync("crm")
    assert [hook["name"] for hook in kakiyo.webhooks.values()] == ["crm"]


def test_a_refused_api_key_is_a_command_error(kakiyo: FakeKakiyo, settings: Any) -> None:
    create_endpoint("crm")
    settings.KAKIYO = {**settings.KAKIYO, "API_KEY": "kky_wrong_key_0123456789"}
    with pytest.raises(CommandError, match=r"Kakiyo API error.*401"):
        sync()
    assert not kakiyo.webhooks


def test_a_refused_update_is_recorded_in_the_endpoint(kakiyo: FakeKakiyo) -> None:
    endpoint, _ = create_endpoint("crm")
    endpoint.kakiyo_webhook_id = "wh_99"
    endpoint.save()
    kakiyo.webhooks["wh_99"] = {"id": "wh_99", "url": "https://x.example/", "events": ["*"]}
    kakiyo.server.clear()  # a Kakiyo that lists it but refuses to update it
    kakiyo.server.expect_request("/v1/webhooks", method="GET").respond_with_json(
        [kakiyo.webhooks["wh_99"]]
    )
    kakiyo.server.expect_request("/v1/webhooks/wh_99", method="PUT").respond_with_json(
        {"error": "invalid_request", "message": "nope"}, status=400
    )
    with pytest.raises(CommandError, match="could not be synced"):
        sync()
    endpoint.refresh_from_db()
    assert endpoint.sync_result.startswith("failed:") and "400" in endpoint.sync_result
    assert endpoint.synced_at is None


def test_the_admin_action_syncs_the_selected(
    kakiyo: FakeKakiyo, admin_client: Client, settings: Any
) -> None:
    endpoint, _ = create_endpoint("crm")
    response = admin_client.post(
        "/admin/django_kakiyo/webhookendpoint/",
        {"action": "sync_with_kakiyo", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    endpoint.refresh_from_db()
    hook = kakiyo.webhooks[endpoint.kakiyo_webhook_id]
    assert hook["url"] == "http://testserver" + reverse(
        "kakiyo-endpoint-webhook", args=[endpoint.uuid]
    )
    assert b"created Kakiyo webhook" in response.content
    assert hook["secret"].encode() not in response.content
