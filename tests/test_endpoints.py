"""Endpoints in the database, over HTTP: each URL accepts its own secrets, and only them."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_kakiyo.endpoint_operations import (
    create_endpoint,
    expire_previous,
    rotate_secret,
    set_enabled,
)
from django_kakiyo.exceptions import EndpointError
from django_kakiyo.models import RejectedRequest, WebhookEndpoint, WebhookEvent
from django_kakiyo.reverify import reverify
from django_kakiyo.signing import compute_signature
from django_kakiyo.testing import make_payload

from .conftest import SECRET

pytestmark = pytest.mark.django_db

OWN = "endpoint-secret-own-0123456789abcdef"
OTHER = "endpoint-secret-other-0123456789abcdef"


def body_of(
    event: str = "linkedin.message.received", team_id: str = "team_test", **data: Any
) -> bytes:
    payload = make_payload(event, {"prospectId": "p_1", **data}, team_id=team_id)
    return json.dumps(payload, separators=(",", ":")).encode()


def post(client: Client, endpoint: WebhookEndpoint | None, body: bytes, secret: str | None) -> Any:
    url = (
        reverse("kakiyo-webhook")
        if endpoint is None
        else reverse("kakiyo-endpoint-webhook", args=[endpoint.uuid])
    )
    headers = {} if secret is None else {"X-Kakiyo-Signature": compute_signature(body, secret)}
    return client.post(url, data=body, content_type="application/json", headers=headers)


def test_an_endpoint_accepts_its_own_secret_and_records_itself(client: Client) -> None:
    endpoint, secret = create_endpoint("crm", secret=OWN)
    assert secret == OWN
    response = post(client, endpoint, body_of(), OWN)
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert (event.endpoint, event.signature_method) == (endpoint, "raw")


def test_a_settings_url_delivery_has_no_endpoint(client: Client) -> None:
    create_endpoint("crm", secret=OWN)
    assert post(client, None, body_of(), SECRET).status_code == 200
    assert WebhookEvent.objects.get().endpoint is None


def test_another_endpoints_secret_is_refused(client: Client) -> None:
    mine, _ = create_endpoint("mine", secret=OWN)
    create_endpoint("theirs", secret=OTHER)
    response = post(client, mine, body_of(), OTHER)
    assert response.status_code == 401
    assert response.json()["error"] == "verification_failed"
    assert not WebhookEvent.objects.exists()


def test_the_settings_secret_is_refused_at_an_endpoint(client: Client) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    assert post(client, endpoint, body_of(), SECRET).status_code == 401
    assert not WebhookEvent.objects.exists()


def test_the_settings_url_never_accepts_an_endpoints_secret(client: Client) -> None:
    create_endpoint("crm", secret=OWN)
    assert post(client, None, body_of(), OWN).status_code == 401
    assert not WebhookEvent.objects.exists()


def test_an_endpoint_cannot_be_given_a_settings_secret() -> None:
    with pytest.raises(EndpointError, match="WEBHOOK_SECRETS"):
        create_endpoint("crm", secret=SECRET)
    endpoint, _ = create_endpoint("crm", secret=OWN)
    with pytest.raises(EndpointError, match="WEBHOOK_SECRETS"):
        rotate_secret(endpoint, SECRET)


def test_a_reformatted_body_verifies_with_the_endpoints_secret(client: Client) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    compact = body_of()
    pretty = json.dumps(json.loads(compact), indent=2).encode()
    url = reverse("kakiyo-endpoint-webhook", args=[endpoint.uuid])
    response = client.post(
        url, data=pretty, content_type="application/json",
        headers={"X-Kakiyo-Signature": compute_signature(compact, OWN)},
    )  # fmt: skip
    assert response.status_code == 200
    assert WebhookEvent.objects.get().signature_method == "canonical"


# -- rotation -----------------------------------------------------------------------------------


def test_rotation_keeps_the_previous_secret_during_the_grace(client: Client) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    rotated = rotate_secret(endpoint, OTHER, grace=3600)
    assert rotated == OTHER
    assert post(client, endpoint, body_of(message="old"), OWN).status_code == 200
    assert post(client, endpoint, body_of(message="new"), OTHER).status_code == 200


def test_the_previous_secret_stops_when_its_grace_ends(client: Client) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    rotate_secret(endpoint, OTHER, grace=3600)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert post(client, endpoint, body_of(), OWN).status_code == 401
    assert post(client, endpoint, body_of(), OTHER).status_code == 200


def test_expire_previous_ends_the_grace_at_once(client: Client) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    rotate_secret(endpoint, OTHER, grace=3600)
    assert expire_previous(endpoint) is True
    assert post(client, endpoint, body_of(), OWN).status_code == 401
    assert expire_previous(endpoint) is False


def test_a_rotation_without_grace_drops_the_old_secret(client: Client) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    generated = rotate_secret(endpoint, grace=0)
    assert len(generated) == 64 and generated != OWN
    assert post(client, endpoint, body_of(), OWN).status_code == 401
    assert post(client, endpoint, body_of(), generated).status_code == 200


def test_the_default_grace_is_the_setting(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "ENDPOINT_ROTATION_GRACE": 60}
    endpoint, _ = create_endpoint("crm", secret=OWN)
    before = timezone.now()
    rotate_secret(endpoint, OTHER)
    endpoint.refresh_from_db()
    assert endpoint.previous_secret_expires_at is not None
    remaining = (endpoint.previous_secret_expires_at - before).total_seconds()
    assert 59 < remaining < 61


# -- disabled, unknown ----------------------------------------------------------------------------


def test_a_disabled_endpoint_answers_404_until_enabled(client: Client) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    set_enabled(endpoint, False)
    response = post(client, endpoint, body_of(), OWN)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_endpoint"
    assert not WebhookEvent.objects.exists()
    rejected = RejectedRequest.objects.get()
    assert (rejected.reason, rejected.path) == ("unknown_endpoint", response.request["PATH_INFO"])
    set_enabled(endpoint, True)
    assert post(client, endpoint, body_of(), OWN).status_code == 200


def test_an_unknown_endpoint_answers_404(client: Client) -> None:
    url = reverse("kakiyo-endpoint-webhook", args=[uuid.uuid4()])
    body = body_of()
    response = client.post(
        url, data=body, content_type="application/json",
        headers={"X-Kakiyo-Signature": compute_signature(body, SECRET)},
    )  # fmt: skip
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_endpoint"
    assert not WebhookEvent.objects.exists()


def test_a_path_that_is_not_a_uuid_is_not_found(client: Client) -> None:
    url = reverse("kakiyo-webhook") + "not-a-uuid/"
    assert client.post(url, data=b"{}", content_type="application/json").status_code == 404


# -- team binding, unsigned -----------------------------------------------------------------------


def test_a_team_endpoint_accepts_only_its_teams_events(client: Client) -> None:
    endpoint, _ = create_endpoint("team a", team="team_a", secret=OWN)
    refused = post(client, endpoint, body_of(team_id="team_b"), OWN)
    assert refused.status_code == 401
    assert refused.json()["error"] == "team_mismatch"
    assert post(client, endpoint, body_of(team_id="team_a"), OWN).status_code == 200
    assert WebhookEvent.objects.get().team_id == "team_a"


def test_an_unsigned_endpoint_accepts_by_its_url_and_flags_the_events(client: Client) -> None:
    endpoint, secret = create_endpoint("no secret", unsigned=True)
    assert secret is None
    assert post(client, endpoint, body_of(), None).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.endpoint, event.signature_method) == (endpoint, "unsigned")


def test_an_unsigned_endpoint_keeps_its_team_binding(client: Client) -> None:
    endpoint, _ = create_endpoint("no secret", team="team_a", unsigned=True)
    assert post(client, endpoint, body_of(team_id="team_b"), None).status_code == 401
    assert post(client, endpoint, body_of(team_id="team_a"), None).status_code == 200


def test_an_unsigned_endpoint_has_no_secret_to_give_or_rotate() -> None:
    with pytest.raises(EndpointError):
        create_endpoint("no secret", secret=OWN, unsigned=True)
    endpoint, _ = create_endpoint("no secret", unsigned=True)
    with pytest.raises(EndpointError):
        rotate_secret(endpoint)


def test_unsigned_is_only_for_its_own_url(client: Client) -> None:
    """An unsigned endpoint opens its URL only: the settings URL still wants a signature."""
    create_endpoint("no secret", unsigned=True)
    assert post(client, None, body_of(), None).status_code == 401


# -- secrets at rest --------------------------------------------------------------------------


def every_stored_value() -> list[Any]:
    values: list[Any] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            # The names come from the database itself, quoted.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                values.extend(row)
    return values


def test_no_stored_column_holds_a_secret_in_clear(client: Client) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    rotate_secret(endpoint, OTHER, grace=3600)
    assert post(client, endpoint, body_of(message="a"), OWN).status_code == 200
    assert post(client, endpoint, body_of(message="b"), "wrong-secret-0123456789").status_code
    values = every_stored_value()
    assert any(isinstance(v, str) and v.startswith("gAAAA") for v in values)  # Fernet tokens
    for secret in (OWN, OTHER):
        for value in values:
            text = bytes(value) if isinstance(value, (bytes, memoryview)) else str(value)
            needle = secret.encode() if isinstance(text, bytes) else secret
            assert needle not in text  # type: ignore[operator]


def test_no_repr_shows_a_secret() -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    now = timezone.now()
    shown = [repr(endpoint), str(endpoint), repr(endpoint.signing_secrets(now)),
             repr(endpoint.__dict__)]  # fmt: skip
    assert all(OWN not in text for text in shown)


def test_secret_key_fallbacks_keep_secrets_readable(client: Client, settings: Any) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert post(client, endpoint, body_of(message="a"), OWN).status_code == 200


def test_a_lost_key_refuses_and_says_why(
    client: Client, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = []
    with caplog.at_level(logging.ERROR, "django_kakiyo"):
        assert post(client, endpoint, body_of(), OWN).status_code == 401
    assert "cannot be decrypted" in caplog.text
    assert OWN not in caplog.text


def test_endpoint_secret_keys_encrypt_instead_of_secret_key(client: Client, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "ENDPOINT_SECRET_KEYS": ["first-key"]}
    endpoint, _ = create_endpoint("crm", secret=OWN)
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "x" * 40  # not used for endpoints
    assert post(client, endpoint, body_of(message="a"), OWN).status_code == 200
    settings.KAKIYO = {**settings.KAKIYO, "ENDPOINT_SECRET_KEYS": ["second-key", "first-key"]}
    assert post(client, endpoint, body_of(message="b"), OWN).status_code == 200
    settings.KAKIYO = {**settings.KAKIYO, "ENDPOINT_SECRET_KEYS": ["second-key"]}
    assert post(client, endpoint, body_of(message="c"), OWN).status_code == 401


# -- refused requests verified again --------------------------------------------------------------


def test_reverify_at_an_endpoint_uses_its_secrets_only(client: Client) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    with_new = body_of(message="signed with the secret Kakiyo was given")
    with_settings = body_of(message="signed with the settings secret")
    assert post(client, endpoint, with_new, OTHER).status_code == 401
    assert post(client, endpoint, with_settings, SECRET).status_code == 401
    assert reverify(RejectedRequest.objects.all(), by="test").stored == []
    rotate_secret(endpoint, OTHER)  # the endpoint catches up with Kakiyo
    result = reverify(RejectedRequest.objects.all(), by="test")
    assert len(result.stored) == 1 and len(result.unverified) == 1
    event = WebhookEvent.objects.get()
    assert (event.raw_body, event.endpoint) == (with_new, endpoint)
    set_enabled(endpoint, False)
    assert reverify(RejectedRequest.objects.all(), by="test").stored == []


def test_an_endpoint_url_this_process_never_found_answers_503_while_the_database_is_down(
    client: Client, settings: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its secrets are in the database and this process has no copy of the endpoint (never
    looked up here): nothing can be verified, so nothing is spooled. An endpoint found before
    is verified with that copy and spooled: tests/test_known_endpoints.py."""
    from contextlib import contextmanager

    from django.db import OperationalError

    from django_kakiyo import endpoint_auth, known_endpoints

    endpoint, _ = create_endpoint("crm", secret=OWN)
    known_endpoints.forget(endpoint.uuid)
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": str(tmp_path / "spool")}

    @contextmanager
    def down() -> Any:
        raise OperationalError("connection refused")
        yield  # pragma: no cover

    monkeypatch.setattr(endpoint_auth, "bounded_transaction", down)
    response = post(client, endpoint, body_of(), OWN)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert not (tmp_path / "spool").exists() or not any((tmp_path / "spool").iterdir())


