"""Security properties: secrets stay secret, and DEBUG changes nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client
from django.views.debug import SafeExceptionReporterFilter

from django_kakiyo import signing
from django_kakiyo.models import RejectedRequest, WebhookEvent
from django_kakiyo.testing import make_payload, post_event, sign_payload

from .conftest import SECRET

pytestmark = pytest.mark.django_db


def test_debug_does_not_weaken_verification(settings: Any, client: Client) -> None:
    settings.DEBUG = True
    body, _ = sign_payload(make_payload("x"), SECRET)
    for signature in ("", "0" * 64, "debug"):
        response = client.post(
            "/kakiyo/webhook/",
            data=body,
            content_type="application/json",
            headers={"X-Kakiyo-Signature": signature},
        )
        assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_the_secret_never_reaches_logs_rows_or_answers(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        accepted = post_event(client, "linkedin.message.received", {"prospectId": "p"})
        refused = post_event(client, "x", {}, secret="wrong-secret-0123456789")
        malformed = client.post(
            "/kakiyo/webhook/", data=b"[]", content_type="application/json",
            headers={"X-Kakiyo-Signature": signing.compute_signature(b"[]", SECRET)},
        )  # fmt: skip
    signature = signing.compute_signature(b"[]", SECRET)
    texts = [caplog.text, accepted.content.decode(), refused.content.decode()]
    texts += [malformed.content.decode()]
    texts += [str(row.headers) for row in WebhookEvent.objects.all()]
    texts += [
        str(row.headers) + repr(bytes(row.body_prefix)) for row in RejectedRequest.objects.all()
    ]
    for text in texts:
        assert SECRET not in text
        assert signature not in text


def test_the_secret_is_hidden_on_djangos_error_pages(settings: Any) -> None:
    settings.KAKIYO = {
        "WEBHOOK_SECRETS": [SECRET],
        "TEAM_SECRETS": {"t": [SECRET]},
        "API_KEY": "kakiyo-api-key",
    }
    safe = SafeExceptionReporterFilter().get_safe_settings()["KAKIYO"]
    assert SECRET not in str(safe)
    assert "kakiyo-api-key" not in str(safe)
    request_meta = SafeExceptionReporterFilter().cleanse_setting("HTTP_X_KAKIYO_SIGNATURE", "abc")
    assert request_meta != "abc"


def test_the_admin_never_shows_the_secret(admin_client: Client) -> None:
    post_event(Client(), "linkedin.message.received", {"prospectId": "p"})
    event = WebhookEvent.objects.get()
    for url in (
        "/admin/django_kakiyo/webhookevent/",
        f"/admin/django_kakiyo/webhookevent/{event.pk}/change/",
    ):
        assert SECRET.encode() not in admin_client.get(url).content


TEAM_SECRET = "team-secret-value-0123456789abcd"


@pytest.mark.parametrize("where", ["after verification", "during verification"])
def test_djangos_debug_500_page_never_shows_a_secret(
    settings: Any, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Force an error inside the view with DEBUG on: the technical 500 page prints every
    frame's locals, and none of them may be a secret."""
    settings.DEBUG = True
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "TEAM_SECRETS": {"t": [TEAM_SECRET]}}

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("forced")

    if where == "after verification":
        monkeypatch.setattr("django_kakiyo.views.ingest", boom)
    else:
        monkeypatch.setattr(signing.hmac, "compare_digest", boom)
    body, headers = sign_payload(make_payload("linkedin.message.received"), SECRET)
    response = Client(raise_request_exception=False).post(
        "/kakiyo/webhook/", data=body, content_type="application/json", headers=headers
    )
    page = response.content.decode()
    assert response.status_code == 500
    assert "forced" in page  # it is the technical page, with its frames
    if where == "during verification":
        assert "SigningSecret(" in page  # the secrets were in the frames, redacted
    for secret in (SECRET, TEAM_SECRET):
        assert secret not in page
