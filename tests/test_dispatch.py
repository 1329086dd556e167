"""Dispatch: where events go once stored; nothing dispatched can fail a delivery."""

from __future__ import annotations

from typing import Any

import pytest

from django_kakiyo import signals
from django_kakiyo.dispatch import processing_mode
from django_kakiyo.event_data import MessageData
from django_kakiyo.models import WebhookEvent
from django_kakiyo.processing import process_event
from django_kakiyo.testing import post_event

Status = WebhookEvent.Status


# -- mode and sweeper -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("processing", "broker", "expected"),
    [
        ("auto", None, "thread"),
        ("auto", "redis://127.0.0.1:6379/15", "celery"),
        ("thread", "redis://127.0.0.1:6379/15", "thread"),
        ("inline", "redis://127.0.0.1:6379/15", "inline"),
        ("celery", None, "celery"),
    ],
)
def test_processing_mode(
    settings: Any, processing: str, broker: str | None, expected: str
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING": processing}
    settings.CELERY_BROKER_URL = broker
    assert processing_mode() == expected


# -- after an HTTP delivery -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_delivery_is_processed_in_process_after_commit(client: Any, connect: Any) -> None:
    typed = connect(signals.linkedin_message_received)
    generic = connect(signals.event_received)
    response = post_event(
        client, "linkedin.message.received", {"prospectId": "p_7", "message": "yo"}
    )
    assert response.status_code == 200

    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (Status.PROCESSED, 1)
    assert event.processed_at is not None
    assert len(typed.calls) == len(generic.calls) == 1
    call = typed.calls[0]
    assert call["event"].pk == event.pk
    assert call["event_type"] == "linkedin.message.received"
    assert isinstance(call["data"], MessageData)
    assert (call["data"].prospect_id, call["data"].message) == ("p_7", "yo")
    assert call["data"]["message"] == "yo"


@pytest.mark.django_db(transaction=True)
def test_receiver_error_never_becomes_an_http_error(client: Any, connect: Any) -> None:
    connect(signals.linkedin_message_received, failures=1)
    response = post_event(client, "linkedin.message.received", {"prospectId": "p_1"})
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (Status.QUEUED, 1)
    assert "receiver exploded" in event.last_error
    assert "Traceback" in event.last_traceback


@pytest.mark.django_db(transaction=True)
def test_invalid_deliveries_are_never_dispatched(client: Any, connect: Any) -> None:
    generic = connect(signals.event_received)
    from django_kakiyo.signing import compute_signature

    body = b'{"event":42}'
    client.post(
        "/kakiyo/webhook/",
        data=body,
        content_type="application/json",
        headers={"X-Kakiyo-Signature": compute_signature(body, _secret())},
    )
    event = WebhookEvent.objects.get()
    assert event.status == Status.INVALID
    assert process_event(event.pk).claimed is False
    assert generic.calls == []


def _secret() -> str:
    from django_kakiyo.conf import kakiyo_settings

    return str(kakiyo_settings.WEBHOOK_SECRETS[0])
