"""health/ and metrics/: who may read them, each health status, and what metrics say."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from django_kakiyo import health as health_module
from django_kakiyo.models import ReceiverOutcome, WebhookEvent
from django_kakiyo.testing import make_payload, process_pending, sign_payload

from .conftest import SECRET
from .factories import stored_event

pytestmark = pytest.mark.django_db
TOKEN = "monitoring-token-0123456789abcdef"
Status = WebhookEvent.Status


@pytest.fixture(autouse=True)
def token(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "MONITORING_TOKEN": TOKEN}


def get(client: Client, name: str, token: str | None = TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(reverse(name), headers=headers)


# -- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["kakiyo-health", "kakiyo-metrics"])
def test_anyone_else_gets_nothing(client: Client, name: str) -> None:
    nobody = get(client, name, token=None)
    assert (nobody.status_code, nobody.content) == (404, b"")
    wrong = get(client, name, token="wrong-token")
    assert (wrong.status_code, wrong.content) == (401, b"")
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    basic = client.get(reverse(name), headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    User.objects.create_user("staff", password="pw", is_staff=True)
    client.login(username="staff", password="pw")
    assert get(client, name, token=None).status_code == 404  # staff, but no view permission
    assert get(client, name).status_code == 200


@pytest.mark.parametrize("name", ["kakiyo-health", "kakiyo-metrics"])
def test_a_user_with_the_view_permission_may_read(client: Client, name: str) -> None:
    user = User.objects.create_user("oncall", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.login(username="oncall", password="pw")
    assert get(client, name, token=None).status_code == 200


def test_without_a_configured_token_no_bearer_is_accepted(client: Client, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "MONITORING_TOKEN": ""}
    assert get(client, "kakiyo-health", token=" ").status_code == 401
    assert get(client, "kakiyo-health", token="anything").status_code == 401


def test_only_get(client: Client) -> None:
    response = client.post(reverse("kakiyo-health"), headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405


# -- health ----------------------------------------------------------------------------------


def test_ok_when_nothing_waits_or_failed(client: Client) -> None:
    stored_event(status=Status.PROCESSED)
    response = get(client, "kakiyo-health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["reasons"] == []
    assert (body["database"], body["broker"], body["processing"]) == ("ok", "none", "inline")
    assert (body["backlog"], body["failed_last_hour"], body["spooled"]) == (0, 0, 0)
    assert body["oldest_unprocessed_seconds"] is None and body["last_event_at"]
    assert body["at_risk"] is False and body["risks"] == []
    assert body["thresholds"]["MAX_WAIT"] == 300


def test_degraded_when_an_event_waited_too_long(client: Client) -> None:
    stored_event(status=Status.RECEIVED, age=dt.timedelta(minutes=6))
    body = get(client, "kakiyo-health").json()
    assert (body["status"], body["backlog"]) == ("degraded", 1)
    assert body["oldest_unprocessed_seconds"] >= 360
    assert "waited" in body["reasons"][0]


def test_degraded_when_events_failed_in_the_last_hour(client: Client, settings: Any) -> None:
    stored_event(status=Status.FAILED, age=dt.timedelta(minutes=10))
    response = get(client, "kakiyo-health")
    assert (response.status_code, response.json()["status"]) == (200, "degraded")
    settings.KAKIYO = {**settings.KAKIYO, "HEALTH": {"MAX_FAILED_LAST_HOUR": 1}}
    assert get(client, "kakiyo-health").json()["status"] == "ok"


def test_failing_past_the_backlog_threshold(client: Client, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "HEALTH": {"MAX_BACKLOG": 2}}
    for _ in range(3):
        stored_event(status=Status.QUEUED)
    response = get(client, "kakiyo-health")
    assert (response.status_code, response.json()["status"]) == (503, "failing")


def test_failing_with_a_503_when_the_database_is_down(client: Client, monkeypatch: Any) -> None:
    def down() -> int:
        raise OperationalError("connection refused")

    monkeypatch.setattr(health_module, "backlog", down)
    response = get(client, "kakiyo-health")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"], body["backlog"]) == ("failing", "down", None)


def test_degraded_when_the_broker_is_down(client: Client, settings: Any) -> None:
    from example_project import celery_app

    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING": "celery", "PUBLISH_TIMEOUT": 0.2}
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        body = get(client, "kakiyo-health").json()
    finally:
        celery_app.conf.broker_url = previous
    assert (body["status"], body["broker"]) == ("degraded", "down")


def test_the_at_risk_state_and_refusals_have_their_own_fields(client: Client) -> None:
    for _ in range(3):
        client.post(reverse("kakiyo-webhook"), data=b"{}", content_type="application/json",
                    headers={"X-Kakiyo-Signature": "ab" * 32})  # fmt: skip
    body = get(client, "kakiyo-health").json()
    assert body["status"] == "ok"  # about processing: a rotated secret is not fixed by a restart
    assert body["at_risk"] is True and body["rejected_last_hour"] == 3
    assert [(r["kind"], r["consecutive"]) for r in body["risks"]] == [("signatures", 3)]


# -- metrics ---------------------------------------------------------------------------------


def scrape(client: Client) -> dict[str, float]:
    response = get(client, "kakiyo-metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    values = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_metrics_count_deliveries_outcomes_and_failures(client: Client) -> None:
    body, headers = sign_payload(
        make_payload("linkedin.message.sent", {"prospectId": "p"}), SECRET
    )
    for _ in range(2):
        client.post(reverse("kakiyo-webhook"), data=body, content_type="application/json",
                    headers=headers)  # fmt: skip
    client.post(reverse("kakiyo-webhook"), data=b"{}", content_type="application/json")
    process_pending()
    event = stored_event(status=Status.FAILED)
    ReceiverOutcome.objects.create(event=event, receiver="crm.on_reply", status="failed",
                                   attempts=3)  # fmt: skip
    stored_event(status=Status.QUEUED, age=dt.timedelta(seconds=30))
    found = scrape(client)
    assert found['kakiyo_deliveries_total{endpoint="",outcome="accepted",reason=""}'] == 1
    assert found['kakiyo_deliveries_total{endpoint="",outcome="duplicate",reason=""}'] == 1
    assert (
        found[
            'kakiyo_deliveries_total{endpoint="",outcome="rejected",reason="verification_failed"}'
        ]
        == 1
    )
    processed = (
        'kakiyo_events_processed_total{event_type="linkedin.message.sent",status="processed"}'
    )
    assert found[processed] == 1
    assert found['kakiyo_receiver_failures_total{receiver="crm.on_reply"}'] == 3
    assert found["kakiyo_backlog_events"] == 1
    assert found["kakiyo_oldest_unprocessed_age_seconds"] >= 30
    assert found["kakiyo_failed_last_hour_events"] == 1
    assert found["kakiyo_request_duration_seconds_count"] == 3
    assert found['kakiyo_request_duration_seconds_bucket{le="+Inf"}'] == 3
    assert found["kakiyo_processing_lag_seconds_count"] == 1
    assert found['kakiyo_webhook_at_risk{kind="signatures"}'] == 0


def test_metrics_off_is_a_404(client: Client, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "METRICS": False}
    assert get(client, "kakiyo-metrics").status_code == 404


def test_metrics_without_a_database_is_a_503(client: Client, monkeypatch: Any) -> None:
    from django_kakiyo import metrics

    def down(series: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(metrics, "totals", down)
    assert get(client, "kakiyo-metrics").status_code == 503