# -- Django's debug 500 page ------------------------------------------------------------------


@pytest.mark.parametrize("where", ["after verification", "during verification"])
def test_the_debug_500_page_at_an_endpoint_shows_no_secret(
    settings: Any, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    settings.DEBUG = True
    endpoint, _ = create_endpoint("crm", secret=OWN)
    rotate_secret(endpoint, OTHER)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("forced")

    if where == "after verification":
        monkeypatch.setattr("django_kakiyo.views.ingest", boom)
    else:
        monkeypatch.setattr("django_kakiyo.signing.hmac.compare_digest", boom)
    response = post(Client(raise_request_exception=False), endpoint, body_of(), OTHER)
    page = response.content.decode()
    assert response.status_code == 500 and "forced" in page
    assert OWN not in page and OTHER not in page


def test_the_error_report_of_a_failed_rotation_shows_no_secret(
    monkeypatch: pytest.MonkeyPatch, admin_client: Client
) -> None:
    """With DEBUG off, what Django reports of a 500 (the admins' email, the log) masks the
    frames' secrets (``sensitive_variables``), the way it masks passwords. (With DEBUG on,
    Django's debug page shows every local by design; the webhook's own frames hold secrets
    only in redacted objects, see above.)"""
    import sys

    from django.core.signals import got_request_exception
    from django.views.debug import ExceptionReporter

    endpoint, _ = create_endpoint("crm", secret=OWN)
    monkeypatch.setattr("django_kakiyo.endpoint_operations.new_secret", lambda: OTHER)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("forced")

    reports: list[str] = []

    def report(sender: Any, request: Any, **kwargs: Any) -> None:
        # The HTML report, with every frame's locals (the admins' email attaches it).
        reports.append(ExceptionReporter(request, *sys.exc_info()).get_traceback_html())

    monkeypatch.setattr(WebhookEndpoint, "save", boom)
    got_request_exception.connect(report)
    admin_client.raise_request_exception = False
    try:
        response = admin_client.post(
            "/admin/django_kakiyo/webhookendpoint/",
            {"action": "rotate_secrets", "_selected_action": [endpoint.pk]},
        )
    finally:
        got_request_exception.disconnect(report)
    assert response.status_code == 500
    [text] = reports
    assert "forced" in text and "rotate_secret" in text  # the frames are there
    assert "<td>grace</td>" in text  # with their locals
    assert OTHER not in text


def test_one_delivery_reaching_two_endpoints_is_one_event(client: Client) -> None:
    first, _ = create_endpoint("first", secret=OWN)
    second, _ = create_endpoint("second", secret=OTHER)
    body = body_of()
    assert post(client, first, body, OWN).json()["duplicate"] is False
    again = post(client, second, body, OTHER)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    event = WebhookEvent.objects.get()
    assert (event.endpoint, event.delivery_count) == (first, 2)
