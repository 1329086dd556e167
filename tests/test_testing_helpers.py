"""The helpers users call in their own tests, including the README's example verbatim."""

from __future__ import annotations

from typing import Any

import pytest

from django_kakiyo.models import WebhookEvent
from django_kakiyo.signing import verify_signature
from django_kakiyo.testing import make_payload, post_event, sample_data, sign_payload


def test_reply_is_stored(client, settings, db):  # type: ignore[no-untyped-def]
    # Kept identical to the README's "Testing your own receivers" example.
    settings.KAKIYO = {"WEBHOOK_SECRETS": ["test-secret-0123456789"]}
    response = post_event(client, "linkedin.message.received", {"prospectId": "p_1"})
    assert response.status_code == 200


def test_post_event_stores_the_event(client: Any, db: None) -> None:
    response = post_event(client, "prospect.unqualified", {"prospectId": "p_9"}, team_id="t_1")
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    assert (event.event_type, event.prospect_id, event.team_id) == (
        "prospect.unqualified",
        "p_9",
        "t_1",
    )
    assert event.occurred_at is not None


def test_sign_payload_matches_verification() -> None:
    body, headers = sign_payload(make_payload("x", {"n": 1.0}), "secret-0123456789abc")
    assert b'"n":1' in body
    assert verify_signature(body, headers["X-Kakiyo-Signature"], ["secret-0123456789abc"])


def test_sign_payload_without_secret_needs_a_configured_one(settings: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": []}
    with pytest.raises(ValueError, match="WEBHOOK_SECRETS"):
        sign_payload(make_payload("x"))


@pytest.mark.parametrize(
    "event_type",
    [
        "linkedin.message.received",
        "linkedin.invitation.accepted",
        "prospect.qualified",
        "campaign.completed",
        "agent.status_changed",
        "brand.new",
    ],
)
def test_sample_data_is_distinct_per_index(event_type: str) -> None:
    first, second = sample_data(event_type, 0), sample_data(event_type, 1)
    assert first["timestamp"]
    if "prospectId" in first:
        assert first["prospectId"] != second["prospectId"]


def test_kakiyo_post_fixture(kakiyo_post: Any) -> None:
    response = kakiyo_post("linkedin.invitation.accepted", {"prospectId": "p_fixture"})
    assert response.status_code == 200
    assert WebhookEvent.objects.get().prospect_id == "p_fixture"


def test_kakiyo_post_configures_a_secret_when_none_is_set(
    settings: Any, request: pytest.FixtureRequest
) -> None:
    from django_kakiyo.pytest_plugin import TEST_SECRET

    settings.KAKIYO = {"WEBHOOK_SECRETS": []}
    post = request.getfixturevalue("kakiyo_post")
    assert post("prospect.qualified", {"prospectId": "p_2"}).status_code == 200
    assert settings.KAKIYO["WEBHOOK_SECRETS"] == [TEST_SECRET]


def test_kakiyo_post_runs_the_receivers_whatever_the_mode(kakiyo_post: Any, settings: Any) -> None:
    from example_project.crm.models import Prospect

    for mode in ("thread", "celery", "inline"):
        settings.KAKIYO = {**settings.KAKIYO, "PROCESSING": mode}
        kakiyo_post("linkedin.message.received", {"prospectId": f"p_{mode}", "message": "Hi"})
        assert Prospect.objects.get(kakiyo_id=f"p_{mode}").stage == "replied"
    response = kakiyo_post("linkedin.message.received", {"prospectId": "later"}, process=False)
    assert WebhookEvent.objects.get(pk=response.json()["id"]).status == "received"


def test_process_pending_runs_every_waiting_event(client: Any, settings: Any, db: None) -> None:
    from django_kakiyo.testing import process_pending

    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING": "thread"}
    for n in range(3):
        post_event(client, "prospect.qualified", {"prospectId": f"p_{n}"})
    assert process_pending() == 3
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert process_pending() == 0
