"""The read-only admin screens, through the test client."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from django_kakiyo.models import RejectedRequest, WebhookEvent
from django_kakiyo.testing import post_event

pytestmark = pytest.mark.django_db

EVENTS = "/admin/django_kakiyo/webhookevent/"
REJECTED = "/admin/django_kakiyo/rejectedrequest/"


@pytest.fixture
def event(client: Client) -> WebhookEvent:
    post_event(client, "linkedin.message.received", {"prospectId": "p_admin", "message": "<b>"})
    return WebhookEvent.objects.get()


@pytest.fixture
def rejected(client: Client) -> RejectedRequest:
    client.post(
        "/kakiyo/webhook/",
        data=b"{}",
        content_type="application/json",
        headers={"X-Kakiyo-Signature": "0" * 64, "Authorization": "Bearer hunter2"},
    )
    return RejectedRequest.objects.get()


@pytest.mark.parametrize(
    "query", ["", "?status__exact=received", "?event_type=linkedin.message.received", "?q=p_admin"]
)
def test_event_changelist(admin_client: Client, event: WebhookEvent, query: str) -> None:
    response = admin_client.get(EVENTS + query)
    assert response.status_code == 200
    assert b"p_admin" in response.content


def test_event_search_by_prospect_finds_nothing_for_another(
    admin_client: Client, event: WebhookEvent
) -> None:
    assert b"p_admin" not in admin_client.get(EVENTS + "?q=p_other").content


def test_event_detail_shows_payload_escaped_and_redacted_headers(
    admin_client: Client, event: WebhookEvent
) -> None:
    response = admin_client.get(f"{EVENTS}{event.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "&lt;b&gt;" in content and "<b>" not in content.split("payload")[-1][:2000]
    assert "[redacted]" in content
    assert 'name="_save"' not in content  # read-only


def test_events_cannot_be_added(admin_client: Client) -> None:
    assert admin_client.get(EVENTS + "add/").status_code == 403


def test_rejected_changelist_and_detail(admin_client: Client, rejected: RejectedRequest) -> None:
    assert admin_client.get(REJECTED + "?reason__exact=verification_failed").status_code == 200
    detail = admin_client.get(f"{REJECTED}{rejected.pk}/change/")
    assert detail.status_code == 200
    assert b"hunter2" not in detail.content


@pytest.mark.parametrize("staff", [False, True])
def test_users_without_permission_get_nothing(
    client: Client, event: WebhookEvent, staff: bool
) -> None:
    User.objects.create_user("someone", password="pw", is_staff=staff)
    client.login(username="someone", password="pw")
    for url in (EVENTS, f"{EVENTS}{event.pk}/change/", REJECTED):
        response = client.get(url)
        assert response.status_code in (302, 403)
        assert b"p_admin" not in response.content


def test_anonymous_is_sent_to_login(client: Client, event: Any) -> None:
    response = client.get(EVENTS)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
