"""The webhook endpoint over HTTP (Django's test client): every answer it can give."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from django.test import Client

from django_kakiyo.models import RejectedRequest, WebhookEvent
from django_kakiyo.signing import compute_signature
from django_kakiyo.storable import REDACTED
from django_kakiyo.testing import make_payload, sign_payload

from .conftest import SECRET, VECTORS

pytestmark = pytest.mark.django_db


def payload_bytes(event: str = "linkedin.message.received", **data: Any) -> bytes:
    body, _ = sign_payload(make_payload(event, data or {"prospectId": "p_1"}), SECRET)
    return body


# -- every signature vector, end to end -------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_over_http(vector: dict[str, Any], settings: Any, client: Client) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [vector["secret"]]}
    headers = {}
    if vector["signature"] is not None:
        headers["X-Kakiyo-Signature"] = vector["signature"]
    response = client.post(
        "/kakiyo/webhook/",
        data=vector["body_bytes"],
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == vector["expect_status"]
    if response.status_code != 200:
        assert WebhookEvent.objects.count() == 0
        return
    event = WebhookEvent.objects.get()
    assert response.json()["id"] == event.pk
    assert bytes(event.raw_body) == vector["body_bytes"]
    signed = vector["signed"].encode("utf-8", "surrogatepass")
    assert event.dedup_key == hashlib.sha256(signed).hexdigest()
    expected_method = "raw" if signed == vector["body_bytes"] else "canonical"
    assert event.signature_method == expected_method
    if vector["envelope_ok"]:
        assert event.status == WebhookEvent.Status.RECEIVED
        assert event.event_type == json.loads(vector["signed"])["event"]
    else:
        assert event.status == WebhookEvent.Status.INVALID
        assert event.invalid_reason


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_are_405_with_allow(method: str, client: Client, webhook_url: str) -> None:
    response = getattr(client, method)(webhook_url)
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert response.json()["error"] == "method_not_allowed"
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("method", ["head", "options"])
def test_head_and_options_answer_politely(method: str, client: Client, webhook_url: str) -> None:
    response = getattr(client, method)(webhook_url)
    assert response.status_code == 200
    assert response["Allow"] == "POST, OPTIONS"


def test_body_over_limit_is_413_and_recorded(settings: Any, post_body: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "MAX_BODY_BYTES": 100}
    body = b'{"event":"x","pad":"' + b"a" * 200 + b'"}'
    response = post_body(body)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert not WebhookEvent.objects.exists()
    rejected = RejectedRequest.objects.get()
    assert rejected.reason == RejectedRequest.Reason.PAYLOAD_TOO_LARGE
    assert rejected.content_length == len(body)


def test_body_exactly_at_limit_is_accepted(settings: Any, post_body: Any) -> None:
    body = payload_bytes()
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "MAX_BODY_BYTES": len(body)}
    assert post_body(body).status_code == 200


def test_413_is_judged_on_content_length_before_reading(settings: Any, client: Client) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "MAX_BODY_BYTES": 1000}

    class Unreadable:
        def read(self, *args: Any) -> bytes:
            raise AssertionError("the body was read")

        readline = read

    response = client.generic(
        "POST",
        "/kakiyo/webhook/",
        content_type="application/json",
        CONTENT_LENGTH="5000000",
        **{"wsgi.input": Unreadable()},
    )
    assert response.status_code == 413


def test_unsigned_non_json_content_type_is_415(post_body: Any) -> None:
    response = post_body(b"event=linkedin.message.sent", signature=None, content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert RejectedRequest.objects.get().reason == "unsupported_media_type"


def test_signed_delivery_with_odd_content_type_is_still_accepted(post_body: Any) -> None:
    response = post_body(payload_bytes(), content_type="text/plain")
    assert response.status_code == 200
    assert WebhookEvent.objects.get().headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/vnd.kakiyo+json", ""]
)
def test_json_content_types_are_accepted(content_type: str, post_body: Any) -> None:
    assert post_body(payload_bytes(), content_type=content_type).status_code == 200


@pytest.mark.parametrize(
    "signature",
    [None, "", "0" * 64, "not-hex", "sha1=" + "0" * 40],
    ids=["missing", "empty", "wrong", "garbage", "sha1"],
)
def test_bad_signature_is_401_and_never_stored(signature: str | None, post_body: Any) -> None:
    response = post_body(payload_bytes(), signature=signature)
    assert response.status_code == 401
    assert response.json()["error"] == "verification_failed"
    assert not WebhookEvent.objects.exists()
    assert RejectedRequest.objects.get().reason == RejectedRequest.Reason.VERIFICATION_FAILED


def test_wrong_secret_is_401(post_body: Any) -> None:
    assert post_body(payload_bytes(), secret="some-other-secret-value").status_code == 401


def test_no_secret_configured_refuses_everything(settings: Any, post_body: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": []}
    assert post_body(payload_bytes()).status_code == 401


def test_rotation_accepts_any_configured_secret(settings: Any, post_body: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": ["old-secret-0123456789", "new-secret-0123456789"]}
    assert post_body(payload_bytes(), secret="old-secret-0123456789").status_code == 200
    assert post_body(payload_bytes(x=1), secret="new-secret-0123456789").status_code == 200


def test_rejected_body_prefix_is_bounded(settings: Any, post_body: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "REJECTED_BODY_PREFIX_BYTES": 16}
    post_body(b"x" * 5000, signature="not a signature")
    row = RejectedRequest.objects.get()
    assert bytes(row.body_prefix) == b"x" * 16
    assert (row.body_complete, row.signature) == (False, "")


def test_a_well_formed_signature_keeps_the_whole_body_within_the_pool(
    settings: Any, post_body: Any
) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "REJECTED_BODY_PREFIX_BYTES": 16,
                       "REJECTED_SIGNED_BODIES_BYTES": 2500}  # fmt: skip
    for index in range(3):
        post_body(bytes([65 + index]) * 1000, signature="sha256=" + "AB" * 32)
    post_body(b"z" * 3000, signature="ab" * 32)  # over the pool: a prefix
    rows = list(RejectedRequest.objects.order_by("pk"))
    assert [row.signature for row in rows] == ["ab" * 32] * 4
    assert [(len(bytes(row.body_prefix)), row.body_complete) for row in rows] == [
        (16, False),  # the oldest whole body was cut back to make room
        (1000, True),
        (1000, True),
        (16, False),
    ]


def test_rejected_requests_table_is_capped(settings: Any, post_body: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "REJECTED_REQUESTS_MAX_ROWS": 3}
    for index in range(7):
        post_body(f"junk {index}".encode(), signature="0" * 64)
    kept = RejectedRequest.objects.order_by("pk")
    assert [bytes(r.body_prefix) for r in kept] == [b"junk 4", b"junk 5", b"junk 6"]


# -- authentic but not a usable event ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"event=linkedin.message.sent", "not_json"),
        (b"", "not_json"),
        (b'{"event":"x","event":"y"}', "not_json"),
        (b"[1,2]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (b'{"data":{}}', "missing_event"),
        (b'{"event":""}', "missing_event"),
        (b'{"event":42}', "missing_event"),
        (b'{"event":"x","data":"oops"}', "data_not_object"),
        (b'{"event":"x","data":null}', "data_not_object"),
        (b'{"event":"x","data":' + b"[" * 150 + b"]" * 150 + b"}", "too_deep"),
    ],
)
def test_authentic_malformed_delivery_is_stored_invalid_and_acknowledged(
    body: bytes, reason: str, post_body: Any
) -> None:
    response = post_body(body)
    assert response.status_code == 200
    assert response.json()["status"] == "invalid"
    assert response.json()["reason"] == reason
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.INVALID
    assert event.invalid_reason == reason
    assert bytes(event.raw_body) == body


def test_stored_event_indexes_ids_and_timestamp(post_body: Any) -> None:
    body = (
        b'{"event":"linkedin.message.received","teamId":"team_1",'
        b'"timestamp":"2023-06-15T10:30:00Z","data":{"agentId":"a_1","campaignId":"c_1",'
        b'"chatId":"ch_1","prospectId":"p_1","message":"hi"}}'
    )
    assert post_body(body).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.team_id, event.agent_id, event.campaign_id) == ("team_1", "a_1", "c_1")
    assert (event.chat_id, event.prospect_id) == ("ch_1", "p_1")
    assert event.occurred_at == dt.datetime(2023, 6, 15, 10, 30, tzinfo=dt.UTC)
    assert event.payload["data"]["message"] == "hi"


def test_team_object_form_is_accepted(post_body: Any) -> None:
    body = b'{"event":"prospect.unqualified","team":{"id":"team_9","name":"Acme"},"data":{}}'
    assert post_body(body).status_code == 200
    assert WebhookEvent.objects.get().team_id == "team_9"


def test_unknown_event_types_are_stored_like_any_other(post_body: Any) -> None:
    assert post_body(payload_bytes("brand.new.event")).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.event_type, event.status) == ("brand.new.event", "received")


def test_nul_and_lone_surrogates_are_stored(post_body: Any) -> None:
    body = b'{"event":"x","data":{"m":"a\\u0000b\\ud800c"}}'
    assert post_body(body).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.payload["data"]["m"] == "a\ufffdb\ufffdc"
    assert bytes(event.raw_body) == body


# -- replay window ----------------------------------------------------------------------------


def _old(seconds: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)


def test_stale_delivery_is_stored_invalid(settings: Any, post_body: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "REPLAY_WINDOW": 300}
    body, _ = sign_payload(make_payload("x", {"prospectId": "p"}, timestamp=_old(301)), SECRET)
    response = post_body(body)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, event.invalid_reason) == ("invalid", "stale")
    assert event.prospect_id == "p"


def test_fresh_delivery_passes_replay_window(settings: Any, post_body: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "REPLAY_WINDOW": 300}
    body, _ = sign_payload(make_payload("x", timestamp=_old(10)), SECRET)
    assert post_body(body).json()["status"] == "received"


def test_missing_timestamp_is_stale_when_window_set(settings: Any, post_body: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "REPLAY_WINDOW": 300}
    assert post_body(b'{"event":"x"}').json()["reason"] == "stale"


def test_replay_window_is_off_by_default(post_body: Any) -> None:
    body, _ = sign_payload(make_payload("x", timestamp=_old(10**8)), SECRET)
    assert post_body(body).json()["status"] == "received"


def test_replay_of_a_stored_event_is_a_duplicate_even_when_stale(
    settings: Any, post_body: Any
) -> None:
    body = payload_bytes()
    first = post_body(body).json()
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "REPLAY_WINDOW": 1}
    body_old, _ = sign_payload(make_payload("x", timestamp=_old(100)), SECRET)
    replay = post_body(body).json()
    assert replay == {"id": first["id"], "duplicate": True, "status": "received"}
    assert post_body(body_old).json()["reason"] == "stale"


# -- dedup ----------------------------------------------------------------------------------


def test_redelivery_is_a_duplicate_and_counted(post_body: Any) -> None:
    body = payload_bytes()
    first = post_body(body)
    second = post_body(body)
    third = post_body(body)
    assert first.json()["duplicate"] is False
    assert second.json() == {"id": first.json()["id"], "duplicate": True, "status": "received"}
    assert third.json()["duplicate"] is True
    event = WebhookEvent.objects.get()
    assert event.delivery_count == 3
    assert event.last_received_at >= event.received_at


def test_reformatted_replay_is_a_duplicate(post_body: Any) -> None:
    payload = make_payload("linkedin.message.received", {"prospectId": "p_1", "n": 1.5})
    body, headers = sign_payload(payload, SECRET)
    post_body(body)
    pretty = json.dumps(json.loads(body), indent=2).encode()
    response = post_body(pretty, signature=headers["X-Kakiyo-Signature"])
    assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert WebhookEvent.objects.get().delivery_count == 2


# -- what is stored about the request ----------------------------------------------------------


def test_credentials_are_redacted_from_stored_headers(post_body: Any) -> None:
    post_body(
        payload_bytes(),
        Authorization="Bearer hunter2",
        Cookie="sessionid=abc",
        X_Request_Id="req-1",
    )
    headers = WebhookEvent.objects.get().headers
    assert headers["X-Kakiyo-Signature"] == REDACTED
    assert headers["Authorization"] == REDACTED
    assert headers["Cookie"] == REDACTED
    assert headers["X-Request-Id"] == "req-1"
    assert "hunter2" not in json.dumps(headers)


def test_rejected_request_headers_are_redacted(post_body: Any) -> None:
    post_body(payload_bytes(), signature="0" * 64, Authorization="Bearer hunter2")
    headers = RejectedRequest.objects.get().headers
    assert headers["X-Kakiyo-Signature"] == REDACTED
    assert headers["Authorization"] == REDACTED


def _post_from(client: Client, remote: str, forwarded: str | None = None) -> WebhookEvent:
    body = payload_bytes(n=remote + str(forwarded))
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    client.post(
        "/kakiyo/webhook/",
        data=body,
        content_type="application/json",
        headers={"X-Kakiyo-Signature": compute_signature(body, SECRET)},
        **extra,
    )
    return WebhookEvent.objects.latest("pk")


def test_forwarded_for_is_ignored_without_trusted_proxies(client: Client) -> None:
    assert _post_from(client, "10.0.0.5", "203.0.113.7").remote_addr == "10.0.0.5"


def test_forwarded_for_is_honoured_from_a_trusted_proxy(settings: Any, client: Client) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "TRUSTED_PROXIES": ["10.0.0.0/8"]}
    assert _post_from(client, "10.0.0.5", "203.0.113.7").remote_addr == "203.0.113.7"
    # A client cannot choose its address by prepending to the header.
    spoofed = _post_from(client, "10.0.0.5", "198.51.100.1, 203.0.113.8, 10.1.1.1")
    assert spoofed.remote_addr == "203.0.113.8"


def test_forwarded_for_from_an_untrusted_peer_is_ignored(settings: Any, client: Client) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "TRUSTED_PROXIES": ["10.0.0.1"]}
    assert _post_from(client, "192.0.2.9", "203.0.113.7").remote_addr == "192.0.2.9"


# -- team secrets ---------------------------------------------------------------------------


TEAM_A_SECRET = "team-a-secret-0123456789"


def _team_body(team: str) -> bytes:
    body, _ = sign_payload(make_payload("x", team_id=team), TEAM_A_SECRET)
    return body


def test_team_secret_authenticates_its_own_team(settings: Any, post_body: Any) -> None:
    settings.KAKIYO = {"TEAM_SECRETS": {"team_a": [TEAM_A_SECRET]}}
    assert post_body(_team_body("team_a"), secret=TEAM_A_SECRET).status_code == 200


def test_team_secret_cannot_speak_for_another_team(settings: Any, post_body: Any) -> None:
    settings.KAKIYO = {"TEAM_SECRETS": {"team_a": [TEAM_A_SECRET]}}
    response = post_body(_team_body("team_b"), secret=TEAM_A_SECRET)
    assert response.status_code == 401
    assert response.json()["error"] == "team_mismatch"
    assert not WebhookEvent.objects.exists()


def test_global_secret_authenticates_any_team(settings: Any, post_body: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [SECRET], "TEAM_SECRETS": {"team_a": ["other" * 5]}}
    assert post_body(_team_body("team_b"), secret=SECRET).status_code == 200


# -- settings -------------------------------------------------------------------------------


def test_settings_override_takes_effect_immediately(settings: Any, post_body: Any) -> None:
    body = payload_bytes()
    assert post_body(body, secret="fresh-secret-0123456789").status_code == 401
    settings.KAKIYO = {"WEBHOOK_SECRETS": ["fresh-secret-0123456789"]}
    assert post_body(body, secret="fresh-secret-0123456789").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_view_is_exempt_from_atomic_requests(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event must be committed before the answer, not when the request's transaction
    ends, so a database error reaches the spool instead of becoming a 500: the store's own
    (bounded) transaction is the outermost one, not a savepoint inside the request's."""
    from django.db import connection
    from django.db.models.signals import pre_save

    from django_kakiyo.testing import post_event

    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    outermost: list[bool] = []

    def record(sender: Any, **kwargs: Any) -> None:
        outermost.append(connection.in_atomic_block and not connection.savepoint_ids)

    pre_save.connect(record, sender=WebhookEvent)
    try:
        response = post_event(client, "linkedin.message.received", {"prospectId": "p_1"})
    finally:
        pre_save.disconnect(record, sender=WebhookEvent)

    assert response.status_code == 200
    assert outermost == [True]
