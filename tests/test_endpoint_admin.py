"""The endpoints' admin screen, through the test client: a secret shown once, never again."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from django_kakiyo.endpoint_operations import create_endpoint
from django_kakiyo.models import WebhookEndpoint, WebhookEvent
from django_kakiyo.signing import compute_signature
from django_kakiyo.testing import make_payload

from .conftest import SECRET

pytestmark = pytest.mark.django_db

ENDPOINTS = "/admin/django_kakiyo/webhookendpoint/"
GIVEN = "admin-given-secret-0123456789abcdef"


def shown_secrets(response: Any) -> list[str]:
    return re.findall(r'<code class="kakiyo-secret">([^<]+)</code>', response.content.decode())


def deliver(client: Client, endpoint: WebhookEndpoint, secret: str, n: int = 0) -> int:
    body = json.dumps(make_payload("prospect.qualified", {"prospectId": f"p_{n}"})).encode()
    url = reverse("kakiyo-endpoint-webhook", args=[endpoint.uuid])
    headers = {"X-Kakiyo-Signature": compute_signature(body, secret)}
    response = client.post(url, data=body, content_type="application/json", headers=headers)
    return int(response.status_code)


def add(admin_client: Client, **fields: str) -> Any:
    data = {"name": "crm", "team_id": "", "enabled": "on", "events_text": "", "secret": "",
            "kakiyo_webhook_id": "", **fields}  # fmt: skip
    return admin_client.post(ENDPOINTS + "add/", data)


def every_page(admin_client: Client, endpoint: WebhookEndpoint) -> bytes:
    pages = [ENDPOINTS, f"{ENDPOINTS}{endpoint.pk}/change/", f"{ENDPOINTS}{endpoint.pk}/delete/",
             f"{ENDPOINTS}{endpoint.pk}/history/", "/admin/django_kakiyo/"]  # fmt: skip
    return b"".join(admin_client.get(page).content for page in pages)


def test_creating_shows_a_generated_secret_once(admin_client: Client, client: Client) -> None:
    response = add(admin_client, events_text="prospect.qualified, linkedin.message.received")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    [secret] = shown_secrets(response)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["prospect.qualified", "linkedin.message.received"]
    assert deliver(client, endpoint, secret) == 200
    assert secret.encode() not in every_page(admin_client, endpoint)


def test_creating_with_a_given_secret_never_renders_it_back(admin_client: Client) -> None:
    [shown] = shown_secrets(add(admin_client, secret=GIVEN))
    assert shown == GIVEN
    endpoint = WebhookEndpoint.objects.get()
    assert GIVEN.encode() not in every_page(admin_client, endpoint)


def test_a_refused_form_does_not_echo_the_secret(admin_client: Client) -> None:
    response = add(admin_client, secret=SECRET)  # a settings secret
    assert response.status_code == 200
    assert b"WEBHOOK_SECRETS" in response.content
    assert SECRET.encode() not in response.content
    assert not WebhookEndpoint.objects.exists()


def test_creating_an_unsigned_endpoint_says_so(admin_client: Client, client: Client) -> None:
    response = add(admin_client, unsigned="on")
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.unsigned and not endpoint.encrypted_secret
    page = admin_client.get(f"{ENDPOINTS}{endpoint.pk}/change/").content
    assert b"unsigned" in page and b"Anyone who knows the URL" in page


def test_rotating_shows_the_new_secret_once(admin_client: Client, client: Client) -> None:
    endpoint, old = create_endpoint("crm", secret=GIVEN)
    assert old is not None
    response = admin_client.post(
        ENDPOINTS, {"action": "rotate_secrets", "_selected_action": [endpoint.pk]}
    )
    assert "no-store" in response["Cache-Control"]
    [new] = shown_secrets(response)
    assert deliver(client, endpoint, new, 1) == 200
    assert deliver(client, endpoint, old, 2) == 200  # the grace
    assert new.encode() not in every_page(admin_client, endpoint)
    admin_client.post(
        ENDPOINTS, {"action": "expire_previous_secrets", "_selected_action": [endpoint.pk]}
    )
    assert deliver(client, endpoint, old, 3) == 401


def test_disable_and_enable_actions(admin_client: Client, client: Client) -> None:
    endpoint, secret = create_endpoint("crm")
    assert secret is not None
    admin_client.post(ENDPOINTS, {"action": "disable", "_selected_action": [endpoint.pk]})
    assert deliver(client, endpoint, secret, 1) == 404
    admin_client.post(ENDPOINTS, {"action": "enable", "_selected_action": [endpoint.pk]})
    assert deliver(client, endpoint, secret, 2) == 200


def test_an_event_page_names_its_endpoint(admin_client: Client, client: Client) -> None:
    endpoint, secret = create_endpoint("the crm endpoint")
    assert secret is not None
    assert deliver(client, endpoint, secret) == 200
    event = WebhookEvent.objects.get()
    page = admin_client.get(f"/admin/django_kakiyo/webhookevent/{event.pk}/change/").content
    assert b"the crm endpoint" in page


def test_rotating_needs_the_change_permission(client: Client) -> None:
    endpoint, _ = create_endpoint("crm", secret=GIVEN)
    staff = User.objects.create_user("viewer", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_webhookendpoint"))
    client.force_login(staff)
    response = client.post(
        ENDPOINTS, {"action": "rotate_secrets", "_selected_action": [endpoint.pk]}
    )
    assert shown_secrets(response) == []
    assert deliver(Client(), endpoint, GIVEN) == 200  # not rotated
    endpoint.refresh_from_db()
    assert endpoint.secret_rotated_at is None


def test_the_events_list_filters_by_endpoint(admin_client: Client, client: Client) -> None:
    first, first_secret = create_endpoint("first endpoint")
    second, second_secret = create_endpoint("second endpoint")
    assert first_secret is not None and second_secret is not None
    assert deliver(client, first, first_secret, 1) == 200
    assert deliver(client, second, second_secret, 2) == 200
    page = admin_client.get(f"/admin/django_kakiyo/webhookevent/?endpoint__id__exact={first.pk}")
    assert page.status_code == 200
    assert b"first endpoint" in page.content  # the filter's choices name the endpoints
    rows = page.content.decode().count('class="action-select"')
    assert rows == 1
